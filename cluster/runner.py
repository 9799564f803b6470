"""The Ray runner: a MetaSchedule `PyRunner` that measures each built candidate on a device actor of one kind.

`RayRunner(kind)` finds the live nodes that serve `kind` (or raises `NoDeviceError`
at once: Ray would wait forever for an actor no node can host), and sends each
candidate to the actor with the fewest measurements in flight. `run()` returns at once;
a future's `result()` blocks (MetaSchedule never polls `done()`).

A lost device (the actor died, its node died or became unreachable) costs a retry on
another actor of the kind, up to `max_retries` times; after that, or when no node of the
kind is left, the candidate comes back as an error result, so a session never hangs on
a lost node. A measurement that hangs is bounded by `MeasureSettings.timeout_sec` in the
actor.

Given `on_measured`, the runner does not wait for MetaSchedule to ask: a collector thread
resolves each measurement as it returns (retrying lost devices from there) and calls
`on_measured(artifact_path, result, origin)` at once. MetaSchedule collects a task's
futures only when it next picks that task, minutes later on a model of 50 tasks, and a
search worker uses this to commit each record when it is measured (`farm.tuning.landing`).
Whichever of the collector and `result()` gets to a measurement first resolves it, once.

Every successful measurement's origin (node, device fingerprint, threads, evaluator
settings) is kept by the candidate's artifact path, and `provenance(artifact_path)` hands
it to whoever records the candidate (`measure_callbacks(db, origin_of=runner.provenance)`
attaches it to the database record of the candidate built there). Keyed by candidate,
not by run times: two candidates measured equally fast would swap or lose their origins.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import ray
from ray.exceptions import ObjectLostError, RayActorError
from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.runner import PyRunner, PyRunnerFuture, RunnerFuture, RunnerInput, RunnerResult

from .actors import device_actors
from .artifacts import ARTIFACTS, ArtifactRegistry
from .devices import DeviceKind
from .measurement import MeasureSettings
from .metrics import metrics
from .nodes import NoDeviceError, nodes_serving

log = logging.getLogger(__name__)

PROVENANCE_KEPT = 100_000


@dataclass
class _Device:
    node_id: str
    actor: ray.actor.ActorHandle
    name: str = ""  # the actor's name: one per device of the cluster
    in_flight: int = 0


@dataclass
class _Measurement:
    artifact_path: str
    artifact: ray.ObjectRef
    suffix: str
    args_info: list
    attempts: int = 0
    device: _Device | None = None
    call: ray.ObjectRef | None = None
    lost_on: list[str] = field(default_factory=list)
    result: RunnerResult | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)  # resolving it: the collector or `result()`, once


def least_busy(devices: list[_Device], avoid: list[str]) -> _Device:
    """The device with the fewest measurements in flight, off the nodes in `avoid` (where a candidate was lost) if any other is left."""
    candidates = [d for d in devices if d.node_id not in avoid] or devices
    return min(candidates, key=lambda d: d.in_flight)


class DevicePool:
    """The measurement actors of one device kind, refreshed from the cluster when all known ones are lost."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.devices: list[_Device] = []
        nodes = nodes_serving(kind)
        self.device_kind = nodes[0].kind(kind)
        # a CPU device on a node that also offers CPUs to Ray tasks: builds may run on the cores it measures with
        self.shares_cores_with_builds = any(
            n.kind_platforms[kind] == "cpu" and n.resources.get("CPU", 0) > 0 for n in nodes
        )
        self._add(nodes)

    def refresh(self) -> None:
        self._add(nodes_serving(self.kind))

    def _add(self, nodes: list) -> None:
        known = {d.name for d in self.devices}
        for node in nodes:
            for name, actor in device_actors(node, node.kind_platforms[self.kind]).items():
                if name not in known:
                    self.devices.append(_Device(node.node_id, actor, name))

    def pick(self, avoid: list[str]) -> _Device:
        if not self.devices:
            self.refresh()
        return least_busy(self.devices, avoid)

    def lose(self, device: _Device) -> None:
        if device in self.devices:
            self.devices.remove(device)


@derived_object
class RayRunnerFuture(PyRunnerFuture):
    """One candidate's measurement; `result()` blocks until it is measured, retried or given up."""

    def __init__(self, runner: RayRunner, measurement: _Measurement) -> None:
        super().__init__()
        self.runner = runner
        self.measurement = measurement

    def done(self) -> bool:
        m = self.measurement
        return m.result is not None or bool(ray.wait([m.call], timeout=0)[0])

    def result(self) -> RunnerResult:
        return self.runner.wait(self.measurement)


