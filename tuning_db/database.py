"""The tuning-log database: a Parquet dataset of workloads and records at a URI.

`TuningDatabase(uri)` is the entry point. `append` writes one atomic commit of
workloads and records; `view(target)` opens everything known about one target as an
in-memory index (`TargetView`); `stats`, `compact` and `vacuum` maintain the store.
Many processes on many machines may append to the same URI at once (see
`tuning_db.log` for the protocol). Reads de-duplicate records by record id, keeping
the first committed copy.
"""

from __future__ import annotations

import io
import os
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .keys import bucket_of
from .log import CommitLog, DataFile, Snapshot, TuningDbWarning, warn
from .schema import (
    ADDED_COLUMNS,
    RECORD_SCHEMA,
    WORKLOAD_SCHEMA,
    RecordRow,
    WorkloadRow,
    records_to_table,
    table_to_workloads,
    workloads_to_table,
)
from .storage import Storage, StorageError, check_create_only, open_storage
from .view import TargetView, dedupe_first

PARQUET_COMPRESSION = "lz4"  # decodes ~40% faster than zstd: session open is read-bound
ROW_GROUP_ROWS = 16_384
COMPACT_MIN_FILES = 2
COMPACT_TARGET_ROWS = 500_000
DEFAULT_RETENTION_S = 3600.0
# A part file no log entry names is either left by a writer that died or written by one that has not committed
# yet: it is deleted only once it is this old, whatever the retention of removed files.
ORPHAN_GRACE_S = 3600.0
_READ_ATTEMPTS = 50
_WRITE_THREADS = 8
_READ_THREADS = max(2, os.cpu_count() or 1)

__all__ = ["CommitResult", "TuningDatabase", "TuningDbWarning"]


@dataclass(frozen=True)
class CommitResult:
    """What one `append` wrote."""

    version: int | None
    workloads: int
    records: int
    files: int


def _part_name() -> str:
    return f"part-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:16]}.parquet"


def _record_part(target_key: str, bucket: int, table: pa.Table) -> tuple[str, pa.Table, dict]:
    """A write job for a new part file of one record partition (hive layout: target key, then bucket)."""
    meta = {"table": "records", "target_key": target_key, "bucket": bucket}
    return f"records/target_key={target_key}/bucket={bucket:02d}/{_part_name()}", table, meta


def _workload_part(table: pa.Table) -> tuple[str, pa.Table, dict]:
    """A write job for a new part file of the workloads table."""
    return f"workloads/{_part_name()}", table, {"table": "workloads"}


def _to_parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression=PARQUET_COMPRESSION, row_group_size=ROW_GROUP_ROWS)
    return sink.getvalue()


