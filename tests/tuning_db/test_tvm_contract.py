"""The contract TVM's own database suite states for MetaSchedule databases, held by `ParquetDatabase`.

TVM's `test_meta_schedule_database.py` checks `JSONDatabase` for: records that round-trip,
top-k best first, nothing for a missing workload, records found again after a reload,
union with other databases, and queries by record, schedule and module. The same
contract, written for our database; and TVM's validity rule: a record with no run
times, or whose every run time is MetaSchedule's failure value, is never top-k.
"""

from __future__ import annotations

import pytest
import tvm
import tvm.s_tir.meta_schedule as ms
from tvm.s_tir import Schedule
from tvm.s_tir.meta_schedule.database import TuningRecord
from tvm.target import Target

from tests.tuning_db.workloads import SMALL_TARGET as TARGET
from tests.tuning_db.workloads import commit_record, matmul
from tuning_db.metaschedule import ParquetDatabase
from tuning_db.schema import FAILED_SECS


@pytest.fixture
def db(tmp_path):
    database = ParquetDatabase(str(tmp_path / "db"), TARGET, flush_interval_s=3600)
    yield database
    database.close()


def _same(a: TuningRecord, b: TuningRecord) -> None:
    assert str(a.trace) == str(b.trace)
    assert [float(s) for s in a.run_secs] == pytest.approx([float(s) for s in b.run_secs])
    assert a.target.export() == b.target.export()
    tvm.ir.assert_structural_equal(a.workload.mod, b.workload.mod)
    assert [x.as_json() for x in a.args_info] == [x.as_json() for x in b.args_info]


def test_a_record_comes_back_as_it_was_committed(db):
    mod = matmul(32)
    record = commit_record(db, mod, [1.5e-3, 2.5e-3, 1.8e-3])
    assert len(db) == 1
    (got,) = db.get_top_k(db.commit_workload(mod), 3)
    _same(got, record)


def test_a_missing_workload_has_nothing(db):
    mod, other = matmul(32), matmul(16)
    commit_record(db, mod, [1e-3])
    assert db.has_workload(mod) and not db.has_workload(other)
    assert db.get_top_k(db.commit_workload(other), 3) == []


def test_top_k_is_best_first_by_mean_run_time(db):
    mod = matmul(32)
    means = {2: [7.0, 8.0, 9.0], 4: [1.0, 2.0, 3.0], 8: [4.0, 5.0, 6.0], 16: [1.1, 1.2, 600.0], 32: [1.0, 100.0, 6.0]}
    records = {f: commit_record(db, mod, [s * 1e-3 for s in secs], factor=f) for f, secs in means.items()}
    top = db.get_top_k(db.commit_workload(mod), 2)
    assert len(top) == 2
    _same(top[0], records[4])
    _same(top[1], records[8])


@pytest.mark.parametrize(
    "run_secs, valid",
    [
        (None, False),
        ([], False),
        ([FAILED_SECS], False),
        ([FAILED_SECS, FAILED_SECS], False),
        ([FAILED_SECS, 2e-3], True),
    ],
    ids=["none", "empty", "failed", "all-failed", "one-of-two-failed"],
)
def test_only_measured_records_are_top_k(db, run_secs, valid):
    mod = matmul(32)
    commit_record(db, mod, run_secs)
    top = db.get_top_k(db.commit_workload(mod), 5)
    assert len(top) == (1 if valid else 0)
    assert len(db) == 1, "an invalid record is kept (it says the candidate failed), only never chosen"


def test_a_failed_record_never_outranks_a_measured_one(db):
    mod = matmul(32)
    measured = commit_record(db, mod, [3e-3], factor=4)
    commit_record(db, mod, [FAILED_SECS], factor=8)
    commit_record(db, mod, None, factor=16)
    (best,) = db.get_top_k(db.commit_workload(mod), 1)
    _same(best, measured)
    assert len(db.get_top_k(db.commit_workload(mod), 10)) == 1


def test_records_are_found_again_after_a_reload(tmp_path):
    uri, mod = str(tmp_path / "db"), matmul(32)
    first = ParquetDatabase(uri, TARGET, flush_interval_s=3600)
    records = {f: commit_record(first, mod, [secs], factor=f) for f, secs in {2: 7e-3, 4: 1e-3, 8: 4e-3}.items()}
    first.close()
    again = ParquetDatabase(uri, TARGET, flush_interval_s=3600)
    top = again.get_top_k(again.commit_workload(mod), 2)
    _same(top[0], records[4])
    _same(top[1], records[8])
    assert len(again) == 3
    again.close()


def test_a_union_with_a_memory_database_answers_the_best_of_both(db):
    mod, target = matmul(32), Target(TARGET)
    memory = ms.database.MemoryDatabase()
    commit_record(db, mod, [2e-3], factor=4)
    commit_record(memory, mod, [1e-3], factor=8)
    best = ms.database.UnionDatabase(db, memory).query_tuning_record(mod, target, "main")
    assert float(best.run_secs[0]) == pytest.approx(1e-3)
    first = ms.database.OrderedUnionDatabase(db, memory).query_tuning_record(mod, target, "main")
    assert float(first.run_secs[0]) == pytest.approx(2e-3), (
        "an ordered union answers from the first database that has one"
    )


def test_queries_by_record_schedule_and_module_apply_the_best_trace(db):
    mod, target = matmul(32), Target(TARGET)
    commit_record(db, mod, [5e-3], factor=4)
    best = commit_record(db, mod, [1e-3], factor=8)
    record = db.query_tuning_record(mod, target, "main")
    _same(record, best)
    expected = Schedule(mod)
    best.trace.apply_to_schedule(expected, remove_postproc=False)
    tvm.ir.assert_structural_equal(db.query_schedule(mod, target, "main").mod, expected.mod)
    tvm.ir.assert_structural_equal(db.query_ir_module(mod, target, "main"), expected.mod)
    assert db.query_tuning_record(matmul(16), target, "main") is None
