"""Byte-level access to the folder or bucket that holds a tuning database.

A database lives at a URI: a local folder (`/path/to/db`, `file:///path`) or any
fsspec filesystem, in practice `s3://bucket/prefix` through s3fs. Every object is
addressed by a path relative to that root, with `/` as separator.

The commit protocol needs one primitive beyond plain reads and writes:
**create-only put** — the write fails if the name is taken. On S3 that is a
conditional PUT (`If-None-Match: *`, s3fs `mode="create"`). On a local folder it is
a hard link from a fully written temporary file: `link(2)` is atomic and fails if
the name exists, so a reader never sees a half-written object either way.
Plain puts of uniquely named part files go through a temporary name and an atomic
rename locally; an S3 PUT is atomic by itself. Locally the file is fsynced before it is
linked or renamed, and its folder after, so an acknowledged commit survives a power cut.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass
from typing import Protocol

import fsspec


class StorageError(RuntimeError):
    """The database's storage could not be read or written."""


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object: its path relative to the root, size and modification time."""

    path: str
    size: int
    mtime: float


class Storage(Protocol):
    """What the database needs from its storage."""

    uri: str

    def read(self, path: str) -> bytes: ...

    def read_many(self, paths: list[str]) -> dict[str, bytes | Exception]: ...

    def put(self, path: str, data: bytes) -> None: ...

    def put_new(self, path: str, data: bytes) -> bool: ...

    def list(self, prefix: str) -> list[ObjectInfo]: ...

    def delete(self, path: str) -> None: ...


def fsync_dir(path: str) -> None:
    """Make the names created in folder `path` durable (a file's own fsync does not cover its directory entry)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalStorage:
    """A database in a local folder."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(os.path.expanduser(root))
        self.uri = self.root

    def _abs(self, path: str) -> str:
        return os.path.join(self.root, *path.split("/"))

    def read(self, path: str) -> bytes:
        with open(self._abs(path), "rb") as f:
            return f.read()

    def read_many(self, paths: list[str]) -> dict[str, bytes | Exception]:
        out: dict[str, bytes | Exception] = {}
        for p in paths:
            try:
                out[p] = self.read(p)
            except OSError as e:
                out[p] = e
        return out

    def _write_temp(self, path: str, data: bytes) -> str:
        final = self._abs(path)
        folder = os.path.dirname(final)
        if not os.path.isdir(folder):
            os.makedirs(folder, exist_ok=True)
            fsync_dir(os.path.dirname(folder))
        tmp = os.path.join(os.path.dirname(final), f".tmp-{uuid.uuid4().hex}")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        return tmp

    def put(self, path: str, data: bytes) -> None:
        tmp = self._write_temp(path, data)
        try:
            os.replace(tmp, self._abs(path))
        except OSError:
            os.unlink(tmp)
            raise
        fsync_dir(os.path.dirname(self._abs(path)))

    def put_new(self, path: str, data: bytes) -> bool:
        tmp = self._write_temp(path, data)
        try:
            os.link(tmp, self._abs(path))
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)
        fsync_dir(os.path.dirname(self._abs(path)))
        return True

    def list(self, prefix: str) -> list[ObjectInfo]:
        base = self._abs(prefix)
        out: list[ObjectInfo] = []
        for dirpath, _, files in os.walk(base):
            for name in files:
                full = os.path.join(dirpath, name)
                try:
                    st = os.stat(full)
                except FileNotFoundError:
                    continue
                rel = os.path.relpath(full, self.root).replace(os.sep, "/")
                out.append(ObjectInfo(rel, st.st_size, st.st_mtime))
        return out

    def delete(self, path: str) -> None:
        try:
            os.unlink(self._abs(path))
        except FileNotFoundError:
            pass


class FsspecStorage:
    """A database on an fsspec filesystem (s3:// through s3fs, and others)."""

    def __init__(self, uri: str, storage_options: dict | None = None) -> None:
        self.uri = uri.rstrip("/")
        self.fs, root = fsspec.core.url_to_fs(self.uri, **(storage_options or {}))
        self.root = root.rstrip("/")

    def _abs(self, path: str) -> str:
        return f"{self.root}/{path}"

    def read(self, path: str) -> bytes:
        return self.fs.cat_file(self._abs(path))

    def read_many(self, paths: list[str]) -> dict[str, bytes | Exception]:
        if not paths:
            return {}
        got = self.fs.cat([self._abs(p) for p in paths], on_error="return")
        by_url = {self.fs.unstrip_protocol(k): v for k, v in got.items()}
        return {p: by_url.get(self.fs.unstrip_protocol(self._abs(p)), FileNotFoundError(p)) for p in paths}

    def put(self, path: str, data: bytes) -> None:
        self.fs.pipe_file(self._abs(path), data)

    def put_new(self, path: str, data: bytes) -> bool:
        try:
            self.fs.pipe_file(self._abs(path), data, mode="create")
            return True
        except FileExistsError:
            return False
        except OSError as e:
            if "PreconditionFailed" in str(e) or "412" in str(e):
                return False
            raise

    def list(self, prefix: str) -> list[ObjectInfo]:
        base = self._abs(prefix)
        try:
            found = self.fs.find(base, detail=True)
        except FileNotFoundError:
            return []
        self.fs.invalidate_cache(base)
        out = []
        for full, info in found.items():
            if info.get("type") == "directory" or not full.startswith(self.root + "/"):
                continue
            rel = full[len(self.root) + 1 :]
            mtime = info.get("LastModified") or info.get("mtime") or info.get("created") or 0
            out.append(
                ObjectInfo(
                    rel, int(info.get("size") or 0), mtime.timestamp() if hasattr(mtime, "timestamp") else float(mtime)
                )
            )
        return out

    def delete(self, path: str) -> None:
        try:
            self.fs.rm_file(self._abs(path))
        except FileNotFoundError:
            pass


def check_create_only(storage: Storage) -> None:
    """Refuse a store whose create-only put overwrites a taken name, which the commit protocol relies on.

    Some S3-compatible servers ignore `If-None-Match: *` and accept the second PUT: two
    writers could then both claim one log version and the later would erase the earlier's
    commit. Probed once, on a fresh name, when a database is first opened for writing.
    """
    probe = f".tmp-create-only-probe-{uuid.uuid4().hex}"
    try:
        if not storage.put_new(probe, b"first") or storage.put_new(probe, b"second"):
            raise StorageError(
                f"{storage.uri} does not honour create-only writes (S3 conditional PUT, `If-None-Match: *`), "
                "so concurrent commits could overwrite each other; use a store that supports them"
            )
    finally:
        storage.delete(probe)


def open_storage(uri: str, storage_options: dict | None = None) -> Storage:
    """The storage for a database URI: a local folder, or an fsspec URL such as s3://bucket/prefix."""
    if "://" not in uri:
        return LocalStorage(uri)
    if uri.startswith("file://"):
        return LocalStorage(uri[len("file://") :])
    return FsspecStorage(uri, storage_options)
