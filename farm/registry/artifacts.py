"""Content-addressed artifact storage: model files and packaged folders, in a local folder or object storage.

An artifact's key is the SHA-256 of its bytes (64 lowercase hex characters) and it lives at
`<uri>/sha256/<key[:2]>/<key>`, so storing the same bytes twice writes them once and two
registries sharing the store share the bytes. The URI is a local folder (`/path`,
`file:///path`) or any fsspec URL, in practice `s3://bucket/prefix` through s3fs.

Writes are never seen half-done: a local write goes to a temporary name beside the final
one, is fsynced and renamed into place, and its folder fsynced (so a stored artifact
survives a power cut); an S3 PUT (multipart included) becomes visible only whole. Reads
check the bytes against their key as they go: a blob damaged on disk fails with
`CorruptArtifact` at its end instead of being handed on (`chunks` holds the last chunk
back until the whole was checked, so a stream of it never ends cleanly), and the next put
of the same bytes rewrites any stored blob whose bytes are not theirs (one a crash cut
short, or one a bit flipped in on disk).
A folder is stored as a deterministic `.tar.gz` (`farm.archive`), so the same content gives the same key
wherever and whenever it was written. The registry never deletes an artifact on its own: a
key may be shared by several records; `farm admin gc` (`farm.registry.gc`) removes those no
record refers to any more.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import shutil
import tarfile
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

import fsspec
from fsspec.implementations.local import LocalFileSystem
from typing_extensions import Self

from farm.archive import folder_members, write_tar_gz
from farm.registry.errors import CorruptArtifact, InvalidInput, NotFound
from farm.runtime.container import file_sha256
from tuning_db.storage import fsync_dir

_KEY = re.compile(r"[0-9a-f]{64}")
_CHUNK = 1 << 20


class _Verified:
    """A stored artifact's file object that hashes what is read and raises `CorruptArtifact` at the end if it is not the key's."""

    def __init__(self, raw: BinaryIO, key: str) -> None:
        self.raw, self.key, self.digest = raw, key, hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        chunk = self.raw.read(size)
        self.digest.update(chunk)
        at_end = size is None or size < 0 or (size > 0 and not chunk)
        if at_end and self.digest.hexdigest() != self.key:
            raise CorruptArtifact(
                f"artifact {self.key} is damaged in the store (its bytes hash to {self.digest.hexdigest()}); "
                "storing the same file again repairs it"
            )
        return chunk

    def chunks(self, size: int = _CHUNK) -> Iterator[bytes]:
        """The bytes in chunks of `size`; the last only once the whole was checked, so a damaged blob's stream breaks
        off before its end (`CorruptArtifact`) instead of ending cleanly."""
        held = self.read(size)
        while held:
            ahead = self.read(size)
            yield held
            held = ahead

    def close(self) -> None:
        self.raw.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class StoredFile:
    """A file of the store: its path, its key (None for a leftover temporary file), size and modification time (epoch s)."""

    path: str
    key: str | None
    size: int
    modified: float


def _modified(info: dict) -> float:
    """An fsspec listing entry's modification time as epoch seconds (local `mtime`, S3 `LastModified`)."""
    when = info.get("mtime", info.get("LastModified", info.get("last_modified")))
    if isinstance(when, datetime):
        return when.timestamp()
    return float(when) if when is not None else 0.0


