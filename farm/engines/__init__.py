"""Engines: the ways a variant can run its model, one module each behind `farm.engines.base.Engine`.

`ENGINES` maps an engine's name to its class; `engine_named` finds one. Timing engines
side by side on a device is `farm.engines.timing`; the runtime that a deployed package
uses loads every engine (`farm.runtime.load_model`).
"""

from __future__ import annotations

from .base import Engine, EngineConfig
from .hybrid_engine import HybridEngine
from .onnxruntime_engine import OnnxRuntimeEngine
from .openvino_engine import OpenVinoEngine
from .tvm_engine import TvmEngine

# the reference engine first (its default configuration is what every other is checked against)
ENGINES: dict[str, type[Engine]] = {e.name: e for e in (OnnxRuntimeEngine, TvmEngine, HybridEngine, OpenVinoEngine)}


def engine_named(name: str) -> Engine:
    """The engine called `name`; ValueError naming the engines there are."""
    try:
        return ENGINES[name]()
    except KeyError:
        raise ValueError(f"unknown engine {name!r} (engines: {', '.join(ENGINES)})") from None


__all__ = ["ENGINES", "Engine", "EngineConfig", "engine_named"]