@derived_object
class RayRunner(PyRunner):
    """Measures candidates on the device actors of `kind` (e.g. `x86-64-v3`) across the Ray cluster."""

    def __init__(
        self,
        kind: str,
        settings: MeasureSettings | None = None,
        *,
        max_retries: int = 2,
        artifacts: ArtifactRegistry = ARTIFACTS,
        on_measured: Callable[[str, RunnerResult, dict | None], None] | None = None,
    ) -> None:
        super().__init__()
        self.kind = kind
        self.settings = settings or MeasureSettings()
        self.max_retries = max_retries
        self.artifacts = artifacts
        self.on_measured = on_measured
        self.pool = DevicePool(kind)
        self._provenance: OrderedDict[str, dict] = OrderedDict()
        self._running: dict[int, _Measurement] = {}
        self._lock = threading.Lock()
        self._submitted = threading.Condition(self._lock)
        self._closed = False
        self.wait_seconds = 0.0  # wall time result() blocked on measurements: what search and builds did not hide
        if on_measured is not None:
            threading.Thread(target=self._collect_forever, name=f"measurements-{kind}", daemon=True).start()

    def close(self) -> None:
        """Stop the collector thread (measurements in flight stay collectable through their futures)."""
        with self._lock:
            self._closed = True
            self._submitted.notify_all()

    @property
    def device_kind(self) -> DeviceKind:
        """The kind measured, with the canonical TVM target a session for it tunes."""
        return self.pool.device_kind

    def run(self, runner_inputs: list[RunnerInput]) -> list[RunnerFuture]:
        futures = []
        for runner_input in runner_inputs:
            path = str(runner_input.artifact_path)
            ref, suffix = self.artifacts.resolve(path)
            args_info = [info.as_json() for info in runner_input.args_info]
            measurement = _Measurement(path, ref, suffix, args_info)
            metrics().queued(self.kind, +1)
            try:
                self._submit(measurement)
            except NoDeviceError as e:
                self._finish(measurement, None, str(e))
            futures.append(RayRunnerFuture(self, measurement))
        return futures

    def wait_idle(self) -> None:
        """Block until no measurement this runner sent is queued or running on a device (their results may be uncollected)."""
        with self._lock:
            calls = [m.call for m in self._running.values()]
        if calls:
            ray.wait(calls, num_returns=len(calls), fetch_local=False)

    def _submit(self, m: _Measurement) -> None:
        with self._lock:
            device = self.pool.pick(m.lost_on)
            device.in_flight += 1
            self._running[id(m)] = m
        m.device = device
        m.attempts += 1
        m.call = device.actor.measure.remote(
            m.artifact, m.suffix, m.args_info, self.settings.as_json(), label=f"{self.kind} candidate"
        )
        with self._lock:
            self._submitted.notify_all()

    def wait(self, m: _Measurement) -> RunnerResult:
        """The measurement's result, retrying on another device of the kind when the one it ran on was lost."""
        start = time.perf_counter()
        while m.result is None:
            call = m.call
            ray.wait([call], fetch_local=False)
            self._resolve(m, call)
        self.wait_seconds += time.perf_counter() - start
        return m.result

    def _collect_forever(self) -> None:
        """Resolve measurements as they return, so `on_measured` hears of each at once."""
        while True:
            with self._lock:
                self._submitted.wait_for(
                    lambda: self._closed or any(m.call is not None for m in self._running.values())
                )
                if self._closed:
                    return
                calls = {m.call: m for m in self._running.values() if m.call is not None}
            ready, _ = ray.wait(list(calls), num_returns=1, timeout=1.0, fetch_local=False)
            for call in ready:
                self._resolve(calls[call], call)

    def _resolve(self, m: _Measurement, call: ray.ObjectRef) -> None:
        """Take in the returned `call` of `m`: its result, or a retry elsewhere if its device was lost (no-op if done already)."""
        with m.lock:
            if m.result is not None or m.call is not call:
                return
            try:
                out = ray.get(call)
            except RayActorError as e:
                self._lost(m, e)
                return
            except ObjectLostError as e:
                self._device_done(m)
                self._finish(m, None, f"RayRunner: the built artifact was lost with its node: {e}")
                return
            self._device_done(m)
            self._finish(m, out)

    def _lost(self, m: _Measurement, error: Exception) -> None:
        lost = m.device
        self._device_done(m)
        with self._lock:
            self.pool.lose(lost)
        m.lost_on.append(lost.node_id)
        log.warning(
            "device on node %s lost while measuring a %s candidate (%s)",
            lost.node_id[:12],
            self.kind,
            type(error).__name__,
        )
        if m.attempts > self.max_retries:
            self._finish(
                m, None, f"RayRunner: gave up after {m.attempts} devices of kind {self.kind!r} were lost: {error}"
            )
            return
        metrics().retried.inc(tags={"kind": self.kind})
        try:
            self._submit(m)
        except NoDeviceError as e:
            self._finish(m, None, f"RayRunner: {e}")

    def _device_done(self, m: _Measurement) -> None:
        with self._lock:
            m.device.in_flight -= 1

    def _finish(self, m: _Measurement, out: dict | None, error: str | None = None) -> None:
        error = error or (out or {}).get("error")
        with self._lock:
            self._running.pop(id(m), None)
        metrics().queued(self.kind, -1)
        self.artifacts.release(m.artifact_path)
        origin = None
        if error is not None:
            metrics().failed.inc(tags={"target": self.device_kind.target_key, "stage": "run"})
            m.result = RunnerResult(None, error)
        else:
            metrics().measured.inc(tags={"kind": self.kind})
            origin = {
                k: out[k] for k in ("node_id", "device_fingerprint", "num_threads", "settings", "started", "finished")
            }
            origin["kind"] = self.kind
            with self._lock:
                self._provenance[m.artifact_path] = origin
                while len(self._provenance) > PROVENANCE_KEPT:
                    self._provenance.popitem(last=False)
            m.result = RunnerResult(out["run_secs"], None)
        if self.on_measured is not None:
            try:
                self.on_measured(m.artifact_path, m.result, origin)
            except Exception:  # the measurement stands; MetaSchedule commits it at its join all the same
                log.exception("on_measured failed for %s", m.artifact_path)

    def provenance(self, artifact_path: str) -> dict | None:
        """Where and how the candidate built at `artifact_path` was measured (asked once per measurement), or None."""
        with self._lock:
            return self._provenance.pop(str(artifact_path), None)
