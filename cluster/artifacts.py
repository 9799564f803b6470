"""Built candidates in the object store, and the artifact paths MetaSchedule passes from builder to runner.

MetaSchedule hands a built candidate from its builder to its runner as a string,
`BuilderResult.artifact_path`. The Ray builder keeps each artifact as an object
reference (the bytes stay in the object store of the node that built it and go straight
to the measuring node) and hands MetaSchedule a path naming it: a file inside an empty
private folder, so MetaSchedule's stock `RemoveBuildArtifact` callback, which deletes
the folder of every artifact path, works unchanged. The runner resolves the path back to
the reference and releases it once the candidate is measured. The folders live under one
root per registry, named after its process and removed when the registry goes, or when a
later registry finds its process gone (Ray ends actors without running their exit
handlers), so callers without `RemoveBuildArtifact` and tunes stopped between build and
callback do not pile up empty folders.

A path that is not registered here but names a real file (a `LocalBuilder` artifact,
say) is read and put in the object store, so the Ray runner also measures candidates
built elsewhere.
"""

from __future__ import annotations

import glob
import os
import shutil
import tempfile
import threading
import uuid
import weakref

import psutil
import ray

ROOT_PREFIX = "farm-artifacts-"


def remove_orphaned_roots() -> None:
    """Remove the artifact roots of processes that no longer run (they hold only empty folders)."""
    for root in glob.glob(os.path.join(tempfile.gettempdir(), f"{ROOT_PREFIX}*-*")):
        pid = os.path.basename(root)[len(ROOT_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not psutil.pid_exists(int(pid)):
            shutil.rmtree(root, ignore_errors=True)


class ArtifactRegistry:
    """Artifact path → (object reference, file suffix), shared by the builder and runner of one process."""

    def __init__(self) -> None:
        self._refs: dict[str, tuple[ray.ObjectRef, str]] = {}
        self._lock = threading.Lock()
        self._root: str | None = None

    def _folder(self) -> str:
        """A new empty folder under this registry's root, made at the first registration."""
        with self._lock:
            if self._root is None:
                remove_orphaned_roots()
                self._root = tempfile.mkdtemp(prefix=f"{ROOT_PREFIX}{os.getpid()}-")
                weakref.finalize(self, shutil.rmtree, self._root, True)
        return tempfile.mkdtemp(prefix="farm-artifact-", dir=self._root)

    def register(self, ref: ray.ObjectRef, suffix: str = ".so") -> str:
        folder = self._folder()
        path = os.path.join(folder, f"{uuid.uuid4().hex}{suffix}")
        with self._lock:
            self._refs[path] = (ref, suffix)
        return path

    def resolve(self, path: str) -> tuple[ray.ObjectRef, str]:
        with self._lock:
            found = self._refs.get(path)
        if found is not None:
            return found
        if not os.path.isfile(path):
            raise FileNotFoundError(f"no built artifact at {path!r}")
        with open(path, "rb") as f:
            ref = ray.put(f.read())
        suffix = os.path.splitext(path)[1] or ".so"
        with self._lock:
            self._refs[path] = (ref, suffix)
        return ref, suffix

    def release(self, path: str) -> None:
        with self._lock:
            self._refs.pop(path, None)


ARTIFACTS = ArtifactRegistry()
