"""One measurement of a built candidate: the evaluator settings, and the code that runs in a measurement worker.

`measure_artifact` runs inside a TVM `PopenPoolExecutor` worker (a fresh interpreter
started with popen, never a fork: a forked child of a process that has started TVM's
thread pool hangs in its first parallel kernel). It writes the shipped shared library (or a
LocalBuilder's `.tar`) to a private temporary folder, loads it, fills the arguments with random data as
MetaSchedule's `LocalRunner` does, runs `warmup` untimed calls, then TVM's time
evaluator with the settings below, and reports the fastest repeats. The thread count is set by the worker's environment
(`TVM_NUM_THREADS`), which the measurement actor sets before starting it.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class MeasureSettings:
    """How a candidate is timed; recorded with every measurement.

    `number` runs are averaged into one time, `repeat` times; a repeat shorter than
    `min_repeat_ms` is lengthened by raising `number`; `enable_cpu_cache_flush` flushes
    the CPU caches before each run (all arguments but the first). Of the `repeat` times,
    the `keep_fastest` fastest are reported (all of them if None): interference from
    other work on the machine only ever slows a kernel down, so the fastest repeats are
    the closest to its undisturbed time. On this 2-core machine, with builds and searches
    beside it, one 100 ms repeat of a 130 µs convolution read 213-413 µs, the fastest two
    of five 40 ms repeats 133-135 µs; a search now builds only when its measurements are
    over (`farm.tuning.search`), so three 25 ms repeats do (a third of the device time per
    candidate, which set the pace of a tune: with both, a 1,000-trial squeezenet tune went
    from 66.5 to 108.8 trials per minute). `timeout_sec` bounds one measurement, load
    and warm-up included.
    """

    warmup: int = 1
    number: int = 1
    repeat: int = 3
    min_repeat_ms: int = 25
    keep_fastest: int | None = 2
    enable_cpu_cache_flush: bool = False
    timeout_sec: float = 60.0

    def as_json(self) -> dict:
        return asdict(self)


def measure_artifact(artifact: bytes, suffix: str, device_type: str, args_info: list, settings: dict) -> list[float]:
    """Run times in seconds of the candidate in `artifact` (a shared library, or a `.tar` of objects) on device 0 of `device_type`."""
    import tvm
    from tvm.s_tir.meta_schedule.runner.config import EvaluatorConfig
    from tvm.s_tir.meta_schedule.runner.utils import alloc_argument_common, run_evaluator_common

    config = MeasureSettings(**settings)
    with tempfile.TemporaryDirectory(prefix="farm-candidate-") as folder:
        path = os.path.join(folder, "candidate" + suffix)
        with open(path, "wb") as f:
            f.write(artifact)
        rt_mod = tvm.runtime.load_module(path)
    device = tvm.runtime.device(device_type, 0)
    fill = tvm.get_global_func("tvm.contrib.random.random_fill_for_measure")
    repeated_args = alloc_argument_common(fill, device, args_info, 1)
    entry = rt_mod[rt_mod.entry_name]
    for _ in range(config.warmup):
        entry(*repeated_args[0])
    device.sync()
    evaluator = EvaluatorConfig(
        number=config.number,
        repeat=config.repeat,
        min_repeat_ms=config.min_repeat_ms,
        enable_cpu_cache_flush=config.enable_cpu_cache_flush,
    )
    run_secs = run_evaluator_common(rt_mod, device, evaluator, repeated_args)
    return sorted(run_secs)[: config.keep_fastest] if config.keep_fastest else run_secs
