"""Deterministic `.tar.gz` archives: the same members give the same bytes wherever and whenever they are written.

Members are sorted by name; times, owners and the gzip header are zeroed; permissions are
reduced to 0o755 (folders, executables) or 0o644 (links keep 0o777). Package tarballs and
Docker contexts (`farm.packaging`) are written this way, and so are folders stored as
artifacts (`farm.registry.artifacts`), whose key is the archive's hash.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
from collections.abc import Iterable

Content = bytes | str | None  # a file's bytes, a path on disk (file, folder or link), or None for a folder entry


def folder_members(folder: str) -> list[tuple[str, str]]:
    """`(archive name, path)` of every folder, file and link under `folder`."""
    members = []
    for dirpath, dirnames, filenames in os.walk(folder):
        rel = os.path.relpath(dirpath, folder)
        for name in dirnames + filenames:
            members.append((name if rel == "." else f"{rel.replace(os.sep, '/')}/{name}", os.path.join(dirpath, name)))
    return members


def write_tar_gz(dest: str, members: Iterable[tuple[str, Content]]) -> None:
    """Write `members` (archive name, content) to `dest` as a deterministic `.tar.gz`."""
    with (
        open(dest, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        for name, content in sorted(members, key=lambda member: member[0]):
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if isinstance(content, bytes):
                info.size, info.mode = len(content), 0o644
                tar.addfile(info, io.BytesIO(content))
                continue
            st = os.lstat(content) if content is not None else None
            if st is None or stat.S_ISDIR(st.st_mode):
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif stat.S_ISLNK(st.st_mode):
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, os.readlink(content), 0o777
                tar.addfile(info)
            else:
                info.size, info.mode = st.st_size, 0o755 if st.st_mode & 0o111 else 0o644
                with open(content, "rb") as f:
                    tar.addfile(info, f)
