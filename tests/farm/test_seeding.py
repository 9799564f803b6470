"""Seeding: the best traces of a recorded 128×128 matmul are replayed on a 96×96 matmul and compute the right thing."""

from __future__ import annotations

import numpy as np
import pytest
import tvm
import tvm_ffi
from tvm.s_tir.meta_schedule import TuneContext
from tvm.s_tir.meta_schedule.database import TuningRecord

from cluster.tvm_intrinsics import import_tensor_intrinsics
from farm.tuning.seeding import adapt, family, similar_traces
from tests.tuning_db.workloads import MATMUL128_TARGET, matmul, matmul128_log
from tuning_db.metaschedule import ParquetDatabase
from tuning_db.workload import workload_key

import_tensor_intrinsics()  # MetaSchedule runs in this process: 4 s instead of ~100 s under pytest's stack


def test_family_drops_the_numbering_of_fused_task_names():
    assert family("fused_conv2d3_add2_relu1") == family("fused_conv2d_add_relu") == "fused_conv2d_add_relu"
    assert family("fused_conv2d_transpose1_add3") == "fused_conv2d_transpose_add"
    assert family("max_pool2d1") == "max_pool2d" and family("reshape8") == "reshape"
    assert family("fused_matmul_add4") != family("fused_conv2d_add_relu")
    assert family("fused_conv1d2_add1") != family("fused_conv2d2_add1") != family("fused_conv3d2_add1")


def recorded(tmp_path, task_name: str) -> ParquetDatabase:
    """A database holding the recorded 128×128 matmul's measurements under `task_name`."""
    mod128, records = matmul128_log()
    db = ParquetDatabase(str(tmp_path / "db"), MATMUL128_TARGET, task_names={workload_key(mod128): task_name})
    workload = db.commit_workload(mod128)
    for rec in records:
        db.commit_tuning_record(TuningRecord.from_json(rec, workload))
    db.flush()
    return db


def test_convolutions_of_another_dimensionality_are_not_similar(tmp_path):
    db = recorded(tmp_path, "fused_conv1d_add")
    key96 = workload_key(db.commit_workload(matmul(96)).mod)
    assert similar_traces(db, key96, "fused_conv2d1_add2") == []
    assert len(similar_traces(db, key96, "fused_conv1d3_add1")) == 2


def _context(mod, name):
    return TuneContext(
        mod=mod,
        target=tvm.target.Target(MATMUL128_TARGET),
        space_generator="post-order-apply",
        search_strategy="evolutionary",
        task_name=name,
        num_threads=1,
    ).clone()


@pytest.mark.slow
def test_best_traces_of_a_similar_workload_adapt_to_new_shapes(tmp_path):
    db = recorded(tmp_path, "matmul")
    mod96 = matmul(96)
    context = _context(mod96, "matmul1")
    key96 = workload_key(db.commit_workload(mod96).mod)
    traces = similar_traces(db, key96, "matmul1", per_workload=4)
    assert len(traces) == 4
    assert similar_traces(db, key96, "conv2d1") == [], "another operator family is never used"
    schedules = [s for s in (adapt(t, context) for t in traces) if s is not None]
    assert schedules, "tile sizes re-sampled for 96 make the 128 traces fit"
    a, b = np.random.rand(96, 96).astype("float32"), np.random.rand(96, 96).astype("float32")
    for sch in schedules:
        assert not tvm_ffi.structural_equal(sch.mod, mod96), "the schedule transforms the workload"
        lib = tvm.compile(sch.mod, target=tvm.target.Target({"kind": "llvm"}))
        c = tvm.runtime.tensor(np.zeros((96, 96), dtype="float32"))
        lib["main"](tvm.runtime.tensor(a), tvm.runtime.tensor(b), c)
        np.testing.assert_allclose(c.numpy(), a @ b, rtol=1e-4, atol=1e-4)
    db.close()
