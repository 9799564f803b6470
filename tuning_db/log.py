"""The commit log: which part files make up the database.

Layout under the database root::

    _tuning_db.json                               marker: format name and version
    _log/00000000000000000007.json                one entry per commit (create-only)
    _log/00000000000000000007.checkpoint.json     live files as of version 7
    records/target_key=K/bucket=NN/part-*.parquet
    workloads/part-*.parquet

Protocol. A writer first writes its part files under fresh unique names; they are
invisible, because readers only read files the log names. It then claims the next
log version with a create-only put of an entry listing them. If another writer took
that version first, it tries the next one. A version is only tried once the one
before it exists, so the log has no gaps and a commit is all-or-nothing: a writer
killed before its entry lands leaves only orphan part files, which `vacuum` deletes
once they are older than both the retention period and an hour's grace (until its
entry lands, a live writer's part files look exactly like orphans).

A reader lists `_log/`, starts from the newest checkpoint and applies the entries
after it: live files = added − removed. Compaction is one entry that removes small
files and adds their merge; the removed files stay on storage for the retention
period (as tombstones in the snapshot), so a reader working from an older snapshot
still finds every file it was told about. Files that do not belong to the log are
never read; unknown names are reported with a warning and left alone.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
import warnings
from dataclasses import asdict, dataclass, field

from .schema import FORMAT_NAME, FORMAT_VERSION
from .storage import Storage, StorageError

LOG_DIR = "_log"
MARKER = "_tuning_db.json"
_ENTRY = re.compile(r"^_log/(\d{20})\.json$")
_CHECKPOINT = re.compile(r"^_log/(\d{20})\.checkpoint\.json$")
_SNAPSHOT_ATTEMPTS = 5
_COMMIT_ATTEMPTS = 10_000


class DatabaseFormatError(StorageError):
    """The URI does not hold a tuning database this code can read."""


class TuningDbWarning(UserWarning):
    """Something in the database was skipped: a corrupt or foreign file."""


@dataclass(frozen=True)
class DataFile:
    """A committed part file."""

    path: str
    table: str
    rows: int
    size: int
    target_key: str | None = None
    bucket: int | None = None
    added_version: int = -1


@dataclass(frozen=True)
class Tombstone:
    """A part file removed from the live set (by compaction) but not yet deleted."""

    path: str
    removed_version: int
    removed_at: float


@dataclass
class Snapshot:
    """The database's live files as of one log version (-1: empty database)."""

    version: int = -1
    files: dict[str, DataFile] = field(default_factory=dict)
    tombstones: dict[str, Tombstone] = field(default_factory=dict)
    checkpoint_version: int = -1

    def record_files(self, target_key: str | None = None) -> list[DataFile]:
        """Live record files, in commit order, optionally of one target only."""
        out = [
            f
            for f in self.files.values()
            if f.table == "records" and (target_key is None or f.target_key == target_key)
        ]
        return sorted(out, key=lambda f: (f.added_version, f.path))

    def workload_files(self) -> list[DataFile]:
        return sorted(
            (f for f in self.files.values() if f.table == "workloads"), key=lambda f: (f.added_version, f.path)
        )

    def target_keys(self) -> list[str]:
        return sorted({f.target_key for f in self.files.values() if f.table == "records" and f.target_key})


def entry_name(version: int) -> str:
    return f"{LOG_DIR}/{version:020d}.json"


def checkpoint_name(version: int) -> str:
    return f"{LOG_DIR}/{version:020d}.checkpoint.json"


def _writer_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def warn(message: str) -> None:
    """Report damage the database reads around (a corrupt or foreign file) as a `TuningDbWarning`."""
    warnings.warn(message, TuningDbWarning, stacklevel=3)


