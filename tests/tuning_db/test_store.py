"""The database on a local folder and on the loopback S3 server: commits, views, de-duplication, compaction, bad files."""

from __future__ import annotations

import json
import os
import time

import pytest

from tuning_db import DatabaseFormatError, TuningDatabase, TuningDbWarning, target_key
from tuning_db.log import MARKER, CommitLog, entry_name
from tuning_db.storage import FsspecStorage, StorageError
from tuning_db.synthetic import TARGETS, RecordFactory, workload_keys, workload_rows


@pytest.fixture
def factory() -> RecordFactory:
    return RecordFactory(seed=7)


def test_append_and_view_answer_top_k_best_first(db_uri, factory):
    db = TuningDatabase(db_uri)
    keys = workload_keys(6)
    records = factory.records(600, keys, TARGETS[:2])
    unmeasured = [factory.record(keys[0], TARGETS[0], measured=False) for _ in range(5)]
    result = db.append(records + unmeasured, workload_rows(keys))
    assert result.version == 0 and result.records == 605 and result.workloads == 6

    tk = records[0].target_key
    view = db.view(tk)
    assert len(view) == 305
    mine = sorted((r for r in records if r.target_key == tk and r.workload_key == keys[0]), key=lambda r: r.mean_secs)
    top = view.top_k(keys[0], 10)
    assert [r.record_id for r in top] == [r.record_id for r in mine[:10]]
    assert all(r.run_secs is not None for r in view.top_k(keys[0], 1000)), "unmeasured records are never top-k"
    assert view.count(keys[0]) == 55
    assert view.top_k("0" * 64, 3) == []

    stats = db.stats()
    assert stats["workloads"] == 6 and stats["records"] == 605
    assert stats["targets"] == {records[0].target_key: 305, records[6].target_key: 300}


def test_records_whose_every_run_failed_are_never_top_k(db_uri, factory):
    """TVM's own rule (its database suite): a record is valid when it has run times and not all are the failure value."""
    import dataclasses

    from tuning_db.schema import FAILED_SECS

    db = TuningDatabase(db_uri)
    keys = workload_keys(2)
    failed = [
        dataclasses.replace(factory.record(k, TARGETS[0]), run_secs=[FAILED_SECS]) for k in keys for _ in range(3)
    ]
    good = factory.record(keys[0], TARGETS[0])
    db.append([*failed, good], workload_rows(keys))
    view = db.view(good.target_key)
    assert [r.record_id for r in view.top_k(keys[0], 10)] == [good.record_id]
    assert view.top_k(keys[1], 10) == [] and view.count(keys[1]) == 3
    late = dataclasses.replace(factory.record(keys[1], TARGETS[0]), run_secs=[FAILED_SECS, FAILED_SECS])
    assert view.add(late) and view.top_k(keys[1], 10) == []


def test_view_of_a_target_reads_only_its_partition(db_uri, factory):
    db = TuningDatabase(db_uri)
    keys = workload_keys(4)
    db.append(factory.records(400, keys, TARGETS[:4]))
    snap = db.snapshot()
    tk = factory.records(1, keys, TARGETS[1:2])[0].target_key
    files = snap.record_files(tk)
    assert files and all(f.path.startswith(f"records/target_key={tk}/bucket=") for f in files)
    assert len(db.view(tk)) == 100


def test_reads_deduplicate_by_record_id(db_uri, factory):
    db = TuningDatabase(db_uri)
    keys = workload_keys(3)
    records = factory.records(90, keys)
    db.append(records)
    db.append(records[:50])
    db.append(records[40:])
    assert db.stats()["records"] == 90
    assert len(db.view(records[0].target_key)) == 90


def test_a_commit_is_all_or_nothing_with_its_workloads(db_uri, factory):
    db = TuningDatabase(db_uri)
    keys = workload_keys(2)
    db.append(factory.records(10, keys), workload_rows(keys))
    snap = db.snapshot()
    assert snap.version == 0
    assert {f.table for f in snap.files.values()} == {"records", "workloads"}
    assert set(db.workloads()) == set(keys)


