"""Import and export of MetaSchedule JSON databases, checked against TVM's own JSONDatabase."""

from __future__ import annotations

import shutil

import pytest
import tvm.s_tir.meta_schedule as ms

from tests.tuning_db.workloads import MATMUL128_LOG, matmul128_log
from tuning_db import TuningDatabase, TuningDbWarning
from tuning_db.json_io import JSONImportError, export_json, import_json

DATA = MATMUL128_LOG


def _top(db, k):
    records = db.get_top_k(db.commit_workload(matmul128_log()[0]), k)
    return [(str(r.trace), [float(s) for s in r.run_secs]) for r in records]


def test_import_counts_new_and_duplicate_records(db_uri):
    db = TuningDatabase(db_uri)
    first = import_json(db, DATA, model="matmul128")
    assert (first["workloads_new"], first["records_new"], first["records_duplicate"]) == (1, 16, 0)
    again = import_json(db, DATA)
    assert (again["workloads_new"], again["records_new"], again["records_duplicate"]) == (0, 0, 16)
    stats = db.stats()
    assert stats["records"] == 16 and stats["workloads"] == 1
    assert next(iter(db.workloads().values())).first_model == "matmul128"


def test_export_loads_in_tvm_json_database_with_the_same_top_k(db_uri, tmp_path):
    db = TuningDatabase(db_uri)
    import_json(db, DATA)
    (tk,) = db.stats()["targets"]
    out = tmp_path / "exported"
    result = export_json(db, str(out), tk)
    assert result["records"] == 16

    original = ms.database.JSONDatabase(work_dir=DATA)
    exported = ms.database.JSONDatabase(work_dir=str(out))
    assert len(exported) == len(original) == 16
    assert _top(exported, 16) == _top(original, 16)

    reimported = TuningDatabase(str(tmp_path / "again"))
    assert import_json(reimported, str(out))["records_new"] == 16
    assert reimported.record_ids(tk) == db.record_ids(tk), "export → import is lossless: same content ids"


def test_a_malformed_line_is_reported_with_its_line_number_and_nothing_is_written(tmp_path):
    work = tmp_path / "work"
    shutil.copytree(DATA, work)
    lines = (work / "database_tuning_record.json").read_text().splitlines()
    lines[6] = lines[6][: len(lines[6]) // 2]
    (work / "database_tuning_record.json").write_text("\n".join(lines) + "\n")
    db = TuningDatabase(str(tmp_path / "db"))
    with pytest.raises(JSONImportError, match=r"database_tuning_record\.json:7: malformed JSON"):
        import_json(db, str(work))
    assert db.stats()["records"] == 0

    with pytest.warns(TuningDbWarning, match=":7:"):
        result = import_json(db, str(work), skip_bad_lines=True)
    assert result["records_new"] == 15


def test_a_record_naming_a_missing_workload_is_reported(tmp_path):
    work = tmp_path / "work"
    shutil.copytree(DATA, work)
    with open(work / "database_tuning_record.json", "a") as f:
        f.write('[5,[[[],[]],[1e-05],{"kind":"llvm"},[]]]\n')
    with pytest.raises(JSONImportError, match=r":17: workload index 5 names no workload"):
        import_json(TuningDatabase(str(tmp_path / "db")), str(work))


def test_a_missing_work_dir_is_a_clear_error(tmp_path):
    with pytest.raises(JSONImportError, match="not found"):
        import_json(TuningDatabase(str(tmp_path / "db")), str(tmp_path / "nowhere"))
