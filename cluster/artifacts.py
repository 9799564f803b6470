"""Built candidates in the object store, and the artifact paths MetaSchedule passes from builder to runner.

MetaSchedule hands a built candidate from its builder to its runner as a string,
`BuilderResult.artifact_path`. The Ray builder keeps each artifact as an object
reference (the bytes stay in the object store of the node that built it and go straight
to the measuring node) and hands MetaSchedule a path naming it: a file inside an empty
private folder, so MetaSchedule's stock `RemoveBuildArtifact` callback, which deletes
the folder of every artifact path, works unchanged. The runner resolves the path back to
the reference and releases it once the candidate is measured.

A path that is not registered here but names a real file (a `LocalBuilder` artifact,
say) is read and put in the object store, so the Ray runner also measures candidates
built elsewhere.
"""

from __future__ import annotations

import os
import tempfile
import threading
import uuid

import ray


class ArtifactRegistry:
    """Artifact path → (object reference, file suffix), shared by the builder and runner of one process."""

    def __init__(self) -> None:
        self._refs: dict[str, tuple[ray.ObjectRef, str]] = {}
        self._lock = threading.Lock()

    def register(self, ref: ray.ObjectRef, suffix: str = ".so") -> str:
        folder = tempfile.mkdtemp(prefix="farm-artifact-")
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
