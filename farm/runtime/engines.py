"""The runtime's engine table: for each engine, the module that opens a variant of it and the one file it runs.

A deployed package carries only `farm.runtime` (standard library, numpy and the engine's own
library), so it cannot see the farm's engine classes (`farm.engines`); this table is the
runtime's side of each engine. `RUNTIME_ENGINES` maps an engine's name to where its loader
lives (a module with `open_model(folder, device, threads)`, imported only when a variant of
that engine loads, so a package never imports an engine it does not run) and which file of
the variant folder it runs: the metadata key naming that file (beside it `<key>_sha256`)
and the file name the farm gives it. Adding an engine is one module and one line here (and
its farm-side module in `farm.engines`).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from .errors import InvalidArgumentError


@dataclass(frozen=True)
class RuntimeEngine:
    """Where an engine's loader lives and which file of a variant folder it runs."""

    module: str  # absolute, or relative to this package: has `open_model(folder, device, threads) -> LoadedModel`
    file_key: str  # the metadata key that names the file (its SHA-256 under `<file_key>_sha256`)
    file_name: str  # the name the farm gives that file in a variant folder
    libraries: tuple[str, ...] = ()  # the engine's own modules, which its loader imports when a model loads

    def loader(self) -> ModuleType:
        return importlib.import_module(self.module, __package__)

    def import_all(self) -> None:
        """Import the loader and the engine's libraries now (a process about to load such a model, ahead of time)."""
        self.loader()
        for library in self.libraries:
            importlib.import_module(library)


RUNTIME_ENGINES: dict[str, RuntimeEngine] = {
    "tvm": RuntimeEngine(".model", "library", "model.so", ("tvm",)),
    "onnxruntime": RuntimeEngine(".ort_model", "onnx_model", "model.onnx", ("onnxruntime",)),
    "hybrid": RuntimeEngine(".hybrid_model", "hybrid_model", "hybrid.zip", ("tvm", "onnxruntime")),
    "openvino": RuntimeEngine(".openvino_model", "onnx_model", "model.onnx", ("openvino",)),
}
DEFAULT_ENGINE = "tvm"  # what a folder that names no engine runs: folders written before engines were chosen


def runtime_engine(name: str) -> RuntimeEngine:
    """The runtime side of engine `name`; `InvalidArgumentError` naming the engines there are."""
    try:
        return RUNTIME_ENGINES[name]
    except KeyError:
        raise InvalidArgumentError(
            f"engine must be one of {', '.join(RUNTIME_ENGINES)} or None, got {name!r}"
        ) from None


def file_keys() -> dict[str, str]:
    """Every metadata key that names a model file, with the file name the farm gives it."""
    return {e.file_key: e.file_name for e in RUNTIME_ENGINES.values()}
