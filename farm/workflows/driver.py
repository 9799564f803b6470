"""A workflow's driver on the Ray cluster: one detached, named actor per running workflow.

The API process never tunes: it starts a `WorkflowDriver` actor named after the
workflow (`workflow-<id>` in the farm's namespace), which runs `execute_workflow` and
exits. Being detached, the driver outlives a restart of the API server, which finds it
again by name; being an actor, it can be killed to cancel the workflow, and its death
(its node lost) is visible to the server, which then fails the workflow. A workflow run
by `ray job submit … -- farm workflow run` is driven by the job's own process, which
holds a marker actor of the same name for as long as it lives (`claim_driver`). The driver
reserves no CPU (it only orchestrates: its searches, builds and measurements are Ray
tasks and actors of their own) and runs on the API server's node when the registry,
artifacts or tuning database are local files there.
"""

from __future__ import annotations

import logging

import ray

from cluster.actors import NAMESPACE
from cluster.nodes import NODE_ID_LABEL

from ..registry.database import Registry
from .execute import execute_workflow
from .notify import WebhookPolicy

log = logging.getLogger(__name__)


def driver_name(workflow_id: str) -> str:
    """The Ray actor name of a workflow's driver."""
    return f"workflow-{workflow_id}"


@ray.remote(num_cpus=0, max_restarts=0)
class WorkflowDriver:
    """Runs one workflow in its own process on the cluster."""

    def __init__(self, registry_url: str, artifacts_uri: str) -> None:
        self.registry = Registry(registry_url, artifacts_uri)

    def run(self, workflow_id: str, db_uri: str, work_root: str, webhooks: WebhookPolicy) -> str:
        try:
            return execute_workflow(self.registry, workflow_id, db_uri=db_uri, work_root=work_root, webhooks=webhooks)
        except Exception:
            log.exception("workflow %s: its driver failed", workflow_id)
            raise
        finally:
            self.registry.close()
            ray.actor.exit_actor()


@ray.remote(num_cpus=0)
class DriverMarker:
    """Stands for a workflow run in a Ray job's own driver process (`farm workflow run`): it lives exactly as long as that process."""

    def ping(self) -> bool:
        return True


def claim_driver(workflow_id: str) -> ray.actor.ActorHandle:
    """Mark this process as the workflow's driver, under the driver's name, so the server sees it alive; keep the handle."""
    marker = DriverMarker.options(name=driver_name(workflow_id), namespace=NAMESPACE).remote()
    ray.get(marker.ping.remote())
    return marker


def start_driver(
    workflow_id: str,
    registry_url: str,
    artifacts_uri: str,
    db_uri: str,
    work_root: str,
    *,
    local_files: bool,
    webhooks: WebhookPolicy,
) -> str:
    """Start the workflow's driver actor and its run; the actor's name. `local_files` pins it to this node."""
    options: dict = {"name": driver_name(workflow_id), "namespace": NAMESPACE, "lifetime": "detached"}
    if local_files:
        options["label_selector"] = {NODE_ID_LABEL: ray.get_runtime_context().get_node_id()}
    driver = WorkflowDriver.options(**options).remote(registry_url, artifacts_uri)
    driver.run.remote(workflow_id, db_uri, work_root, webhooks)
    return options["name"]


def driver_alive(name: str) -> bool:
    """Whether the named driver actor is still alive."""
    try:
        ray.get_actor(name, namespace=NAMESPACE)
    except ValueError:
        return False
    return True


def stop_driver(name: str) -> None:
    """Kill the named driver actor and the sessions it owns, if it is alive."""
    try:
        ray.kill(ray.get_actor(name, namespace=NAMESPACE), no_restart=True)
    except ValueError:
        pass
