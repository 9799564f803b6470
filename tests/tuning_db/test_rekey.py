"""`farm db rekey`: a database keyed by another TVM's script text is found again after re-keying, and a second run does nothing."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess

from tests.tuning_db.workloads import SMALL_TARGET as TARGET
from tests.tuning_db.workloads import commit_record, matmul
from tuning_db import TuningDatabase
from tuning_db.keys import record_id
from tuning_db.metaschedule import ParquetDatabase
from tuning_db.rekey import rekey


def _as_if_keyed_by_an_older_tvm(fresh: str, old: str) -> str:
    """Copy `fresh` into `old` with every workload keyed as another TVM would: another script text, structural hash and version."""
    source = TuningDatabase(fresh)
    (row,) = source.workloads().values()
    key = hashlib.sha256(b"# printed by TVM 0.26\n" + row.workload_key.encode()).hexdigest()
    stale = dataclasses.replace(row, workload_key=key, shash="12345", tvm_version="0.26.0")
    records = [
        dataclasses.replace(
            r, workload_key=key, record_id=record_id(key, r.target_json, r.trace_json, r.run_secs, r.args_info_json)
        )
        for tk in source.snapshot().target_keys()
        for r in source.view(tk).records()
    ]
    TuningDatabase(old).append(records, [stale])
    return key


def test_a_database_keyed_under_another_script_text_is_rekeyed_then_found(tmp_path):
    mod = matmul(32)
    fresh, old = str(tmp_path / "fresh"), str(tmp_path / "old")
    db = ParquetDatabase(fresh, TARGET, flush_interval_s=3600)
    for factor, secs in {2: 3e-3, 4: 1e-3, 8: 2e-3}.items():
        commit_record(db, mod, [secs], factor=factor)
    db.close()
    old_key = _as_if_keyed_by_an_older_tvm(fresh, old)

    before = ParquetDatabase(old, TARGET, flush_interval_s=3600)
    assert not before.has_workload(mod), "under this TVM's key and hash the stored module is not found"
    before.close()

    report = rekey(TuningDatabase(old))
    assert (report.examined, report.rekeyed, report.records_copied, report.unreadable) == (1, 1, 3, [])

    after = ParquetDatabase(old, TARGET, flush_interval_s=3600)
    assert after.has_workload(mod)
    top = after.get_top_k(after.commit_workload(mod), 3)
    assert [float(r.run_secs[0]) for r in top] == [1e-3, 2e-3, 3e-3]
    assert after.key_of(after.commit_workload(mod)) != old_key
    after.close()

    proc = subprocess.run(
        ["farm", "db", "rekey", "--db", old, "--json"], capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, proc.stderr
    again = json.loads(proc.stdout)
    assert (again["examined"], again["rekeyed"], again["already"], again["records_copied"]) == (1, 0, 1, 0), (
        "a second run is a no-op"
    )


def test_a_target_holds_only_its_own_workloads_modules(tmp_path):
    uri, other_target = str(tmp_path / "db"), {"kind": "llvm", "num-cores": 2}
    first = ParquetDatabase(uri, TARGET, flush_interval_s=3600)
    commit_record(first, matmul(32), [1e-3])
    first.close()
    second = ParquetDatabase(uri, other_target, flush_interval_s=3600)
    assert second.workloads.rows == {}, "another target's modules are not loaded"
    commit_record(second, matmul(16), [2e-3], target=other_target)
    second.close()
    again = ParquetDatabase(uri, TARGET, flush_interval_s=3600)
    assert [again.key_of(again.commit_workload(matmul(32)))] == list(again.workloads.rows)
    assert again.get_top_k(again.commit_workload(matmul(32)), 1)
    again.close()
    assert len(TuningDatabase(uri).workloads()) == 2
