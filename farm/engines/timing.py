"""Timing engines side by side on one device, honestly: a process per configuration, in alternating rounds.

Timing ONNX Runtime in the process that just ran TVM read it 10-25% slow (TVM's pool
threads keep spinning after a call), and both engines read 10-30% slow inside the old
verification. So every configuration of every engine (`Engine.configs`: TVM per thread
count, ONNX Runtime per session setting) is loaded in a worker process of its own, with
its own environment, and the timed inferences are spread over `rounds` rounds in which
the configurations take turns (the order rotating each round), so slow drift of the
machine reaches all of them alike. A pool that has just run keeps spinning, so before each
round the farm waits until the other workers use no CPU (each process's CPU-time clock,
in ns); the CPU the other workers use during each round is
measured and reported (`others_cpu_ms`), which shows that they stayed idle. Every figure carries the
threads it ran with.

`time_engines` runs wherever it is called; the farm calls it in the measurement actor of a
node of the variant's kind (`farm.benchmark.compare_on_device`), so it never overlaps a
tuning measurement on that device. The reference for agreement is ONNX Runtime's default
session on the original model. The chosen engine is the fastest configuration (by median)
whose outputs agree with the reference.
"""

from __future__ import annotations

import math
import time

import numpy as np
import psutil

from ..precision import EXACT, Tolerance, agreement, node_precisions
from ..workflow_options import REPEAT, WARMUP
from . import ENGINES, engine_named
from .base import EngineConfig
from .comparison import REFERENCE, REFERENCE_ENGINE, Comparison, ConfigResult, LatencyStats
from .process import WorkerError, WorkerProcess

ROUNDS = 5
REWARM_S = (
    0.1  # untimed inferences before each round: one was not enough (a 0.45 ms model read 1.3x slow in its rounds)
)
BUDGET_S = (
    10.0  # about how long one configuration's timed inferences may take: an untuned model can run 100x slower than ORT
)
OUT_OF_REACH = 5.0  # a configuration whose warm-up inference took this many times the fastest one's is not timed
QUIESCE_S = 1.0  # the longest wait for the other workers' pools to stop spinning before a round
QUIESCE_STEP_S = 0.01  # longer than a scheduler tick: another process's CPU time may move only on ticks
IDLE_CPU_S = 100e-6  # CPU the other workers may use in a step and still count as idle
TARGET_KINDS = {"cpu": "llvm", "cuda": "cuda"}  # device type -> the TVM target kind a described model names


class _Worker:
    """One configuration's timing process, started with the configuration's environment.

    All the workers of a timing are started, and import what their engine loads with,
    side by side (0.25 s for ONNX Runtime, 2.1 s for TVM, each alone); they then load and
    warm up one at a time.
    """

    def __init__(self, config: EngineConfig, timeout_s: float) -> None:
        from .worker import ready

        self.config, self.timeout_s = config, timeout_s
        self.engine = engine_named(config.engine)
        self.worker = WorkerProcess(self.engine.worker_env(config))
        try:
            self.process = psutil.Process(self.worker.pid)
            self.worker.send(ready, (self.engine.name, self.engine.runtime), timeout=timeout_s)
        except BaseException:  # a worker that died at once is not in the caller's list yet: nobody else would kill it
            self.close()
            raise

    def start(
        self, artifact: bytes, metadata: dict, inputs: dict[str, np.ndarray], warmup: int, budget_s: float
    ) -> tuple[list[np.ndarray], float]:
        """Once the process has imported its engine: load the configuration through the runtime and warm it up."""
        from .worker import prepare

        self._recv("starting")
        self.worker.send(
            prepare,
            (self.engine.name, self.config.as_json(), artifact, metadata, inputs, warmup, budget_s),
            timeout=self.timeout_s,
        )
        return self._recv("loading")

    def infer_samples(self, samples: list[dict[str, np.ndarray]]) -> list[list[np.ndarray]]:
        from .worker import infer_samples

        self.worker.send(infer_samples, (samples,), timeout=self.timeout_s)
        return self._recv("running the sample inputs")

    def time_runs(self, number: int) -> list[float]:
        from .worker import time_runs

        self.worker.send(time_runs, (number, REWARM_S), timeout=self.timeout_s)
        return self._recv("timing")

    def cpu_seconds(self) -> float:
        """CPU seconds the process has used so far, all its threads: its CPU-time clock, ns-precise where Linux has it.

        Read with `clock_gettime` on the process's clock, not from /proc: reading every worker's
        /proc/<pid>/task/*/schedstat a hundred times a second (the quiesce loop) left the device
        worker spinning for many minutes in the kernel (`shrink_dcache_parent` under
        `release_task`) when it reaped a timing worker, under the test suite's load."""
        try:
            return time.clock_gettime(_process_cpu_clock(self.process.pid))
        except OSError:  # no per-process CPU clocks here (not Linux)
            times = self.process.cpu_times()
            return times.user + times.system

    def close(self) -> None:
        self.worker.kill()

    def _recv(self, what: str):
        try:
            return self.worker.recv()
        except WorkerError as e:
            raise WorkerError(f"{self.config.label}: {what} failed in the timing worker:\n{e}") from None
        except TimeoutError:
            raise TimeoutError(f"{self.config.label}: {what} took more than {self.timeout_s} s") from None
        except ChildProcessError:
            raise ChildProcessError(f"{self.config.label}: the timing worker died {what}") from None


