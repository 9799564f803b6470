"""Small real tuning workloads for the tests."""

from __future__ import annotations

import json
import os

import tvm
from tvm import te
from tvm.s_tir import Schedule
from tvm.s_tir.meta_schedule.arg_info import ArgInfo
from tvm.s_tir.meta_schedule.database import Database, TuningRecord, Workload

MATMUL128_LOG = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "matmul128-znver4")
MATMUL128_TARGET = {"kind": "llvm", "mcpu": "znver4", "num-cores": 2}
SMALL_TARGET = {"kind": "llvm", "num-cores": 1}


def matmul(n: int) -> tvm.IRModule:
    """An n×n float32 matmul as a one-function IRModule."""
    a = te.placeholder((n, n), name="A")
    b = te.placeholder((n, n), name="B")
    k = te.reduce_axis((0, n), name="k")
    c = te.compute((n, n), lambda i, j: te.sum(a[i, k] * b[k, j], axis=k), name="C")
    return tvm.IRModule({"main": te.create_prim_func([a, b, c])})


def matmul128_log() -> tuple[tvm.IRModule, list[list]]:
    """The module of a real 16-trial MetaSchedule log (128×128 matmul, znver4) and its records' JSON."""
    with open(os.path.join(MATMUL128_LOG, "database_workload.json")) as f:
        mod = Workload.from_json(json.loads(f.readline())).mod
    with open(os.path.join(MATMUL128_LOG, "database_tuning_record.json")) as f:
        records = [json.loads(line)[1] for line in f]
    return mod, records


def commit_record(
    db: Database, mod: tvm.IRModule, run_secs: list[float] | None, factor: int = 4, target: dict = SMALL_TARGET
) -> TuningRecord:
    """Commit a record of `matmul`'s module to a MetaSchedule database: its outer loop split by `factor`, measured `run_secs`."""
    sch = Schedule(mod)
    i, _, _ = sch.get_loops(sch.get_sblock("C"))
    sch.split(i, factors=[None, factor])
    record = TuningRecord(
        sch.trace,
        db.commit_workload(mod),
        run_secs,
        tvm.target.Target(target),
        ArgInfo.from_prim_func(mod["main"]),
    )
    db.commit_tuning_record(record)
    return record
