"""Remote mode: models loaded on the farm's device nodes through Ray, run and profiled from here.

```python
from farm.runtime import remote

session = remote.connect()                        # $RAY_ADDRESS, else an embedded Ray
model = session.load_model("variants/x86-64-v3", "x86-64-v3")
outputs = model.run({"input": x})
print(model.profile(repeat=50).as_json())         # measured on the device node
model.close()
```

`load_model` starts a Ray actor on a live node serving the kind, pinned to it by Ray's
node-id label, with no CPU reserved (as the farm's measurements) and the node's core
count as TVM's thread count. The folder's metadata and library travel as a tar archive in
memory, so no filesystem is shared; the actor loads them with `load_model`. Errors raised
there come back as the same typed errors; a node or actor lost on the way, or any other
Ray failure, is a `RemoteError`. Unlike the rest of `farm.runtime`, this module needs
Ray and the farm's `cluster` package.
"""

from __future__ import annotations

import io
import itertools
import os
import tarfile
import tempfile

import numpy as np
import ray

from cluster.connect import connect as connect_ray
from cluster.nodes import NODE_ID_LABEL, NoDeviceError, live_nodes, nodes_serving

from .container import METADATA, ModelFolder, ModelView, read_model_folder
from .errors import DeviceError, RemoteError, RuntimeApiError
from .loaded import LoadedModel
from .loading import load_model
from .local_info import DeviceInfo
from .profiling import ProfileResult
from .tensors import ordered_arrays

LOAD_TIMEOUT_S = 300.0  # the actor's start (a worker of its own runtime env) and the model's load


class ModelServer:
    """The Ray actor that holds a model on its device node."""

    def __init__(self) -> None:
        self.model: LoadedModel | None = None

    def load(self, archive: bytes, threads: int | None, engine: str | None = None) -> dict:
        """Unpack the folder into a temporary directory and load it (on `engine`, default the folder's); the device and threads it got."""
        with tempfile.TemporaryDirectory(prefix="farm-runtime-") as folder:
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                tar.extractall(folder, filter="data")
            self.model = load_model(
                folder, threads=threads, engine=engine
            )  # library mapped, ONNX read: the files may go
        return {"device": self.model.device, "threads": self.model.threads}

    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self.model.run(inputs)

    def profile(self, repeat: int, warmup: int) -> ProfileResult:
        """The model's profile, stamped with this node's id."""
        result = self.model.profile(repeat, warmup)
        result.node_id = ray.get_runtime_context().get_node_id()
        return result


_ModelActor = ray.remote(ModelServer)


def _get(ref: ray.ObjectRef, what: str, timeout: float | None = None):
    """`ray.get(ref)`, with the remote side's typed errors raised as they are and Ray's failures as `RemoteError`."""
    try:
        return ray.get(ref, timeout=timeout)
    except ray.exceptions.RayTaskError as e:
        if isinstance(e.cause, RuntimeApiError):
            raise e.cause from None
        raise RemoteError(f"{what} failed on the device node: {e}") from e
    except ray.exceptions.RayError as e:
        raise RemoteError(f"{what}: {type(e).__name__}: {e}") from e


def _archive(container: ModelFolder) -> bytes:
    """The folder's metadata and model files (library, ONNX model) as an uncompressed tar archive."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path in (os.path.join(container.folder, METADATA), *container.model_files):
            tar.add(path, arcname=os.path.basename(path))
    return buffer.getvalue()


class RemoteModel(ModelView):
    """A model loaded on a device node: its tensors (known here), inference and profiling (run there)."""

    def __init__(
        self, actor: ray.actor.ActorHandle, container: ModelFolder, kind: str, node_id: str, loaded: dict
    ) -> None:
        self._actor: ray.actor.ActorHandle | None = actor
        self._container = container
        self.kind = kind
        self.node_id = node_id
        self.device: DeviceInfo = loaded["device"]
        self.threads: int = loaded["threads"]

    def run(self, inputs: list | tuple | dict) -> dict[str, np.ndarray]:
        """One inference on the device node (inputs checked here first): the outputs by name."""
        arrays = ordered_arrays("input", self._container.inputs, inputs)
        return _get(self._live().run.remote(dict(zip(self.input_names, arrays))), f"inference of {self.name!r}")

    def profile(self, repeat: int = 10, warmup: int = 2) -> ProfileResult:
        """`Model.profile` on the device node; the result carries the node's id."""
        return _get(self._live().profile.remote(repeat, warmup), f"profiling {self.name!r}")

    def _live(self) -> ray.actor.ActorHandle:
        """The actor, or `RemoteError` once closed (`ray.kill` is asynchronous: a call right after it could still run)."""
        if self._actor is None:
            raise RemoteError(f"{self.name!r} was closed")
        return self._actor

    def close(self) -> None:
        """Stop the actor; further calls raise `RemoteError`. Closing twice does nothing."""
        if self._actor is not None:
            ray.kill(self._actor)
            self._actor = None

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RemoteModel({self.name!r}, kind={self.kind!r}, node_id={self.node_id!r}, threads={self.threads})"


class RemoteSession:
    """A connection to the farm's Ray cluster, to load models on its device nodes."""

    def __init__(self, address: str) -> None:
        self.address = address
        self._placements = itertools.count()

    def kinds(self) -> list[str]:
        """The device kinds the live nodes serve."""
        return sorted({kind for node in live_nodes() for kind in node.kinds})

    def load_model(
        self, folder: str | os.PathLike, kind: str, threads: int | None = None, engine: str | None = None
    ) -> RemoteModel:
        """The model of `folder` loaded on a live node serving `kind` (the nodes taken in turn); `threads`, `engine` as in `load_model`."""
        container = read_model_folder(folder)
        try:
            nodes = nodes_serving(kind)
        except NoDeviceError as e:
            raise DeviceError(str(e)) from None
        node = nodes[next(self._placements) % len(nodes)]
        cores = str(node.num_cores or 1)
        actor = _ModelActor.options(
            num_cpus=0,
            label_selector={NODE_ID_LABEL: node.node_id},
            runtime_env={"env_vars": {"TVM_NUM_THREADS": cores, "OMP_NUM_THREADS": cores}},
        ).remote()
        try:
            loaded = _get(
                actor.load.remote(_archive(container), threads, engine),
                f"loading {container.folder} on node {node.node_id}",
                LOAD_TIMEOUT_S,
            )
        except BaseException:
            ray.kill(actor)
            raise
        return RemoteModel(actor, container, kind, node.node_id, loaded)


def connect(ray_address: str | None = None) -> RemoteSession:
    """Join the farm's Ray cluster (`ray_address`, else `$RAY_ADDRESS`, else an embedded one)."""
    return RemoteSession(connect_ray(ray_address))
