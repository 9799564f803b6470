"""What runs inside one engine configuration's timing worker: load the engine once, then time batches of inferences.

Each configuration gets a process of its own (a TVM popen worker, started with the
configuration's environment), which keeps its loaded runner in `_RUNNER` between calls,
so the timing rounds of `farm.engines.timing` alternate between processes without
reloading anything.
"""

from __future__ import annotations

import os
import time

import numpy as np

from .base import EngineConfig, Runner

_RUNNER: list[Runner] = []


def prepare(config: dict, artifact: bytes, device_type: str, inputs: list[np.ndarray], warmup: int) -> tuple[int, list[np.ndarray]]:
    """Load `config`'s engine on `artifact`, run `warmup` untimed inferences (at least one); this process's id, the last outputs."""
    from . import engine_named

    engine_config = EngineConfig(**config)
    runner = engine_named(engine_config.engine).load(artifact, engine_config, device_type, inputs)
    _RUNNER[:] = [runner]
    for _ in range(max(0, warmup - 1)):
        runner()
    return os.getpid(), runner()


def time_runs(number: int) -> list[float]:
    """One untimed inference (the caches and thread pool warm again after another engine ran), then `number` timed ones (s)."""
    runner = _RUNNER[0]
    runner()
    seconds = []
    for _ in range(number):
        start = time.perf_counter()
        runner()
        seconds.append(time.perf_counter() - start)
    return seconds