class TuningDatabase:
    """A shared tuning-log database at a local folder or `s3://bucket/prefix`."""

    def __init__(self, uri: str, storage_options: dict | None = None) -> None:
        self.uri = uri
        self.storage: Storage = open_storage(uri, storage_options)
        self.log = CommitLog(self.storage)
        self._writable = False

    def __repr__(self) -> str:
        return f"TuningDatabase({self.uri!r})"

    # -- writing ------------------------------------------------------------
    def _ensure_writable(self) -> None:
        if not self._writable:
            self.log.check_marker(create=True)
            check_create_only(self.storage)
            self._writable = True

    def _write_part(self, path: str, data: pa.Table, **meta) -> DataFile:
        raw = _to_parquet(data)
        self.storage.put(path, raw)
        return DataFile(path=path, rows=data.num_rows, size=len(raw), **meta)

    def _write_parts(self, jobs: list[tuple[str, pa.Table, dict]]) -> list[DataFile]:
        """Encode and store part files concurrently (pyarrow compresses without the GIL; S3 puts overlap)."""
        if len(jobs) == 1:
            return [self._write_part(path, data, **meta) for path, data, meta in jobs]
        with ThreadPoolExecutor(max_workers=min(_WRITE_THREADS, len(jobs))) as pool:
            return list(pool.map(lambda job: self._write_part(job[0], job[1], **job[2]), jobs))

    def append(
        self,
        records: Iterable[RecordRow] = (),
        workloads: Iterable[WorkloadRow] = (),
        info: dict | None = None,
    ) -> CommitResult:
        """Write records and workloads as one commit: all become visible together, or none do.

        Record ids must be set (see `tuning_db.keys.record_id`); duplicates of records
        already stored are harmless, since reads de-duplicate by id.
        """
        records = list(records)
        workloads = list(workloads)
        if not records and not workloads:
            return CommitResult(None, 0, 0, 0)
        self._ensure_writable()
        jobs = [_workload_part(workloads_to_table(workloads))] if workloads else []
        partitions: dict[tuple[str, int], list[RecordRow]] = {}
        for r in records:
            partitions.setdefault((r.target_key, bucket_of(r.workload_key)), []).append(r)
        jobs += [_record_part(tk, bucket, records_to_table(rows)) for (tk, bucket), rows in partitions.items()]
        parts = self._write_parts(jobs)
        version = self.log.commit(parts, operation="append", info=info)
        return CommitResult(version, len(workloads), len(records), len(parts))

    # -- reading ------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        if not self.log.check_marker(create=False):
            return Snapshot()
        return self.log.snapshot()

    def _read_tables(
        self, files: list[DataFile], schema: pa.Schema, columns: list[str] | None = None
    ) -> list[pa.Table]:
        """Read part files; a corrupt or foreign one is skipped with a warning. Raises FileNotFoundError if one vanished."""
        raws = self.storage.read_many([f.path for f in files])
        wanted = columns or schema.names
        target_schema = pa.schema([schema.field(n) for n in wanted])

        def decode(raw: bytes) -> pa.Table | Exception:
            try:
                # ParquetFile.read skips the dataset layer of read_table: ~2x faster on small files
                part = pq.ParquetFile(pa.BufferReader(raw))
                present = set(part.schema_arrow.names)
                missing = [n for n in wanted if n not in present]
                if set(missing) - ADDED_COLUMNS:
                    raise KeyError(f"columns missing: {', '.join(sorted(set(missing) - ADDED_COLUMNS))}")
                table = part.read(columns=[n for n in wanted if n in present], use_threads=False)
                for name in missing:
                    table = table.append_column(
                        target_schema.field(name), pa.nulls(table.num_rows, target_schema.field(name).type)
                    )
                return table.select(wanted).cast(target_schema)
            except (pa.ArrowException, ValueError, KeyError) as e:
                return e

        for f in files:
            raw = raws[f.path]
            if isinstance(raw, FileNotFoundError):
                raise raw
            if isinstance(raw, Exception):
                raise StorageError(f"cannot read {f.path!r} from {self.uri}: {raw}") from raw
        with ThreadPoolExecutor(max_workers=_READ_THREADS) as pool:
            decoded = list(pool.map(decode, [raws[f.path] for f in files]))
        tables = []
        for f, t in zip(files, decoded):
            if isinstance(t, Exception):
                warn(f"skipping corrupt or foreign part file {f.path!r}: {t}")
            else:
                tables.append(t)
        return tables

    def _read_consistent(
        self, pick, schema: pa.Schema, columns: list[str] | None = None
    ) -> tuple[Snapshot, list[tuple[DataFile, pa.Table]]]:
        """Read the files `pick(snapshot)` selects; retry on a fresh snapshot if one was vacuumed meanwhile.

        A reader racing a compaction may lose several times in a row on a busy machine: it retries for as long
        as each failure comes with a newer snapshot, and raises only when a file of an unchanged snapshot is gone.
        """
        snap = self.snapshot()
        for _ in range(_READ_ATTEMPTS):
            files = pick(snap)
            try:
                return snap, list(zip(files, self._read_tables(files, schema, columns)))
            except FileNotFoundError:
                fresh = self.snapshot()
                if fresh.version == snap.version:
                    raise
                snap = fresh
        raise StorageError(f"{self.uri}: files kept vanishing under {_READ_ATTEMPTS} successive snapshots")

    def workloads(self, keys: Iterable[str] | None = None) -> dict[str, WorkloadRow]:
        """Workloads by key (the first committed row of each key wins): all, or those of `keys` only.

        A target's session needs only the workloads its target has records of (`TargetView.workload_keys`):
        each row holds a serialized module, and a shared database holds every target's.
        """
        _, parts = self._read_consistent(lambda s: s.workload_files(), WORKLOAD_SCHEMA)
        wanted = pa.array(sorted(set(keys)), pa.string()) if keys is not None else None
        out: dict[str, WorkloadRow] = {}
        for _, t in parts:
            if wanted is not None:
                t = t.filter(pc.is_in(t["workload_key"], value_set=wanted))
            for row in table_to_workloads(t):
                out.setdefault(row.workload_key, row)
        return out

    def view(self, target_key: str) -> TargetView:
        """Open everything the database knows about one target key (see `tuning_db.keys.target_key`)."""
        _, parts = self._read_consistent(lambda s: s.record_files(target_key), RECORD_SCHEMA)
        tables = [t for _, t in parts]
        return TargetView(target_key, pa.concat_tables(tables) if tables else RECORD_SCHEMA.empty_table())

    def record_ids(self, target_key: str) -> set[str]:
        """Ids of all records stored for one target key."""
        _, parts = self._read_consistent(lambda s: s.record_files(target_key), RECORD_SCHEMA, ["record_id"])
        return {i for _, t in parts for i in t["record_id"].to_pylist()}

    def stats(self) -> dict:
        """Counts after de-duplication: workloads, records, records per target, files and bytes."""
        snap, parts = self._read_consistent(lambda s: s.record_files(), RECORD_SCHEMA, ["record_id", "workload_key"])
        per_target: dict[str, list[pa.Table]] = {}
        for f, t in parts:
            per_target.setdefault(f.target_key, []).append(t)
        targets = {}
        workloads_per_target = {}
        for tk, tables in sorted(per_target.items()):
            t = pa.concat_tables(tables)
            targets[tk] = pc.count_distinct(t["record_id"]).as_py()
            workloads_per_target[tk] = pc.count_distinct(t["workload_key"]).as_py()
        return {
            "uri": self.uri,
            "version": snap.version,
            "workloads": len(self.workloads()),
            "records": sum(targets.values()),
            "targets": targets,
            "workloads_per_target": workloads_per_target,
            "files": len(snap.files),
            "bytes": sum(f.size for f in snap.files.values()),
        }

    # -- maintenance --------------------------------------------------------
    def compact(
        self,
        retention_s: float = DEFAULT_RETENTION_S,
        min_files: int = COMPACT_MIN_FILES,
        target_key: str | None = None,
    ) -> dict:
        """Merge small part files per partition (of one target key, if given), then checkpoint the log and vacuum.

        Each merge is one commit that removes the small files and adds the merged
        ones, so at no moment are records missing from the database; the small files
        stay on storage for `retention_s` for readers that still hold an older snapshot.
        """
        self._ensure_writable()
        snap = self.log.snapshot()
        groups: dict[tuple, list[DataFile]] = {}
        for f in snap.files.values():
            if target_key is None or f.table == "workloads" or f.target_key == target_key:
                groups.setdefault((f.table, f.target_key, f.bucket), []).append(f)
        merged_partitions = 0
        files_removed = 0
        for (table, tk, bucket), files in sorted(groups.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
            if len(files) < min_files:
                continue
            files.sort(key=lambda f: (f.added_version, f.path))
            schema = RECORD_SCHEMA if table == "records" else WORKLOAD_SCHEMA
            tables = self._read_tables(files, schema)
            if not tables:
                continue
            merged = dedupe_first(pa.concat_tables(tables), "record_id" if table == "records" else "workload_key")
            if table == "records":
                merged = merged.sort_by([("workload_key", "ascending"), ("mean_secs", "ascending")])
                chunks = range(0, merged.num_rows, COMPACT_TARGET_ROWS)
                new_parts = self._write_parts(
                    [_record_part(tk, bucket, merged.slice(start, COMPACT_TARGET_ROWS)) for start in chunks]
                )
            else:
                new_parts = self._write_parts([_workload_part(merged)])
            self.log.commit(new_parts, remove=[f.path for f in files], operation="compact")
            merged_partitions += 1
            files_removed += len(files)
        vacuumed = self.vacuum(retention_s)
        return {"partitions_merged": merged_partitions, "files_merged": files_removed, **vacuumed}

    def vacuum(self, retention_s: float = DEFAULT_RETENTION_S, orphan_grace_s: float = ORPHAN_GRACE_S) -> dict:
        """Checkpoint the log; delete removed files and superseded log entries older than `retention_s`, orphans older than both."""
        self._ensure_writable()
        cutoff = time.time() - retention_s
        orphan_cutoff = min(cutoff, time.time() - orphan_grace_s)
        snap = self.log.snapshot()
        expired = [t for t in snap.tombstones.values() if t.removed_at < cutoff]
        for t in expired:
            self.storage.delete(t.path)
            del snap.tombstones[t.path]
        orphans = 0
        foreign = 0
        for prefix in ("records", "workloads"):
            for obj in self.storage.list(prefix):
                if obj.path in snap.files or obj.path in snap.tombstones:
                    continue
                name = obj.path.rsplit("/", 1)[-1]
                if not (name.startswith("part-") and name.endswith(".parquet")) and not name.startswith(".tmp-"):
                    foreign += 1
                    warn(f"leaving foreign file {obj.path!r} alone")
                elif obj.mtime < orphan_cutoff:
                    self.storage.delete(obj.path)
                    orphans += 1
        if snap.version >= 0 and snap.version != snap.checkpoint_version:
            self.log.write_checkpoint(snap)
            snap.checkpoint_version = snap.version
        old_log = self.log.expired_log_objects(snap, cutoff)
        for path in old_log:
            self.storage.delete(path)
        return {
            "files_deleted": len(expired),
            "orphans_deleted": orphans,
            "foreign_files": foreign,
            "log_objects_deleted": len(old_log),
        }
