"""The API server's side of workflows: start pending ones when there is room, watch their drivers, cancel.

`WorkflowService` connects the server to the Ray cluster (`--address`, `$RAY_ADDRESS`,
else an embedded one) and runs a dispatcher thread. Every `poll_s` seconds, and at once
when a workflow is submitted, it:

- fails each `running` workflow whose driver actor is gone (its node died, or the
  embedded cluster went down with a previous server): every record it measured is in
  the tuning database, so running it again continues from there;
- starts the oldest `pending` workflows while fewer than `max_running` run, each in its
  own driver actor (`farm.workflows.driver`), so several models tune at once and share
  the tuning database, and a queue forms instead of oversubscribing a small cluster.

Every `offer_every_s` seconds (if given; `farm serve` asks for every 10 minutes) it also
checks for re-optimization offers (`farm.offers`) and sends each new one to its model's
uploader's webhook.

All state lives in the registry, so a restarted server picks up where the last one
stopped (`recover`): live drivers keep running, pending workflows start.
"""

from __future__ import annotations

import logging
import os
import threading
import time

from ..offers import THRESHOLD
from ..paths import data_dir, default_db_uri
from ..registry import accounts, catalog, offers, workflow_records
from ..registry.database import Registry
from ..registry.errors import Conflict, PermissionDenied
from .driver import driver_alive, driver_name, start_driver, stop_driver
from .execute import notify
from .notify import DEFAULT_WEBHOOKS, WebhookPolicy, WebhookSender

log = logging.getLogger(__name__)

DRIVER_LOST = (
    "the workflow's driver stopped before it finished (its node died, or the server's embedded Ray cluster "
    "stopped); the trials it measured are kept in the tuning database and a new workflow continues from them"
)


