"""Measuring schedules outside MetaSchedule's tuning loop (seeds, quiet re-measurements), as a tuning round measures them.

`measure_schedules` builds the schedules, measures those that built on the runner's
devices, asks `origin_of(artifact_path)` (the runner's provenance) where each was
measured, and removes the build folders, as MetaSchedule's `RemoveBuildArtifact` does after
a round. Failures are results (`RunnerResult(None, message)`), never exceptions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import tvm
from tvm.s_tir import Schedule
from tvm.s_tir.meta_schedule.arg_info import ArgInfo
from tvm.s_tir.meta_schedule.builder import BuilderInput
from tvm.s_tir.meta_schedule.runner import RunnerInput, RunnerResult
from tvm.s_tir.meta_schedule.utils import remove_build_dir


@dataclass
class Measured:
    """One schedule's arguments, its result, and where it was measured (None if it was not, or the runner does not say)."""

    args: list[ArgInfo]
    result: RunnerResult
    origin: dict | None


def measure_schedules(
    schedules: list[Schedule],
    target: tvm.target.Target,
    builder,
    runner,
    origin_of: Callable[[str], dict | None] | None = None,
) -> list[Measured]:
    """Build and measure `schedules`; one `Measured` per schedule, in order."""
    args = [ArgInfo.from_entry_func(s.mod, remove_preproc=True) for s in schedules]
    built = builder.build([BuilderInput(s.mod, target) for s in schedules])
    runnable = [i for i, b in enumerate(built) if b.error_msg is None]
    # the device type as MetaSchedule's own rounds name it: the target's kind (`llvm` runs on the CPU, `cuda` on a GPU)
    futures = runner.run([RunnerInput(built[i].artifact_path, target.kind.name, args[i]) for i in runnable])
    results = {i: f.result() for i, f in zip(runnable, futures)}
    measured = []
    for i, b in enumerate(built):
        result = results.get(i, RunnerResult(None, b.error_msg))
        origin = origin_of(str(b.artifact_path)) if origin_of is not None and result.run_secs is not None else None
        measured.append(Measured(args[i], result, origin))
    for i in runnable:
        remove_build_dir(str(built[i].artifact_path))
    return measured