def check_key(key: str) -> str:
    """`key` if it is an artifact key (64 lowercase hex characters), else `InvalidInput`."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise InvalidInput(f"{key!r} is not an artifact key (64 lowercase hex characters of a SHA-256)")
    return key


class ArtifactStore:
    """Content-addressed blobs under `uri`; keys are the SHA-256 hex of the bytes."""

    def __init__(self, uri: str, storage_options: dict | None = None) -> None:
        if "://" not in uri:
            uri = os.path.abspath(os.path.expanduser(uri))
        self.uri = uri.rstrip("/")
        self.fs, root = fsspec.core.url_to_fs(self.uri, **(storage_options or {}))
        self.root = root.rstrip("/")
        self.local = isinstance(self.fs, LocalFileSystem)
        if self.local:
            os.makedirs(self.root, mode=0o700, exist_ok=True)

    def _path(self, key: str) -> str:
        check_key(key)
        return f"{self.root}/sha256/{key[:2]}/{key}"

    def exists(self, key: str) -> bool:
        """Whether the artifact is stored."""
        path = self._path(key)
        if not self.local:
            self.fs.invalidate_cache(path)
        return self.fs.exists(path)

    def _stored_intact(self, key: str, size: int) -> bool:
        """Whether the artifact is stored with exactly the bytes of its key (its size first, then its hash)."""
        try:
            if self.size(key) != size:
                return False
            with self.open(key) as f:
                for _ in f.chunks():
                    pass
        except (NotFound, CorruptArtifact):
            return False
        return True

    def listing(self) -> Iterator[StoredFile]:
        """Every file under the store's `sha256/` folder: artifacts, and leftovers of writes a crash cut short."""
        base = f"{self.root}/sha256"
        if not self.local:
            self.fs.invalidate_cache(base)
        if not self.fs.exists(base):
            return
        for path, info in self.fs.find(base, detail=True).items():
            name = path.rsplit("/", 1)[-1]
            key = name if _KEY.fullmatch(name) else None
            yield StoredFile(path, key, int(info.get("size") or 0), _modified(info))

    def remove(self, stored: StoredFile) -> None:
        """Delete one file of `listing()`."""
        self.fs.rm_file(stored.path)

    def put_file(self, path: str) -> str:
        """Store a file's bytes (unless already stored intact) and return their key."""
        key = file_sha256(path)
        if self._stored_intact(key, os.path.getsize(path)):
            if self.local:  # fresh again, so `farm admin gc` keeps it while the record that will refer to it is made
                os.utime(self._path(key))
            return key
        final = self._path(key)
        if self.local:
            os.makedirs(os.path.dirname(final), exist_ok=True)
            tmp = f"{final}.tmp-{uuid.uuid4().hex}"
            try:
                with open(path, "rb") as src, open(tmp, "wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
                    dst.flush()
                    os.fsync(dst.fileno())
                os.replace(tmp, final)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
            fsync_dir(os.path.dirname(final))
        else:
            self.fs.put_file(path, final)
        return key

    def put_folder(self, folder: str) -> str:
        """Store a folder as a deterministic `.tar.gz` and return its key (same content, same key)."""
        if not os.path.isdir(folder):
            raise InvalidInput(f"{folder} is not a folder")
        with tempfile.TemporaryDirectory(prefix="farm-artifact-") as work:
            archive = os.path.join(work, "folder.tar.gz")
            write_tar_gz(archive, folder_members(folder))
            return self.put_file(archive)

    def open(self, key: str) -> _Verified:
        """The artifact's bytes as a binary file object (close it, or use it in a `with`), checked against the key once read to the end."""
        path = self._path(key)
        try:
            return _Verified(self.fs.open(path, "rb"), key)
        except FileNotFoundError:
            raise NotFound(f"artifact {key} is not in the artifact store") from None

    def size(self, key: str) -> int:
        """The artifact's size in bytes."""
        path = self._path(key)
        if not self.local:
            self.fs.invalidate_cache(path)
        try:
            return int(self.fs.size(path))
        except FileNotFoundError:
            raise NotFound(f"artifact {key} is not in the artifact store") from None

    def get_file(self, key: str, dest_path: str) -> str:
        """Copy the artifact to `dest_path` (folders created as needed; nothing left there if it is damaged); returns
        `dest_path`."""
        os.makedirs(os.path.dirname(os.path.abspath(dest_path)), exist_ok=True)
        try:
            with self.open(key) as src, open(dest_path, "wb") as dst:
                dst.writelines(src.chunks())
        except CorruptArtifact:
            os.unlink(dest_path)
            raise
        return dest_path

    def extract_folder(self, key: str, dest_dir: str) -> str:
        """Unpack a folder stored by `put_folder` into `dest_dir` (members escaping it are refused); returns `dest_dir`."""
        os.makedirs(dest_dir, exist_ok=True)
        with self.open(key) as f:
            try:
                with tarfile.open(fileobj=f, mode="r|gz") as tar:
                    tar.extractall(dest_dir, filter="data")
            except tarfile.FilterError as e:
                raise InvalidInput(f"artifact {key} holds an unsafe member: {e}") from None
            except (tarfile.ReadError, gzip.BadGzipFile, EOFError) as e:
                raise InvalidInput(f"artifact {key} is not a stored folder (.tar.gz): {e}") from None
        return dest_dir