class WorkflowService:
    """Dispatches the registry's workflows to driver actors on the Ray cluster."""

    def __init__(
        self,
        registry: Registry,
        *,
        address: str | None = None,
        db_uri: str | None = None,
        work_root: str | None = None,
        max_running: int = 2,
        poll_s: float = 2.0,
        webhooks: WebhookPolicy = DEFAULT_WEBHOOKS,
        offer_every_s: float | None = None,
    ) -> None:
        self.registry = registry
        self.offer_every_s = offer_every_s
        self._offers_due = time.monotonic() + (offer_every_s or 0)
        self.webhooks = WebhookSender(webhooks)
        self.address = address
        self.db_uri = db_uri or default_db_uri()
        self.work_root = work_root or os.path.join(data_dir(), "work")
        if max_running < 1:
            raise ValueError("max_running must be at least 1")
        self.max_running = max_running
        self.poll_s = poll_s
        self._wake = threading.Event()
        self._overview: dict | None = None  # the tuning database at a glance, of its last version read
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def _local_files(self) -> bool:
        """Whether the driver must run on this node: a SQLite registry, or artifacts or database in a local folder."""
        return (
            self.registry.url.startswith("sqlite")
            or self.registry.artifacts.local
            or "://" not in self.db_uri
            or self.db_uri.startswith("file://")
        )

    def recover(self) -> None:
        """Connect to Ray and start dispatching (at server start-up)."""
        from cluster.connect import connect

        connect(self.address)
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="workflow-dispatcher", daemon=True)
            self._thread.start()

    def submit(self, workflow_id: str) -> None:
        """A new pending workflow: dispatch now rather than at the next poll."""
        self._wake.set()

    def cancel(self, workflow_id: str) -> None:
        """Stop the driver of a workflow the registry has marked cancelled."""
        with self.registry.session() as s:
            driver = workflow_records.get_workflow(s, workflow_id).driver
        if driver:
            stop_driver(driver)
        notify(self.registry, workflow_id, self.webhooks.send)

    def targets(self) -> list[dict]:
        """The device kinds the cluster's live nodes serve: name, platform, canonical target, node count."""
        from cluster.nodes import live_nodes

        kinds: dict[str, dict] = {}
        for node in live_nodes():
            for name in node.kinds:
                kind = node.kind(name)
                entry = kinds.setdefault(
                    name, {"name": name, "platform": kind.platform, "target": kind.target, "nodes": 0}
                )
                entry["nodes"] += 1
        return sorted(kinds.values(), key=lambda k: k["name"])

    def cluster(self) -> dict:
        """Every node of the cluster with its kinds, liveness and farm metrics read live (`cluster.observe`), and the
        Ray dashboard's address when the cluster runs one."""
        from cluster.connect import dashboard_url
        from cluster.observe import node_states

        return {"nodes": node_states(), "ray_dashboard": dashboard_url()}

    def tuning_database(self) -> dict:
        """The tuning database at a glance (`tuning_db.overview`), read again only after a new commit."""
        from tuning_db.database import TuningDatabase
        from tuning_db.overview import overview

        db = TuningDatabase(self.db_uri)
        version = db.snapshot().version
        cached = self._overview
        if cached is None or cached["version"] != version:
            cached = self._overview = {"uri": self.db_uri, **overview(db)}
        return cached

    def close(self) -> None:
        """Stop dispatching (running drivers go on) and delivering webhooks."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        self.webhooks.close()

    def dispatch_once(self) -> None:
        """Fail workflows whose driver is gone, then start pending ones while there is room."""
        with self.registry.session() as s:
            running = [(w.id, w.driver) for w in workflow_records.list_workflows(s, state="running", limit=10_000)[0]]
            pending = [w.id for w in workflow_records.list_workflows(s, state="pending", limit=10_000)[0]]
        alive = 0
        for workflow_id, driver in running:
            if driver and driver_alive(driver):
                alive += 1
                continue
            with self.registry.session() as s:
                failed = workflow_records.fail_workflow(s, workflow_id, DRIVER_LOST).error == DRIVER_LOST
            if failed:  # not when the driver finished meanwhile (it notified)
                notify(self.registry, workflow_id, self.webhooks.send)
        for workflow_id in reversed(pending):  # oldest first
            if alive >= self.max_running:
                break
            self._start(workflow_id)
            alive += 1

    def _start(self, workflow_id: str) -> None:
        try:
            with self.registry.session() as s:
                workflow_records.start_workflow(s, workflow_id, driver=driver_name(workflow_id))
        except Conflict:  # cancelled meanwhile
            return
        except PermissionDenied as e:  # its creator was deactivated while it waited
            with self.registry.session() as s:
                workflow_records.fail_workflow(s, workflow_id, e.message)
            notify(self.registry, workflow_id, self.webhooks.send)
            return
        try:
            start_driver(
                workflow_id,
                self.registry.url,
                self.registry.artifacts.uri,
                self.db_uri,
                self.work_root,
                local_files=self._local_files,
                webhooks=self.webhooks.policy,
            )
        except Exception as e:  # noqa: BLE001 - a driver that cannot start fails its workflow, not the server
            with self.registry.session() as s:
                workflow_records.fail_workflow(
                    s, workflow_id, f"could not start the workflow's driver on the Ray cluster: {e}"
                )
            notify(self.registry, workflow_id, self.webhooks.send)

    def check_offers(self, threshold: float = THRESHOLD) -> list[str]:
        """Make the re-optimization offers today's tuning records justify (`farm.offers`), and send each to its model's
        uploader's webhook (once); the ids of the offers made."""
        from ..offers import check_offers, offer_as_seen_by

        made = check_offers(self.registry, self.db_uri, threshold)
        for offer in made:
            with self.registry.session() as s:
                uploader = catalog.get_model(s, offer.model_id).created_by
                user = accounts.get_user(s, uploader) if uploader else None
                if user is not None and user.webhook_url:
                    seen = offer_as_seen_by(s, user, offer)
                    payload = {"event": "offer", "offer": seen.model_dump(mode="json")}
                    self.webhooks.send(user.webhook_url, payload, user.webhook_secret)
                    offers.mark_notified(s, offer.id)
        return [o.id for o in made]

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.dispatch_once()
            except Exception:  # the dispatcher keeps going; the next poll retries
                log.exception("workflow dispatch failed")
            if self.offer_every_s and time.monotonic() >= self._offers_due:
                self._offers_due = time.monotonic() + self.offer_every_s
                try:
                    self.check_offers()
                except Exception:  # a database it cannot read now: the next check retries
                    log.exception("the re-optimization offer check failed")
            self._wake.wait(self.poll_s)
            self._wake.clear()
