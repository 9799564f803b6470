"""The engine interface: how one engine runs a model on a device, which settings of it are worth measuring, what it ships.

An engine is a way to execute a variant's model: `tvm` (the tuned Relax VM library),
`onnxruntime` (the original ONNX model with inference settings chosen by measurement),
`hybrid` (each kernel on whichever of the two ran it faster).
Each engine says which settings to try on a device of `cores` cores (`configs`; the
first is the engine's own default), the environment its timing worker needs (TVM sizes
its thread pool from `TVM_NUM_THREADS` when the pool is created, so the count must be in
the worker's environment before anything runs), how to load a runner from the variant's
files inside that worker (`load`), and which Python requirements a package of it needs.
Engines are found by name in `farm.engines.ENGINES`; they import ONNX Runtime only where
they run it (TVM comes with `farm.runtime`, whose helpers they share).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

Runner = Callable[[], list[np.ndarray]]  # one inference on the inputs the runner was loaded with: its outputs


@dataclass(frozen=True)
class EngineConfig:
    """One way to run an engine: its name, its settings (JSON-able) and the threads it uses (recorded with every figure)."""

    engine: str
    label: str
    settings: dict = field(default_factory=dict)
    threads: int | None = None

    def as_json(self) -> dict:
        return {"engine": self.engine, "label": self.label, "settings": self.settings, "threads": self.threads}


class Engine(ABC):
    """What the farm needs of an engine: candidate settings, a timing worker's environment, a runner, package requirements."""

    name: str
    artifact: str  # the variant-folder file this engine runs
    modules: tuple[str, ...] = ()  # what its `load` imports: a timing worker imports them while the others start too

    @abstractmethod
    def configs(self, cores: int) -> list[EngineConfig]:
        """The settings worth measuring on a device with `cores` cores, the engine's default first."""

    def worker_env(self, config: EngineConfig) -> dict[str, str]:
        """Environment variables the timing worker of `config` must start with."""
        return {}

    @abstractmethod
    def load(self, artifact: bytes, config: EngineConfig, device_type: str, inputs: list[np.ndarray]) -> Runner:
        """In a worker of its own: the model of `artifact` ready to run on `inputs` (in the model's input order)."""

    @abstractmethod
    def requirements(self) -> list[str]:
        """The pip requirements of a package that runs this engine (beyond numpy)."""


def thread_counts(cores: int) -> list[int]:
    """Thread counts worth trying on `cores` cores: powers of two below it, and `cores` itself."""
    counts, n = [], 1
    while n < cores:
        counts.append(n)
        n *= 2
    return counts + [max(1, cores)]
