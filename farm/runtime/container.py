"""The variant folder's one owner: its file names, its metadata's reader (checked, every file's SHA-256 verified) and writer.

A model folder is what `farm tune --out` writes per device kind and what the packages
unpack: `metadata.json` (model name, inputs, outputs, kind, TVM target, optionally the
`cpu_flags` the code needs; `engine`, the engine the farm chose, and `engines`, what it
measured of each: latency, threads, settings) beside the model files it names. Each engine
runs one file (`farm.runtime.engines`: the TVM library `library`, the ONNX model
`onnx_model`, the hybrid's plan archive `hybrid_model`), named by its metadata key with its
SHA-256 under `<key>_sha256`; a folder the farm wrote holds every engine's file it timed,
a package only its engine's (`engine_copy`). A folder without `engine` was written
before engines were chosen and runs its TVM library. `benchmark.json`, when present, is
the device comparison the choice came from. The runtime and the packager read folders
through `read_model_folder`; the farm writes them through `write_model_file` and
`write_metadata` (atomic, last), so a folder with metadata is complete.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import asdict, dataclass, field

import numpy as np

from .engines import DEFAULT_ENGINE, RUNTIME_ENGINES, file_keys, runtime_engine
from .errors import ContainerError, ModelError
from .tensors import TensorInfo, find_tensor

METADATA = "metadata.json"
BENCHMARK = "benchmark.json"
REQUIRED_KEYS = ("model", "inputs", "outputs", "target")
PLATFORMS = {"llvm": "cpu", "cuda": "cuda"}  # TVM target kind -> device platform that runs it
ELF_MAGIC = b"\x7fELF"
EXACT = "exact"  # the precision of a variant that computes what the fp32 original computes (within the agreement rule)


@dataclass(frozen=True)
class EngineFigures:
    """What the farm measured of one engine at its fastest configuration: how it runs and how fast."""

    latency_ms: float | None = None
    p90_ms: float | None = None
    agrees: bool | None = None
    threads: int | None = None
    config: str | None = None
    settings: dict = field(default_factory=dict)
    precision: str = EXACT

    @classmethod
    def from_json(cls, data: dict) -> EngineFigures:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data and data[k] is not None}
        return cls(**{**known, "settings": dict(known.get("settings") or {})})

    def as_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class VariantMetadata:
    """A variant folder's `metadata.json`, typed: the model, its kind and target, the engine chosen and every engine's
    figures, the model files by key; `extra` keeps whatever else the farm wrote (the tuning summary, the hybrid's plan)."""

    model: str
    inputs: list[dict]
    outputs: list[dict]
    target: dict
    kind: str | None = None
    cpu_flags: list[str] = field(default_factory=list)
    engine: str = DEFAULT_ENGINE
    engines: dict[str, EngineFigures] = field(default_factory=dict)
    files: dict[str, tuple[str, str]] = field(default_factory=dict)  # metadata key -> (file name, SHA-256)
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict) -> VariantMetadata:
        keys = file_keys()
        files = {k: (data[k], data.get(f"{k}_sha256", "")) for k in keys if isinstance(data.get(k), str)}
        typed = {"model", "inputs", "outputs", "target", "kind", "cpu_flags", "engine", "engines"}
        taken = typed | set(files) | {f"{k}_sha256" for k in files}
        return cls(
            model=str(data["model"]),
            inputs=list(data["inputs"]),
            outputs=list(data["outputs"]),
            target=dict(data["target"]),
            kind=data.get("kind"),
            cpu_flags=list(data.get("cpu_flags") or []),
            engine=str(data.get("engine") or DEFAULT_ENGINE),
            engines={name: EngineFigures.from_json(e) for name, e in (data.get("engines") or {}).items()},
            files=files,
            extra={k: v for k, v in data.items() if k not in taken},
        )

    def as_json(self) -> dict:
        """The metadata as `metadata.json` holds it (the layout folders have always had)."""
        data = {
            **self.extra,
            "model": self.model,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "target": self.target,
            "cpu_flags": self.cpu_flags,
            "engine": self.engine,
            "engines": {name: e.as_json() for name, e in self.engines.items()},
        }
        if self.kind is not None:
            data["kind"] = self.kind
        for key, (name, sha256) in self.files.items():
            data.update({key: name, f"{key}_sha256": sha256})
        return data


@dataclass(frozen=True)
class ModelFolder:
    """A checked model folder: its metadata, tensors and model files (metadata key -> path; each verified, its presence,
    SHA-256 and length, before its engine uses it: the chosen engine's when the folder is read)."""

    folder: str
    metadata: dict
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    files: dict[str, str]
    verified: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        return str(self.metadata["model"])

    @property
    def platform(self) -> str:
        """The device platform the variant runs on (`cpu`, `cuda`), from its TVM target's kind."""
        return PLATFORMS[self.metadata["target"]["kind"]]

    @property
    def engine(self) -> str:
        """The engine the farm chose for this folder (`DEFAULT_ENGINE` when it does not say)."""
        return str(self.metadata.get("engine") or DEFAULT_ENGINE)

    @property
    def variant(self) -> VariantMetadata:
        """The metadata, typed."""
        return VariantMetadata.from_json(self.metadata)

    def figures(self, engine: str) -> EngineFigures:
        """What the farm measured of `engine` (latency, threads, settings); empty figures when it did not."""
        return self.variant.engines.get(engine) or EngineFigures()

    def engine_file(self, engine: str) -> str:
        """The path of the file `engine` runs; `ContainerError` when the folder holds none."""
        key = runtime_engine(engine).file_key
        if key not in self.files:
            raise ContainerError(
                f"{self.folder} holds no {key} (the file engine {engine!r} runs): it carries "
                f"{', '.join(self.files) or 'no model file'}"
            )
        if key not in self.verified:
            _verify(self.files[key], os.path.join(self.folder, METADATA), self.metadata, key)
            self.verified.add(key)
        return self.files[key]

    @property
    def library(self) -> str:
        """The path of the TVM library (`ContainerError` when the folder has none)."""
        return self.engine_file(DEFAULT_ENGINE)

    @property
    def model_files(self) -> list[str]:
        """The paths of the files that run the model (besides the metadata)."""
        return list(self.files.values())

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
    """The names of the model files `metadata` names, in the engine table's order."""
    return [metadata[key] for key in file_keys() if isinstance(metadata.get(key), str)]