class CommitLog:
    """Reads snapshots of, and appends entries to, one database's log."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self._next_version: int | None = None
        self._foreign_reported: set[str] = set()  # each foreign file is reported once, however often the log is listed

    # -- marker -------------------------------------------------------------
    def check_marker(self, create: bool) -> bool:
        """Verify the root holds a tuning database; create the marker if asked and the root is ours to take.

        Returns whether a database exists (after creating it, if `create`).
        """
        try:
            raw = self.storage.read(MARKER)
        except FileNotFoundError:
            raw = None
        if raw is not None:
            try:
                marker = json.loads(raw)
                fmt, version = marker["format"], int(marker["format_version"])
            except (ValueError, KeyError, TypeError) as e:
                raise DatabaseFormatError(f"{self.storage.uri}: {MARKER} is corrupt ({e})") from e
            if fmt != FORMAT_NAME:
                raise DatabaseFormatError(f"{self.storage.uri} holds a {fmt!r} store, not a tuning database")
            if version > FORMAT_VERSION:
                raise DatabaseFormatError(
                    f"{self.storage.uri} uses tuning-db format {version}; this version of the farm reads up to {FORMAT_VERSION}"
                )
            return True
        others = [o.path for o in self.storage.list("") if not o.path.startswith(".tmp-")]
        if MARKER in others:  # another writer created the database while we looked
            return self.check_marker(create=False)
        ours = [p for p in others if p.startswith((LOG_DIR + "/", "records/", "workloads/"))]
        if len(ours) < len(others):
            raise DatabaseFormatError(
                f"{self.storage.uri} is not empty and is not a tuning database (no {MARKER}); "
                f"refusing to use it (found e.g. {min(set(others) - set(ours))!r})"
            )
        if not create:
            return bool(ours)
        body = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "created_at": time.time()}
        self.storage.put_new(MARKER, json.dumps(body).encode())
        return self.check_marker(create=False)

    # -- reading ------------------------------------------------------------
    def _list_log(self) -> tuple[dict[int, str], dict[int, str]]:
        entries: dict[int, str] = {}
        checkpoints: dict[int, str] = {}
        for obj in self.storage.list(LOG_DIR):
            if m := _ENTRY.match(obj.path):
                entries[int(m.group(1))] = obj.path
            elif m := _CHECKPOINT.match(obj.path):
                checkpoints[int(m.group(1))] = obj.path
            elif not os.path.basename(obj.path).startswith(".tmp-") and obj.path not in self._foreign_reported:
                self._foreign_reported.add(obj.path)
                warn(f"ignoring foreign file {obj.path!r} in the database log")
        return entries, checkpoints

    def latest_version(self) -> int:
        entries, checkpoints = self._list_log()
        return max([*entries, *checkpoints, -1])

    def snapshot(self) -> Snapshot:
        """The live files as of the newest committed version."""
        last_error: Exception | None = None
        for _ in range(_SNAPSHOT_ATTEMPTS):
            try:
                snap = self._load_snapshot()
                self._next_version = max(self._next_version or 0, snap.version + 1)
                return snap
            except FileNotFoundError as e:  # vacuum removed an entry while we read: list again
                last_error = e
        raise StorageError(f"{self.storage.uri}: the log kept changing under the reader: {last_error}")

    def _load_checkpoint(self, checkpoints: dict[int, str]) -> Snapshot:
        for version in sorted(checkpoints, reverse=True):
            raw = self.storage.read(checkpoints[version])
            try:
                body = json.loads(raw)
                return Snapshot(
                    version=version,
                    files={f["path"]: DataFile(**f) for f in body["files"]},
                    tombstones={t["path"]: Tombstone(**t) for t in body.get("tombstones", [])},
                    checkpoint_version=version,
                )
            except (ValueError, KeyError, TypeError) as e:
                warn(f"skipping corrupt checkpoint {checkpoints[version]!r}: {e}")
        return Snapshot()

    def _load_snapshot(self) -> Snapshot:
        entries, checkpoints = self._list_log()
        snap = self._load_checkpoint(checkpoints)
        todo = sorted(v for v in entries if v > snap.version)
        if todo and todo[0] != snap.version + 1 and snap.version >= 0:
            warn(f"log entries {snap.version + 1}..{todo[0] - 1} are missing; records they added are not visible")
        raws = self.storage.read_many([entries[v] for v in todo])
        for v in todo:
            raw = raws[entries[v]]
            if isinstance(raw, FileNotFoundError):
                raise raw
            if isinstance(raw, Exception):
                raise StorageError(f"cannot read log entry {entries[v]!r}: {raw}") from raw
            try:
                body = json.loads(raw)
                added = [DataFile(**{**f, "added_version": v}) for f in body["add"]]
                removed = list(body.get("remove", []))
                when = float(body["timestamp"])
            except (ValueError, KeyError, TypeError) as e:
                warn(f"skipping corrupt log entry {entries[v]!r}: {e}")
                snap.version = v
                continue
            for f in added:
                snap.files[f.path] = f
            for path in removed:
                if snap.files.pop(path, None) is not None:
                    snap.tombstones[path] = Tombstone(path, v, when)
            snap.version = v
        return snap

    # -- writing ------------------------------------------------------------
    def commit(
        self, add: list[DataFile], remove: list[str] = (), operation: str = "append", info: dict | None = None
    ) -> int:
        """Append one entry; returns its version. Raises StorageError if no version could be claimed.

        A version at or below the newest checkpoint is never kept: readers start at that
        checkpoint, so an entry there would be hidden, and a later vacuum would delete its
        part files as orphans. A writer whose cached next version a vacuum freed can claim
        such a slot (the create-only put succeeds in it), so every claim is checked against
        the checkpoints after it succeeds, and one that landed under a checkpoint is withdrawn
        and made again above it.
        """
        version = self._next_version if self._next_version is not None else self.latest_version() + 1
        for _ in range(_COMMIT_ATTEMPTS):
            body = {
                "version": version,
                "timestamp": time.time(),
                "operation": operation,
                "writer": _writer_id(),
                "add": [{k: v for k, v in asdict(f).items() if k != "added_version"} for f in add],
                "remove": list(remove),
                "info": info or {},
            }
            if self.storage.put_new(entry_name(version), json.dumps(body, separators=(",", ":")).encode()):
                entries, checkpoints = self._list_log()
                if max(checkpoints, default=-1) < version:
                    self._next_version = version + 1
                    return version
                self.storage.delete(entry_name(version))  # under a checkpoint: no reader would ever see it
                version = max([*entries, *checkpoints]) + 1
                continue
            version = max(version + 1, self.latest_version() + 1)
        raise StorageError(f"{self.storage.uri}: could not claim a log version after {_COMMIT_ATTEMPTS} attempts")

    def write_checkpoint(self, snap: Snapshot) -> None:
        """Record the full live set of `snap` so readers need not replay older entries."""
        body = {
            "version": snap.version,
            "timestamp": time.time(),
            "files": [asdict(f) for f in snap.files.values()],
            "tombstones": [asdict(t) for t in snap.tombstones.values()],
        }
        self.storage.put_new(checkpoint_name(snap.version), json.dumps(body, separators=(",", ":")).encode())

    def expired_log_objects(self, snap: Snapshot, older_than: float) -> list[str]:
        """Log entries and checkpoints superseded by the newest checkpoint and older than `older_than` (epoch s)."""
        old = []
        for obj in self.storage.list(LOG_DIR):
            entry, checkpoint = _ENTRY.match(obj.path), _CHECKPOINT.match(obj.path)
            if obj.mtime >= older_than or not (entry or checkpoint):
                continue
            version = int((entry or checkpoint).group(1))
            # the newest checkpoint itself stays; everything it covers may go
            if version < snap.checkpoint_version or (entry and version == snap.checkpoint_version):
                old.append(obj.path)
        return old
