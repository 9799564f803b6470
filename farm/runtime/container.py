"""Reading a model folder: `metadata.json` checked, the library's SHA-256 verified, the tensors described.

A model folder is what `farm tune --out` writes per device kind and what the packages
unpack: `metadata.json` (model name, inputs, outputs, TVM target, library file and its
SHA-256, optionally the `cpu_flags` the code needs) beside the library it names. A folder
the farm benchmarked also names the engine it chose (`engine`: `tvm`, else `onnxruntime`,
whose ONNX model `onnx_model` and its SHA-256 lie beside the library, or `hybrid`, whose plan
archive `hybrid_model` and its SHA-256 lie there too) and what it measured of each engine
(`engines`: name -> latency, threads, settings); a folder without `engine` runs TVM.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass

import numpy as np

from .errors import ContainerError, ModelError
from .tensors import TensorInfo, find_tensor

METADATA = "metadata.json"
REQUIRED_KEYS = ("model", "inputs", "outputs", "target", "library", "library_sha256")
ENGINES = ("tvm", "onnxruntime", "hybrid")
ONNX_FILE = "model.onnx"
HYBRID_FILE = "hybrid.zip"
EXTRA_FILES = (
    "onnx_model",
    "hybrid_model",
)  # metadata keys naming a model file beside the library, each with its "<key>_sha256"
PLATFORMS = {"llvm": "cpu", "cuda": "cuda"}  # TVM target kind -> device platform that runs it
ELF_MAGIC = b"\x7fELF"


@dataclass(frozen=True)
class ModelFolder:
    """A checked model folder: its metadata, tensors and library path."""

    folder: str
    metadata: dict
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    library: str

    @property
    def name(self) -> str:
        return str(self.metadata["model"])

    @property
    def platform(self) -> str:
        """The device platform the library runs on (`cpu`, `cuda`)."""
        return PLATFORMS[self.metadata["target"]["kind"]]

    @property
    def engine(self) -> str:
        """The engine the farm chose for this folder (`tvm` when it does not say)."""
        return str(self.metadata.get("engine") or "tvm")

    def engine_info(self, engine: str) -> dict:
        """What the farm measured of `engine` (latency, threads, settings); empty when it did not."""
        return dict((self.metadata.get("engines") or {}).get(engine) or {})

    @property
    def model_files(self) -> list[str]:
        """The paths of the files that run the model (besides the metadata): the library, and the ONNX model if named."""
        return [os.path.join(self.folder, name) for name in model_file_names(self.metadata)]

    @property
    def onnx_model(self) -> str:
        """The path of the ONNX model (`ContainerError` when the folder has none, or a corrupt one)."""
        return self._checked_file("onnx_model", "ONNX model", "it runs only on TVM")

    @property
    def hybrid_model(self) -> str:
        """The path of the hybrid plan archive (`ContainerError` when the folder has none, or a corrupt one)."""
        return self._checked_file("hybrid_model", "hybrid plan", "the farm built no hybrid of it")

    def _checked_file(self, key: str, what: str, otherwise: str) -> str:
        name = self.metadata.get(key)
        path = (
            os.path.join(self.folder, name)
            if isinstance(name, str) and os.path.basename(name) == name and name
            else None
        )
        if path is None or not os.path.isfile(path):
            raise ContainerError(f"{self.folder} holds no {what} (metadata {key} is {name!r}): {otherwise}")
        if file_sha256(path) != self.metadata.get(f"{key}_sha256"):
            raise ContainerError(f"{path} is corrupt: its SHA-256 differs from {METADATA}'s {key}_sha256")
        return path

    @property
    def cpu_flags(self) -> list[str]:
        """/proc/cpuinfo flags the code needs (empty when the metadata does not say)."""
        return list(self.metadata.get("cpu_flags") or [])

    def get_tensor(self, name: str) -> TensorInfo:
        return find_tensor(self.inputs + self.outputs, name)


class ModelView:
    """What a loaded model tells about itself from its folder (`self._container`): name, metadata, tensors."""

    _container: ModelFolder

    @property
    def name(self) -> str:
        return self._container.name

    @property
    def metadata(self) -> dict:
        return self._container.metadata

    @property
    def inputs(self) -> list[TensorInfo]:
        return list(self._container.inputs)

    @property
    def outputs(self) -> list[TensorInfo]:
        return list(self._container.outputs)

    @property
    def input_names(self) -> list[str]:
        return [i.name for i in self._container.inputs]

    @property
    def output_names(self) -> list[str]:
        return [o.name for o in self._container.outputs]

    def get_tensor(self, name: str) -> TensorInfo:
        """The input or output called `name`; `InvalidArgumentError` listing the names there are."""
        return self._container.get_tensor(name)


def model_file_names(metadata: dict) -> list[str]:
    """The names of the files a model folder's `metadata` says run the model: its library, its ONNX model and hybrid plan if any."""
    return [metadata["library"], *[metadata[key] for key in EXTRA_FILES if metadata.get(key)]]


