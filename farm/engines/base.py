"""The engine interface: how one engine runs a model on a device, which settings of it are worth measuring, what it ships.

An engine is a way to execute a variant's model: `tvm` (the tuned Relax VM library),
`onnxruntime` (the original ONNX model with inference settings chosen by measurement),
`openvino` (the same model compiled by OpenVINO), `hybrid` (each kernel on the engine
that ran it faster). Everything engine-specific is behind this interface, so that the
ranking, the packages, the benchmark stage, the CLI and the dashboard read an engine's
figures without naming it. Each engine says whether it runs here (`available`), which
settings to try on a device of `cores` cores (`configs`; the first is the engine's own
default), the environment its timing worker needs (TVM sizes its thread pool from
`TVM_NUM_THREADS` when the pool is created, so the count must be in the worker's
environment before anything runs), how its file is made for other shapes (`prepare`),
and what a package of it is: the Python requirements, the model type and inference
settings `models_rank.json` shows, a standalone example. Its runtime side (the file it
runs, the module that opens it, in a package and in the farm's timing workers alike) is
its entry in `farm.runtime.engines.RUNTIME_ENGINES`. Engines are found by name in
`farm.engines.ENGINES`; they import their library only where they run it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..precision import EXACT

if TYPE_CHECKING:
    from ..models.onnx_import import OnnxModel
    from ..runtime.engines import RuntimeEngine


@dataclass(frozen=True)
class Preparation:
    """What an engine prepares its file from outside a tune: the original ONNX model, the model imported at the shapes
    to run, the kind's TVM target and the tuning database's URI."""

    original: bytes
    model: OnnxModel
    target: dict
    db_uri: str


@dataclass(frozen=True)
class EngineConfig:
    """One way to run an engine: its name, its settings (JSON-able), the threads it uses and the precision it computes
    in (recorded with every figure)."""

    engine: str
    label: str
    settings: dict = field(default_factory=dict)
    threads: int | None = None
    precision: str = EXACT

    def as_json(self) -> dict:
        return {
            "engine": self.engine,
            "label": self.label,
            "settings": self.settings,
            "threads": self.threads,
            "precision": self.precision,
        }


class Engine(ABC):
    """What the farm needs of an engine: candidate settings, a timing worker's environment, a runner, its package."""

    name: str
    title: str  # how a person reads its name ("ONNX Runtime")
    model_type: str  # the `model_config` type of its entries in `models_rank.json`, as Olive names model types
    usage: str  # one line of a package's README: how its file runs with the engine's own library

    @property
    def file_key(self) -> str:
        """The metadata key of the variant-folder file this engine runs."""
        return self.runtime.file_key

    @property
    def artifact(self) -> str:
        """The name of the variant-folder file this engine runs."""
        return self.runtime.file_name

    @property
    def runtime(self) -> RuntimeEngine:
        """The engine's runtime side: the file it runs, the module that opens it (in a package, in a timing worker)."""
        from ..runtime.engines import runtime_engine

        return runtime_engine(self.name)

    def available(self, device_type: str) -> bool:
        """Whether this engine runs on a `device_type` device here (its library installed, the device one it drives)."""
        return True

    @abstractmethod
    def configs(self, cores: int) -> list[EngineConfig]:
        """The settings worth measuring on a device with `cores` cores, the engine's default first."""

    def reduced_configs(self, cores: int, precision: str) -> list[EngineConfig]:
        """The configurations worth measuring at a reduced `precision` (`farm.precision`), if the engine has any."""
        return []

    def worker_env(self, config: EngineConfig) -> dict[str, str]:
        """Environment variables the timing worker of `config` must start with."""
        return {}

    @abstractmethod
    @abstractmethod
    def requirements(self) -> list[str]:
        """The pip requirements of a package that runs this engine (beyond numpy)."""

    def prepare(self, preparation: Preparation) -> bytes | None:
        """The file this engine runs for `preparation`'s model and shapes (a batch-size sweep re-times engines at other
        shapes); None when it can be made only by a tune, as the hybrid's plan is."""
        return None

    def example(self) -> str | None:
        """A standalone `example.py` that runs a packaged folder with the engine's own library on random inputs, reading
        the folder's metadata when it runs; None: the package bundles the farm's runtime and its example uses that."""
        return None

    def inference_settings(self, measured: dict, device: str) -> dict:
        """What `models_rank.json` adds to a candidate's inference settings, from the figures of its fastest configuration
        (`measured`: threads, settings) on a `device` platform: the engine's own session settings, as Olive writes them."""
        return {}


def thread_counts(cores: int) -> list[int]:
    """Thread counts worth trying on `cores` cores: powers of two below it, and `cores` itself."""
    counts, n = [], 1
    while n < cores:
        counts.append(n)
        n *= 2
    return counts + [max(1, cores)]