def _process_cpu_clock(pid: int) -> int:
    """The clock id of process `pid`'s CPU time, as Linux's clock_getcpuclockid(3) makes it (`MAKE_PROCESS_CPUCLOCK(pid,
    CPUCLOCK_SCHED)`): Python's `time` module has clock_gettime but not clock_getcpuclockid."""
    return ((~pid) << 3) | 2


def _quiesce(workers: list[_Worker]) -> float:
    """Wait (at most QUIESCE_S) until `workers` use no CPU over QUIESCE_STEP_S; their CPU seconds then.

    A pool that just ran keeps spinning for a while (TVM's and ONNX Runtime's both do):
    the next configuration must not start its round beside it.
    """
    deadline = time.monotonic() + QUIESCE_S
    used = sum(w.cpu_seconds() for w in workers)
    while time.monotonic() < deadline:
        time.sleep(QUIESCE_STEP_S)
        now = sum(w.cpu_seconds() for w in workers)
        if now - used < IDLE_CPU_S:
            return now
        used = now
    return used


def describe(onnx_model: bytes, inputs: dict[str, np.ndarray], device_type: str) -> dict:
    """What a variant's metadata says of a model, for timing it: its inputs (as `inputs`), its outputs (names of the ONNX
    graph's outputs, static dimensions where the graph gives them) and a target of the device's platform."""
    import onnx
    from onnx.helper import tensor_dtype_to_np_dtype

    graph = onnx.load_model_from_string(onnx_model).graph

    def tensor(value) -> dict:
        typed = value.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else 0 for d in typed.shape.dim]
        return {"name": value.name, "dtype": str(tensor_dtype_to_np_dtype(typed.elem_type)), "shape": dims}

    return {
        "model": graph.name or "model",
        "inputs": [{"name": k, "dtype": str(v.dtype), "shape": list(v.shape)} for k, v in inputs.items()],
        "outputs": [tensor(o) for o in graph.output],
        "target": {"kind": TARGET_KINDS[device_type]},
    }


def _configs(
    engines: list[str], cores: int, precisions: tuple[str, ...], per_engine: int | None = None
) -> list[EngineConfig]:
    """Every engine's configurations at each precision worth timing (its exact ones, at most `per_engine` of each, its
    default first; then its reduced ones)."""
    configs = [config for name in engines for config in engine_named(name).configs(cores)[:per_engine]]
    reduced = [
        c for p in precisions if p != EXACT for name in engines for c in engine_named(name).reduced_configs(cores, p)
    ]
    return configs + reduced