def engine_copy(metadata: dict, engine: str | None = None) -> dict:
    """`metadata` for a copy of the folder that carries only the file of `engine` (default: the chosen one), as packages do."""
    engine = engine or str(metadata.get("engine") or DEFAULT_ENGINE)
    keep = runtime_engine(engine).file_key
    dropped = {k for key in file_keys() if key != keep for k in (key, f"{key}_sha256")}
    return {k: v for k, v in metadata.items() if k not in dropped}


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
    engine = metadata.get("engine") or DEFAULT_ENGINE
    if engine not in RUNTIME_ENGINES:
        raise ContainerError(f"{path}: engine must be one of {', '.join(RUNTIME_ENGINES)}, got {engine!r}")
    if RUNTIME_ENGINES[engine].file_key not in metadata:
        raise ContainerError(f"{path} lacks {RUNTIME_ENGINES[engine].file_key}, the file its engine {engine!r} runs")
    flags = metadata.get("cpu_flags")
    if flags is not None and not (isinstance(flags, list) and all(isinstance(f, str) for f in flags)):
        raise ContainerError(f"{path}: cpu_flags must be a list of /proc/cpuinfo flag names")
    return metadata


def _file_path(folder: str, metadata_path: str, metadata: dict, key: str) -> str:
    """The path of the model file `metadata[key]` names, which must be a file name inside the folder."""
    name = metadata[key]
    if not isinstance(name, str) or os.path.basename(name) != name or name in ("", ".", ".."):
        raise ContainerError(f"{metadata_path}: {key} must be a file name inside the folder, got {name!r}")
    return os.path.join(folder, name)


def _verify(path: str, metadata_path: str, metadata: dict, key: str) -> None:
    """`ContainerError` unless the model file at `path` is present and intact (its SHA-256, an ELF file's length)."""
    if not os.path.isfile(path):
        raise ContainerError(f"the {key} {path} named by {metadata_path} is missing")
    recorded = metadata.get(f"{key}_sha256")
    if recorded is None:
        raise ContainerError(f"{metadata_path} lacks {key}_sha256")
    actual = file_sha256(path)
    if actual != recorded:
        raise ContainerError(f"{path} is corrupt: its SHA-256 is {actual}, {METADATA} records {recorded}")
    # dlopen maps a truncated library past its end and the process dies of SIGBUS: refuse it first
    expected, size = _elf_end(path), os.path.getsize(path)
    if expected > size:
        raise ContainerError(f"{path} is truncated: its ELF headers describe {expected} bytes, the file holds {size}")


def read_model_folder(folder: str | os.PathLike, engine: str | None = None) -> ModelFolder:
    """The checked model folder at `folder`, the file of `engine` (default: the chosen one) verified: `ContainerError` if
    anything is missing or corrupt, `ModelError` for a target the runtime cannot run."""
    folder = os.path.abspath(os.fspath(folder))
    if not os.path.isdir(folder):
        raise ContainerError(f"model folder {folder} does not exist")
    path = os.path.join(folder, METADATA)
    metadata = _load_metadata(path)
    files = {key: _file_path(folder, path, metadata, key) for key in file_keys() if key in metadata}
    target = metadata["target"]
    if not isinstance(target, dict) or target.get("kind") not in PLATFORMS:
        kind = target.get("kind") if isinstance(target, dict) else target
        raise ModelError(f"{path}: the runtime runs TVM targets {', '.join(PLATFORMS)}, not {kind!r}")
    checked = ModelFolder(
        folder=folder,
        metadata=metadata,
        inputs=[_tensor(path, "inputs", e) for e in metadata["inputs"]],
        outputs=[_tensor(path, "outputs", e) for e in metadata["outputs"]],
        files=files,
    )
    checked.engine_file(engine or checked.engine)
    return checked


def write_model_file(folder: str, key: str, data: bytes) -> dict:
    """Write the model file of metadata key `key` into `folder` under the name the farm gives it; the metadata entries naming it."""
    name = file_keys()[key]
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)
    return {key: name, f"{key}_sha256": hashlib.sha256(data).hexdigest()}


def write_metadata(folder: str, metadata: dict) -> None:
    """Replace `folder`'s metadata with `metadata`, atomically (written to a temporary file, synced, renamed)."""
    path = os.path.join(folder, METADATA)
    with open(path + ".tmp", "w") as f:
        json.dump(metadata, f, indent=2)
        f.flush()
        os.fsync(f.fileno())
    os.replace(path + ".tmp", path)


def read_metadata(folder: str) -> dict:
    """`folder`'s metadata as written, unchecked (what the farm itself wrote and now adds to)."""
    return _load_metadata(os.path.join(folder, METADATA))
