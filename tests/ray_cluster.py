"""A real heterogeneous Ray cluster on this machine (`farm_cluster` fixture, one per test module).

Head: the machine's CPUs for builds, no device. Device nodes: two `x86-64` nodes (one
of them is killed by the fault test) and one `x86-64-v3` node, each without CPUs of its
own. Health checks are shortened so a killed node is declared dead in ~2 s, and
metrics are exported every second. Every node's dashboard agent gets a port of its own
(on one machine they would all take the default, and the job server then finds no agent
to run a `ray job submit`), and every device node a temp folder of its own (nodes sharing
one would each re-extract a job's working_dir in place under its running driver).
"""

from __future__ import annotations

import os
import shutil
import tempfile

import ray
from ray.cluster_utils import Cluster

from cluster.connect import ensure_token, use_token_auth
from cluster.devices import resolve_kinds
from cluster.launcher import free_port
from cluster.nodes import node_labels

OBJECT_STORE = 100 * 2**20
CORES = 2
SYSTEM_CONFIG = {
    "health_check_initial_delay_ms": 0,
    "health_check_period_ms": 500,
    "health_check_timeout_ms": 500,
    "health_check_failure_threshold": 3,
    "metrics_report_interval_ms": 1000,
}


class FarmCluster:
    """The Ray cluster and its device nodes by kind."""

    def __init__(self) -> None:
        use_token_auth()
        ensure_token()
        self.cluster = Cluster(
            initialize_head=True,
            head_node_args={
                "num_cpus": os.cpu_count(),
                "object_store_memory": OBJECT_STORE,
                "_system_config": SYSTEM_CONFIG,
                "dashboard_agent_listen_port": free_port(),
            },
        )
        self.nodes: dict[str, list] = {}
        self.temp_dirs: list[str] = []
        for kind in ["x86-64", "x86-64", "x86-64-v3"]:
            labels = node_labels(resolve_kinds([kind], num_cores=CORES), CORES)
            self.nodes.setdefault(kind, []).append(
                self.cluster.add_node(
                    num_cpus=0,
                    object_store_memory=OBJECT_STORE,
                    labels=labels,
                    dashboard_agent_listen_port=free_port(),
                    temp_dir=self._temp_dir(),
                )
            )
        ray.init(address=self.cluster.address, namespace="farm")

    def _temp_dir(self) -> str:
        self.temp_dirs.append(tempfile.mkdtemp(prefix="ray-node-"))
        return self.temp_dirs[-1]

    def node_ids(self, kind: str) -> set[str]:
        return {n.node_id for n in self.nodes[kind]}

    def shutdown(self) -> None:
        ray.shutdown()
        self.cluster.shutdown()
        for path in self.temp_dirs:
            shutil.rmtree(path, ignore_errors=True)