def test_compaction_keeps_every_record_and_the_same_answers(db_uri, factory):
    db = TuningDatabase(db_uri)
    keys = workload_keys(8)
    for i in range(6):
        db.append(factory.records(200, keys, TARGETS[:2]), workload_rows(keys[i : i + 2]))
    db.append(factory.records(100, keys, TARGETS[:2])[:50])  # overlaps nothing: fresh random traces
    before = db.stats()
    tk = factory.records(1, keys)[0].target_key
    top_before = [r.record_id for r in db.view(tk).top_k(keys[3], 20)]
    files_before = len(db.snapshot().files)

    result = db.compact(retention_s=3600)
    assert result["files_merged"] > result["partitions_merged"] > 0
    after = db.stats()
    assert (after["records"], after["workloads"], after["targets"]) == (
        before["records"],
        before["workloads"],
        before["targets"],
    )
    assert len(db.snapshot().files) < files_before
    assert [r.record_id for r in db.view(tk).top_k(keys[3], 20)] == top_before
    snap = db.snapshot()
    assert snap.tombstones, "removed files are kept for readers of older snapshots"
    assert snap.checkpoint_version == snap.version


def test_vacuum_deletes_removed_files_only_after_retention(tmp_path, factory):
    db = TuningDatabase(str(tmp_path / "db"))
    keys = workload_keys(2)
    for _ in range(3):
        db.append(factory.records(20, keys))
    old_files = {f.path for f in db.snapshot().files.values()}
    db.compact(retention_s=3600)
    assert all((tmp_path / "db" / p).exists() for p in old_files)
    db.vacuum(retention_s=0)
    assert not any((tmp_path / "db" / p).exists() for p in old_files)
    assert db.stats()["records"] == 60


def test_a_stale_writer_never_commits_below_the_newest_checkpoint(db_uri, factory):
    """Issue 12 item 7: a writer whose cached next version was freed by a vacuum must not commit where readers never look."""
    keys = workload_keys(2)
    stale = TuningDatabase(db_uri)
    stale.append(factory.records(5, keys), workload_rows(keys))  # caches its next version
    other = TuningDatabase(db_uri)
    for _ in range(3):
        other.append(factory.records(5, keys))
    other.compact(retention_s=0, min_files=2)
    other.vacuum(
        retention_s=0, orphan_grace_s=0
    )  # frees the log slots below the checkpoint, the stale writer's among them
    late = factory.records(5, keys)
    stale.append(late)
    other.vacuum(retention_s=0, orphan_grace_s=0)  # would delete a hidden commit's part files as orphans
    fresh = TuningDatabase(db_uri)
    assert fresh.stats()["records"] == 25
    seen = {r.record_id for k in keys for r in fresh.view(late[0].target_key).records(k)}
    assert {r.record_id for r in late} <= seen


class IgnoresCreateOnly(FsspecStorage):
    """An S3-compatible server that ignores `If-None-Match: *`, as some do: a create-only put overwrites a taken name."""

    def put_new(self, path: str, data: bytes) -> bool:
        self.put(path, data)
        return True


@pytest.mark.s3
def test_a_store_that_ignores_create_only_writes_is_refused_before_a_commit(s3_uri, factory):
    """Issue 12 item 7: on such a store two writers could both claim a log version; opening it for writing fails instead."""
    keys = workload_keys(2)
    TuningDatabase(s3_uri).append(factory.records(5, keys), workload_rows(keys))
    careless = TuningDatabase(s3_uri)
    careless.storage = IgnoresCreateOnly(s3_uri)
    careless.log = CommitLog(careless.storage)
    with pytest.raises(StorageError, match="does not honour create-only writes"):
        careless.append(factory.records(5, keys))
    assert TuningDatabase(s3_uri).stats()["records"] == 5
    assert not [o for o in careless.storage.list("") if "probe" in o.path], "the probe leaves nothing behind"