def time_engines(
    artifacts: dict[str, bytes],
    inputs: dict[str, np.ndarray],
    *,
    cores: int,
    device_type: str = "cpu",
    warmup: int = WARMUP,
    repeat: int = REPEAT,
    rounds: int = ROUNDS,
    engines: list[str] | None = None,
    metadata: dict | None = None,
    precision: str = EXACT,
    tolerance: Tolerance | None = None,
    samples: list[dict[str, np.ndarray]] | None = None,
    cpu_flags: set[str] | None = None,
    per_engine: int | None = None,
    out_of_reach: float | None = OUT_OF_REACH,
    budget_s: float = BUDGET_S,
    timeout_s: float = 600.0,
) -> Comparison:
    """Every configuration of `engines` (default: those whose file is in `artifacts`) timed on `inputs`; the fastest per engine.

    `artifacts` maps an engine's file name (`model.so`, `model.onnx`) to its bytes; the
    ONNX model is required (it is the reference). `repeat` timed inferences per
    configuration in all, spread over `rounds` alternating rounds, after `warmup`; a
    configuration whose inferences are slow gets fewer (at least one per round), so that its
    timing takes about `budget_s` (the count is in its result). Each configuration is loaded
    as a package of the model described by `metadata` (a variant's: name, tensors, target;
    default `describe`'s of the ONNX model) and timed through `farm.runtime`'s `run`.

    Reduced-precision configurations are timed where this CPU computes them natively
    (`cpu_flags`, default this host's), whatever `precision` allows, so the result can say
    what they would give; agreement is measured on `samples` (each a dict of inputs; default
    the timing inputs) under `farm.precision`'s rule for each configuration's
    precision and `tolerance`, and the engine is chosen among the configurations `precision`
    allows. `per_engine` bounds the exact configurations timed per engine (a quick pass: each
    engine's default and its next).

    A configuration whose last warm-up inference took more than `out_of_reach` times the
    fastest configuration's (None: time every one) is out of reach (an untuned TVM library,
    whose unscheduled kernels run 10-100x slower): it is not timed in the rounds, its warm-up
    inference is recorded as its estimate (`estimated`), and it cannot be chosen.
    """
    from ..runtime.local_info import host_cpu_flags

    names = engines or [
        name
        for name in ENGINES
        if engine_named(name).artifact in artifacts and engine_named(name).available(device_type)
    ]
    precisions = node_precisions(cpu_flags if cpu_flags is not None else host_cpu_flags())
    configs = _configs(names, cores, precisions, per_engine)
    tolerance = tolerance or Tolerance.parse(None)
    metadata = metadata or describe(artifacts[engine_named(REFERENCE_ENGINE).artifact], inputs, device_type)
    workers: list[_Worker] = []
    try:
        workers.extend(_Worker(config, timeout_s) for config in configs)
        outputs, per_round, warm_s = {}, {}, {}
        for w in workers:
            artifact = artifacts[w.engine.artifact]
            outputs[w.config.label], warm_s[w.config.label] = w.start(artifact, metadata, inputs, warmup, budget_s)
            per_round[w.config.label] = max(
                1, min(math.ceil(repeat / rounds), int(budget_s / rounds / max(warm_s[w.config.label], 1e-9)))
            )
            if samples:
                outputs[w.config.label] = w.infer_samples(samples)
            else:
                outputs[w.config.label] = [outputs[w.config.label]]
        reach = math.inf if out_of_reach is None else out_of_reach * min(warm_s.values())
        estimated = {label for label, run_s in warm_s.items() if run_s > reach and label != REFERENCE}
        for w in [w for w in workers if w.config.label in estimated]:
            w.close()
        timed = [w for w in workers if w.config.label not in estimated]
        seconds: dict[str, list[float]] = {
            label: [run_s] if label in estimated else [] for label, run_s in warm_s.items()
        }
        others_cpu: dict[str, float] = dict.fromkeys(seconds, 0.0)
        for r in range(rounds):
            for i in range(len(timed)):
                w = timed[(i + r) % len(timed)]
                others = [o for o in timed if o is not w]
                before = _quiesce(others)
                seconds[w.config.label] += w.time_runs(per_round[w.config.label])
                others_cpu[w.config.label] += sum(o.cpu_seconds() for o in others) - before
    finally:
        for w in workers:
            w.close()
    reference = outputs[REFERENCE]
    results = []
    for config in configs:
        agreed = agreement(outputs[config.label], reference, config.precision, tolerance)
        results.append(
            ConfigResult(
                **config.as_json(),
                stats=LatencyStats.of(seconds[config.label]),
                max_abs_diff=agreed.max_abs_diff,
                max_rel_diff=agreed.max_rel_diff,
                agrees=agreed.agrees,
                top1=agreed.top1,
                others_cpu_ms=round(others_cpu[config.label] * 1e3, 3),
                repeat=0 if config.label in estimated else len(seconds[config.label]),
                estimated=config.label in estimated,
            )
        )
    return Comparison.of(
        results,
        precision,
        tolerance=tolerance.as_text(),
        samples=len(samples) if samples else 1,
        warmup=warmup,
        repeat=max(r.repeat for r in results),
        rounds=rounds,
        cores=cores,
        device_type=device_type,
    )
