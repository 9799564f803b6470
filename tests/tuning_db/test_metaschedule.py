"""MetaSchedule tunes a real matmul through the Parquet database, and a later session starts from its records."""

from __future__ import annotations

import errno
import json
import os
import subprocess
import sys

import pytest
import tvm.s_tir.meta_schedule as ms
from tvm.s_tir.meta_schedule import tir_integration
from tvm.s_tir.meta_schedule.database import TuningRecord
from tvm.target import Target

from cluster.tvm_intrinsics import import_tensor_intrinsics
from tests.tuning_db.workloads import MATMUL128_TARGET, matmul, matmul128_log
from tuning_db import TuningDatabase
from tuning_db.metaschedule import ParquetDatabase, local_device_fingerprint, measure_callbacks
from tuning_db.storage import LocalStorage
from tuning_db.workload import workload_key

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TARGET = {"kind": "llvm", "num-cores": 1}
N = 64
TRIALS, PER_ITER = 16, 8


def _tune(db: ParquetDatabase, work_dir: str, trials: int):
    import_tensor_intrinsics()  # 4 s instead of 14-25 s, here and in each build worker (the same intrinsics)
    return tir_integration.tune_tir(
        matmul(N),
        Target(TARGET),
        work_dir=work_dir,
        max_trials_global=trials,
        num_trials_per_iter=PER_ITER,
        # LocalBuilder starts a fresh worker for every batch
        builder=ms.builder.LocalBuilder(max_workers=1, timeout_sec=300, initializer=import_tensor_intrinsics),
        runner=ms.runner.LocalRunner(timeout_sec=120),
        database=db,
        measure_callbacks=measure_callbacks(db),
    )


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
    """One real tuning session of a 64×64 matmul, written through ParquetDatabase."""
    root = tmp_path_factory.mktemp("ms")
    uri = str(root / "db")
    db = ParquetDatabase(uri, TARGET, job_id="job-1", model="matmul64", flush_interval_s=3600)
    _tune(db, str(root / "work"), TRIALS)
    assert db.pending == 0, "the flush callback wrote every measured batch"
    db.close()
    return uri, db.target_key


@pytest.mark.slow
def test_tuning_writes_every_measured_candidate_with_its_provenance(tuned):
    uri, tk = tuned
    store = TuningDatabase(uri)
    stats = store.stats()
    assert stats["targets"] == {tk: TRIALS}
    (wl,) = store.workloads().values()
    assert wl.workload_key == workload_key(matmul(N))
    assert wl.flops == 2 * N**3 and wl.first_model == "matmul64"
    view = store.view(tk)
    rows = list(view.records())
    assert {r.job_id for r in rows} == {"job-1"} and {r.device_fingerprint for r in rows} == {
        local_device_fingerprint()
    }
    assert all(r.tvm_version for r in rows)
    best = view.top_k(wl.workload_key, 1)[0]
    assert 0 < best.mean_secs < 0.1
    assert stats["version"] >= TRIALS // PER_ITER - 1, "at least one commit per measured batch"


@pytest.mark.slow
def test_a_second_session_finds_the_records_before_measuring(tuned):
    uri, _ = tuned
    out = subprocess.run(
        [sys.executable, "-m", "tests.tuning_db.tune_worker", uri, json.dumps(TARGET), str(N)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["known"] and seen["size"] == TRIALS
    assert len(seen["top"]) == 3 and seen["top"] == sorted(seen["top"])


@pytest.mark.slow
def test_another_target_sees_none_of_them(tuned):
    uri, _ = tuned
    other = ParquetDatabase(uri, {"kind": "llvm", "num-cores": 2})
    assert len(other) == 0
    assert other.get_top_k(other.commit_workload(matmul(N)), 5) == []
    other.close()


@pytest.mark.slow
def test_a_second_tuning_run_continues_from_the_database(tuned, tmp_path):
    uri, tk = tuned
    db = ParquetDatabase(uri, TARGET, job_id="job-2")
    wl = db.commit_workload(matmul(N))
    best_before = float(db.get_top_k(wl, 1)[0].run_secs[0])
    _tune(db, str(tmp_path / "work2"), PER_ITER)
    db.close()
    view = TuningDatabase(uri).view(tk)
    assert len(view) == TRIALS + PER_ITER
    assert {r.job_id for r in view.records()} == {"job-1", "job-2"}
    assert view.top_k(workload_key(matmul(N)), 1)[0].mean_secs <= best_before * 1.0001


class _SmallDisk(LocalStorage):
    """A local folder that runs out of space after `free` bytes, until space is freed."""

    def __init__(self, root: str, free: int) -> None:
        super().__init__(root)
        self.free = free

    def _write_temp(self, path: str, data: bytes) -> str:
        if len(data) > self.free:
            raise OSError(errno.ENOSPC, "No space left on device", path)
        self.free -= len(data)
        return super()._write_temp(path, data)


def test_a_full_disk_fails_the_flush_clearly_and_keeps_the_batch(tmp_path):
    mod, lines = matmul128_log()
    store = TuningDatabase(str(tmp_path / "db"))
    store.storage = _SmallDisk(str(tmp_path / "db"), free=1000)
    store.log.storage = store.storage
    db = ParquetDatabase(store, MATMUL128_TARGET, flush_interval_s=3600)
    wl = db.commit_workload(mod)
    for rec in lines:
        db.commit_tuning_record(TuningRecord.from_json(rec, wl))
    with pytest.raises(OSError, match="No space left"):
        db.flush()
    assert db.pending == len(lines), "nothing buffered is dropped"
    assert TuningDatabase(str(tmp_path / "db")).stats()["records"] == 0, "and nothing half-written is visible"
    assert len(db.get_top_k(wl, 3)) == 3, "the session keeps answering from memory"

    store.storage.free = 10**9
    db.close()
    assert db.pending == 0
    assert TuningDatabase(str(tmp_path / "db")).stats()["records"] == len(lines)


def test_closing_a_session_compacts_its_target_once_it_has_many_files(tmp_path):
    mod, lines = matmul128_log()
    uri = str(tmp_path / "db")
    db = ParquetDatabase(uri, MATMUL128_TARGET, flush_interval_s=3600, auto_compact_files=3)
    wl = db.commit_workload(mod)
    for i, rec in enumerate(lines):
        db.commit_tuning_record(TuningRecord.from_json(rec, wl))
        if i % 4 == 3:
            db.flush()
    store = TuningDatabase(uri)
    assert len(store.snapshot().record_files(db.target_key)) == 4
    db.close()
    assert len(store.snapshot().record_files(db.target_key)) == 1
    assert store.stats()["records"] == len(lines)
