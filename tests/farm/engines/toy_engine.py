"""A toy engine, both sides of it, defined outside the farm: ONNX's reference evaluator running a variant's ONNX model.

It is what a new engine is: one farm-side class (`farm.engines.base.Engine`) and one
runtime-side module (this one's `open_model`), each found through its table, with no
other module of the farm touched. `tests/farm/engines/test_toy_engine.py` registers it.
"""

from __future__ import annotations

import importlib.metadata
import threading

import numpy as np

from farm.engines.base import Engine, EngineConfig, Preparation
from farm.runtime.container import ModelFolder
from farm.runtime.loaded import LoadedModel
from farm.runtime.local_info import DeviceInfo

NAME = "toy"


def _evaluator(model: bytes | str):
    from onnx.reference import ReferenceEvaluator

    return ReferenceEvaluator(model)


class ToyEngine(Engine):
    name = NAME
    title = "ONNX reference"
    model_type = "ONNXReferenceModel"
    usage = "model.onnx runs in onnx.reference.ReferenceEvaluator."

    def configs(self, cores: int) -> list[EngineConfig]:
        return [EngineConfig(self.name, "toy-reference", {"evaluator": "reference"}, 1)]

    def prepare(self, preparation: Preparation) -> bytes:
        return preparation.original

    def requirements(self) -> list[str]:
        return [f"onnx=={importlib.metadata.version('onnx')}"]

    def inference_settings(self, measured: dict, device: str) -> dict:
        return {"evaluator": (measured.get("settings") or {}).get("evaluator")}


class ToyModel(LoadedModel):
    """A variant loaded in the reference evaluator, behind the runtime's one interface."""

    def __init__(self, container: ModelFolder, path: str, device: DeviceInfo) -> None:
        self._container, self.device, self.threads = container, device, 1
        self._evaluator = _evaluator(path)
        self._start_executor()
        self._worker = self._executor.submit(threading.get_ident).result()

    def _execute(self, args: list[np.ndarray]) -> list[np.ndarray]:
        feed = dict(zip(self._evaluator.input_names, args))
        return self._check_outputs([np.asarray(a) for a in self._evaluator.run(None, feed)])


def open_model(container: ModelFolder, device: DeviceInfo, threads: int | None, engine: str) -> ToyModel:
    return ToyModel(container, container.engine_file(engine), device)
