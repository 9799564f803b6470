"""`farm db …` through the installed console command, against local and S3 databases."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data", "matmul128-znver4")


def farm(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["farm", *args], capture_output=True, text=True, timeout=300, check=False)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


@pytest.mark.slow
def test_import_stats_top_export_compact(db_uri, tmp_path):
    imported = json.loads(farm("db", "import-json", DATA, "--db", db_uri, "--json").stdout)
    assert imported["workloads_new"] == 1 and imported["records_new"] == 16 and imported["records_duplicate"] == 0
    again = json.loads(farm("db", "import-json", DATA, "--db", db_uri, "--json").stdout)
    assert again["records_new"] == 0 and again["records_duplicate"] == 16

    stats = json.loads(farm("db", "stats", "--db", db_uri, "--json").stdout)
    assert stats["workloads"] == 1 and stats["records"] == 16
    ((tk, n),) = stats["targets"].items()
    assert n == 16 and tk.startswith("llvm-znver4-c2-")

    store_key = _workload_key(db_uri)
    top = json.loads(
        farm("db", "top", "--db", db_uri, "--workload", store_key[:12], "--target", tk, "-k", "3", "--json").stdout
    )
    secs = [r["mean_secs"] for r in top["records"]]
    assert len(secs) == 3 and secs == sorted(secs) and top["workload_key"] == store_key

    out = tmp_path / "exported"
    exported = json.loads(farm("db", "export-json", str(out), "--db", db_uri, "--target", tk, "--json").stdout)
    assert exported["records"] == 16
    assert len((out / "database_tuning_record.json").read_text().splitlines()) == 16

    compacted = json.loads(farm("db", "compact", "--db", db_uri, "--json").stdout)
    assert {"files_merged", "partitions_merged", "files_deleted"} <= set(compacted)
    assert json.loads(farm("db", "stats", "--db", db_uri, "--json").stdout)["records"] == 16


def _workload_key(uri: str) -> str:
    from tuning_db import TuningDatabase

    return next(iter(TuningDatabase(uri).workloads()))


def test_errors_are_one_clear_line_and_exit_code_2(tmp_path):
    work = tmp_path / "work"
    shutil.copytree(DATA, work)
    with open(work / "database_workload.json", "a") as f:
        f.write("{oops\n")
    proc = farm("db", "import-json", str(work), "--db", str(tmp_path / "db"), check=False)
    assert proc.returncode == 2 and "database_workload.json:2: malformed JSON" in proc.stderr
    assert "Traceback" not in proc.stderr

    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("x")
    proc = farm("db", "import-json", DATA, "--db", str(tmp_path / "notes"), check=False)
    assert proc.returncode == 2 and "not a tuning database" in proc.stderr

    proc = farm("db", "top", "--db", str(tmp_path / "db"), "--workload", "ab", "--target", "nope", check=False)
    assert proc.returncode == 2 and "no records for target 'nope'" in proc.stderr


def test_default_database_lives_in_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("FARM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("FARM_DB", raising=False)
    farm("db", "import-json", DATA)
    assert (tmp_path / "data" / "tuning-db" / "_tuning_db.json").exists()
    assert json.loads(farm("db", "stats", "--json").stdout)["records"] == 16


@pytest.mark.parametrize("garbage", [b"PAR1garbage", b""])
def test_stats_survives_a_corrupt_part_file_with_a_warning(tmp_path, garbage):
    db = str(tmp_path / "db")
    farm("db", "import-json", DATA, "--db", db)
    part = next((tmp_path / "db" / "records").rglob("part-*.parquet"))
    part.write_bytes(garbage)
    proc = farm("db", "stats", "--db", db, "--json")
    assert "warning:" in proc.stderr and "corrupt or foreign part file" in proc.stderr
    assert json.loads(proc.stdout)["records"] == 0