def file_sha256(path: str) -> str:
    """The SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _elf_end(path: str) -> int:
    """The bytes an ELF file's headers say it holds (its program segments and section table); 0 for a file that is not ELF."""
    with open(path, "rb") as f:
        ident = f.read(16)
        if len(ident) < 16 or not ident.startswith(ELF_MAGIC):
            return 0
        wide, order = ident[4] == 2, "<" if ident[5] == 1 else ">"
        header_format = order + ("HHIQQQIHHHHHH" if wide else "HHIIIIIHHHHHH")
        header = f.read(struct.calcsize(header_format))
        if len(header) < struct.calcsize(header_format):
            return struct.calcsize(header_format) + 16
        _, _, _, _, phoff, shoff, _, _, phentsize, phnum, shentsize, shnum, _ = struct.unpack(header_format, header)
        ends = [phoff + phnum * phentsize, shoff + shnum * shentsize]
        f.seek(phoff)
        table = f.read(phnum * phentsize)
        if len(table) == phnum * phentsize:
            segment_format = order + ("8xQ16xQ" if wide else "4xI8xI")  # p_offset, p_filesz
            for i in range(phnum):
                offset, filesz = struct.unpack_from(segment_format, table, i * phentsize)
                ends.append(offset + filesz)
    return max(ends)


def _tensor(metadata_path: str, key: str, entry: object) -> TensorInfo:
    try:
        shape = tuple(entry["shape"])
        np.dtype(entry["dtype"])
        if not isinstance(entry["name"], str) or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise ValueError("a name and a static shape of non-negative integers")
    except (KeyError, TypeError, ValueError) as e:
        raise ContainerError(
            f"{metadata_path}: {key} entry {entry!r} is not a tensor description ({type(e).__name__}: {e})"
        ) from e
    return TensorInfo(entry["name"], str(np.dtype(entry["dtype"])), shape)


def _load_metadata(path: str) -> dict:
    try:
        with open(path) as f:
            metadata = json.load(f)
    except FileNotFoundError:
        raise ContainerError(f"{path} is missing: not a model folder") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ContainerError(f"{path} is not readable JSON: {e}") from e
    if not isinstance(metadata, dict):
        raise ContainerError(f"{path} holds a {type(metadata).__name__}, not a JSON object")
    missing = [k for k in REQUIRED_KEYS if k not in metadata]
    if missing:
        raise ContainerError(f"{path} lacks {', '.join(missing)}")
    for key in ("inputs", "outputs"):
        if not isinstance(metadata[key], list):
            raise ContainerError(f"{path}: {key} must be a list of tensor descriptions")
    if metadata.get("engine", "tvm") not in ENGINES:
        raise ContainerError(f"{path}: engine must be one of {', '.join(ENGINES)}, got {metadata['engine']!r}")
    flags = metadata.get("cpu_flags")
    if flags is not None and not (isinstance(flags, list) and all(isinstance(f, str) for f in flags)):
        raise ContainerError(f"{path}: cpu_flags must be a list of /proc/cpuinfo flag names")
    return metadata


def read_model_folder(folder: str | os.PathLike) -> ModelFolder:
    """The checked model folder at `folder`: `ContainerError` if anything is missing or corrupt, `ModelError` for a target the runtime cannot run."""
    folder = os.path.abspath(os.fspath(folder))
    if not os.path.isdir(folder):
        raise ContainerError(f"model folder {folder} does not exist")
    path = os.path.join(folder, METADATA)
    metadata = _load_metadata(path)
    library_name = metadata["library"]
    if (
        not isinstance(library_name, str)
        or os.path.basename(library_name) != library_name
        or library_name in ("", ".", "..")
    ):
        raise ContainerError(f"{path}: library must be a file name inside the folder, got {library_name!r}")
    library = os.path.join(folder, library_name)
    if not os.path.isfile(library):
        raise ContainerError(f"the library {library} named by {path} is missing")
    actual = file_sha256(library)
    if actual != metadata["library_sha256"]:
        raise ContainerError(
            f"{library} is corrupt: its SHA-256 is {actual}, {METADATA} records {metadata['library_sha256']}"
        )
    # dlopen maps a truncated library past its end and the process dies of SIGBUS: refuse it first
    expected, size = _elf_end(library), os.path.getsize(library)
    if expected > size:
        raise ContainerError(
            f"{library} is truncated: its ELF headers describe {expected} bytes, the file holds {size}"
        )
    target = metadata["target"]
    if not isinstance(target, dict) or target.get("kind") not in PLATFORMS:
        kind = target.get("kind") if isinstance(target, dict) else target
        raise ModelError(f"{path}: the runtime runs TVM targets {', '.join(PLATFORMS)}, not {kind!r}")
    return ModelFolder(
        folder=folder,
        metadata=metadata,
        inputs=[_tensor(path, "inputs", e) for e in metadata["inputs"]],
        outputs=[_tensor(path, "outputs", e) for e in metadata["outputs"]],
        library=library,
    )
