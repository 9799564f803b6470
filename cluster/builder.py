"""The distributed builder: a MetaSchedule `PyBuilder` that compiles candidates as Ray tasks over the cluster's CPUs.

Each candidate is one Ray task (`num_cpus=1`) that compiles with MetaSchedule's own
`default_build` and links a shared library, which stays in the object store of the
node that built it: the task has two returns, a small error message that the driver
fetches and the artifact bytes that it does not, so artifacts travel from the building
node straight to the measuring one. MetaSchedule gets an artifact path per candidate
(see `artifacts`).

Build failures are results (`BuilderResult(None, message)`), never exceptions: a
compile error, a build task whose worker died after Ray's retries, and a build that made
no progress for `timeout_sec` while others finished (cancelled). Ray reuses its worker
processes, so the import of TVM's tensor intrinsics (`tvm_intrinsics`) is paid once per
worker, and `warm_up()` pays it up front on every CPU. Builds yield the CPU to measurements
(`priority`), and a `fence` (a callable, e.g. the runner's `wait_idle`) is called before
each batch, so that a batch can wait until measurements on the cores it would use are over.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable

import ray
import tvm
from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.builder import BuilderInput, BuilderResult, PyBuilder

from tuning_db.keys import canonical_target, target_key
from tuning_db.metaschedule import exported_target

from .artifacts import ARTIFACTS, ArtifactRegistry
from .metrics import metrics
from .priority import BACKGROUND, yield_cpu
from .tvm_intrinsics import import_tensor_intrinsics


@ray.remote(num_cpus=1, num_returns=2, runtime_env=BACKGROUND)
def build_candidate(mod_json: str, target_json: str, params: bytes | None) -> tuple[str | None, bytes]:
    """Compile one candidate: `(None, shared library bytes)` or `(error message, b"")`."""
    from tvm.s_tir.meta_schedule.builder.local_builder import default_build

    yield_cpu()
    import_tensor_intrinsics()
    try:
        mod = tvm.ir.load_json(mod_json)
        target = tvm.target.Target(json.loads(target_json))
        rt_mod = default_build(mod, target, tvm.runtime.load_param_dict(params) if params else None)
        with tempfile.TemporaryDirectory(prefix="farm-build-") as folder:
            path = f"{folder}/candidate.so"
            rt_mod.export_library(path)
            with open(path, "rb") as f:
                return None, f.read()
    except Exception as e:  # noqa: BLE001 - a candidate that does not compile is a result
        return f"{type(e).__name__}: {e}", b""


@ray.remote(num_cpus=1, runtime_env=BACKGROUND)
def _warm_builder() -> float:
    start = time.perf_counter()
    yield_cpu()
    import_tensor_intrinsics()

    time.sleep(0.5)  # hold the CPU so that every warm-up task lands on its own worker
    return time.perf_counter() - start


@derived_object
class RayBuilder(PyBuilder):
    """Compiles MetaSchedule's candidates as Ray tasks, at most `max_in_flight` at once (default: as Ray schedules them)."""

    def __init__(
        self,
        max_in_flight: int | None = None,
        timeout_sec: float = 300.0,
        artifacts: ArtifactRegistry = ARTIFACTS,
        fence: Callable[[], None] | None = None,
        on_built: Callable[[list[BuilderInput], list[BuilderResult]], None] | None = None,
    ) -> None:
        super().__init__()
        self.max_in_flight = max_in_flight
        self.timeout_sec = timeout_sec
        self.artifacts = artifacts
        self.fence = fence
        self.on_built = on_built  # told which artifact each input became (the runner knows candidates only by artifact)
        self.busy_seconds = 0.0  # wall time spent in build(): the search waits for builds that long
        self.fence_seconds = 0.0  # of which waiting for `fence`

    def warm_up(self) -> list[float]:
        """Start a warm build worker on every CPU of the cluster (or `max_in_flight` of them); seconds each took."""
        cpus = int(ray.cluster_resources().get("CPU", 1))
        return ray.get([_warm_builder.remote() for _ in range(min(cpus, self.max_in_flight or cpus))])

    def build(self, build_inputs: list[BuilderInput]) -> list[BuilderResult]:
        start = time.perf_counter()
        try:
            if self.fence is not None:
                self.fence()
                self.fence_seconds += time.perf_counter() - start
            results = self._build(build_inputs)
            if self.on_built is not None:
                self.on_built(build_inputs, results)
            return results
        finally:
            self.busy_seconds += time.perf_counter() - start

    def _build(self, build_inputs: list[BuilderInput]) -> list[BuilderResult]:
        jobs = []
        for b in build_inputs:
            target_json = canonical_target(exported_target(b.target))
            jobs.append((target_key(target_json), tvm.ir.save_json(b.mod), target_json, self._params(b)))
        limit = self.max_in_flight or len(jobs)
        errors: dict[int, ray.ObjectRef] = {}
        artifacts: dict[int, ray.ObjectRef] = {}
        index_of: dict[ray.ObjectRef, int] = {}
        results: dict[int, BuilderResult] = {}
        waiting = list(range(len(jobs)))
        last_progress = time.monotonic()
        while waiting or index_of:
            while waiting and len(index_of) < limit:
                i = waiting.pop(0)
                errors[i], artifacts[i] = build_candidate.remote(*jobs[i][1:])
                index_of[errors[i]] = i
            done, _ = ray.wait(list(index_of), num_returns=1, timeout=1.0)
            if done:
                last_progress = time.monotonic()
                for ref in done:
                    i = index_of.pop(ref)
                    results[i] = self._result(ref, artifacts[i], jobs[i][0])
            elif time.monotonic() - last_progress > self.timeout_sec:
                for ref, i in list(index_of.items()):
                    ray.cancel(ref, force=True)
                    metrics().failed.inc(tags={"target": jobs[i][0], "stage": "build"})
                    results[i] = BuilderResult(
                        None, f"RayBuilder: build made no progress for {self.timeout_sec} s and was cancelled"
                    )
                index_of.clear()
        return [results[i] for i in range(len(jobs))]

    def _result(self, error_ref: ray.ObjectRef, artifact_ref: ray.ObjectRef, tag: str) -> BuilderResult:
        try:
            error = ray.get(error_ref)
        except ray.exceptions.RayError as e:
            error = f"build task failed: {type(e).__name__}: {e}"
        if error is not None:
            metrics().failed.inc(tags={"target": tag, "stage": "build"})
            return BuilderResult(None, f"RayBuilder: {error}")
        metrics().built.inc(tags={"target": tag})
        return BuilderResult(self.artifacts.register(artifact_ref), None)

    @staticmethod
    def _params(build_input: BuilderInput) -> bytes | None:
        if not build_input.params:
            return None
        return bytes(tvm.runtime.save_param_dict(build_input.params))