def test_orphan_part_files_of_dead_writers_are_invisible_then_vacuumed(tmp_path, factory):
    db = TuningDatabase(str(tmp_path / "db"))
    keys = workload_keys(2)
    db.append(factory.records(20, keys))
    orphan = tmp_path / "db" / "records" / "target_key=x" / "bucket=00" / "part-orphan.parquet"
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"half a parquet file")
    assert db.stats()["records"] == 20
    assert db.vacuum(retention_s=0)["orphans_deleted"] == 0, "a writer that has not committed yet looks the same"
    hours_ago = time.time() - 2 * 3600
    os.utime(orphan, (hours_ago, hours_ago))
    assert db.vacuum(retention_s=0)["orphans_deleted"] == 1
    assert not orphan.exists()


def test_corrupt_and_foreign_files_are_skipped_with_a_warning(tmp_path, factory):
    root = tmp_path / "db"
    db = TuningDatabase(str(root))
    keys = workload_keys(2)
    db.append(factory.records(20, keys))
    good = db.append(factory.records(20, keys))
    victim = next(f for f in db.snapshot().files.values() if f.added_version == good.version)
    (root / victim.path).write_bytes(b"PAR1 this is not parquet")
    (root / "_log" / "notes.txt").write_text("someone's notes")
    (root / entry_name(2)).write_text("{not json")
    with pytest.warns(TuningDbWarning) as caught:  # noqa: PT031 - warnings of a commit and of a read, counted together
        third = db.append(factory.records(20, keys))
        assert third.version == 3, "a corrupt entry still holds its version"
        stats = db.stats()
    messages = [str(w.message) for w in caught]
    assert sum("notes.txt" in m for m in messages) == 1, (
        "a foreign file is reported once, however often the log is listed"
    )
    assert any("corrupt log entry" in m for m in messages) and any(
        "corrupt or foreign part file" in m for m in messages
    )
    assert stats["records"] == 60 - victim.rows


def test_a_folder_that_is_not_a_database_is_refused(tmp_path, factory):
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"\xff\xd8")
    db = TuningDatabase(str(tmp_path / "photos"))
    with pytest.raises(DatabaseFormatError, match="not a tuning database"):
        db.append(factory.records(1, workload_keys(1)))
    assert (tmp_path / "photos" / "cat.jpg").exists()


def test_a_newer_format_is_refused_with_a_clear_error(tmp_path, factory):
    db = TuningDatabase(str(tmp_path / "db"))
    db.append(factory.records(1, workload_keys(1)))
    (tmp_path / "db" / MARKER).write_text(json.dumps({"format": "farm-tuning-db", "format_version": 99}))
    with pytest.raises(DatabaseFormatError, match="format 99"):
        TuningDatabase(str(tmp_path / "db")).stats()


def test_an_empty_or_missing_database_reads_as_empty(db_uri):
    db = TuningDatabase(db_uri)
    assert db.stats()["records"] == 0
    assert len(db.view(target_key(TARGETS[0]))) == 0


def test_session_open_is_timed_by_partition_not_database(tmp_path, factory):
    """Opening one target must not read other targets' files (a proxy that does not depend on timing)."""
    db = TuningDatabase(str(tmp_path / "db"))
    keys = workload_keys(4)
    db.append(factory.records(800, keys, TARGETS))
    reads: list[str] = []
    original = db.storage.read_many

    def counting(paths):
        reads.extend(paths)
        return original(paths)

    db.storage.read_many = counting
    tk = factory.records(1, keys, TARGETS[2:3])[0].target_key
    start = time.perf_counter()
    db.view(tk)
    assert time.perf_counter() - start < 30
    data_reads = [p for p in reads if p.startswith("records/")]
    assert data_reads and all(f"target_key={tk}/" in p for p in data_reads)
