"""What runs inside one engine configuration's timing worker: load the engine once, then time batches of inferences.

Each configuration gets a process of its own (`farm.engines.process`, started with the
configuration's environment) and is sent its engine (the object, so an engine the worker's
own table does not list runs too), keeps its loaded runner in `_RUNNER` between calls,
so the timing rounds of `farm.engines.timing` alternate between processes without
reloading anything.
"""

from __future__ import annotations

import importlib
import time

import numpy as np

from .base import Engine, EngineConfig, Runner

_RUNNER: list[Runner] = []


def ready(engine: Engine) -> None:
    """Import what `engine` loads with (the workers of a timing do this side by side, before any of them loads)."""
    for module in engine.modules:
        importlib.import_module(module)


def prepare(
    engine: Engine,
    config: dict,
    artifact: bytes,
    device_type: str,
    inputs: list[np.ndarray],
    warmup: int,
    budget_s: float,
) -> tuple[list[np.ndarray], float]:
    """Load `engine` in `config` on `artifact` and run `warmup` untimed inferences (at least one; fewer once they took a
    fifth of `budget_s`); the last outputs and the seconds of the last inference."""
    engine_config = EngineConfig(**config)
    runner = engine.load(artifact, engine_config, device_type, inputs)
    _RUNNER[:] = [runner]
    start = time.perf_counter()
    for _ in range(max(1, warmup)):
        last = time.perf_counter()
        outputs = runner()
        if time.perf_counter() - start > budget_s / 5:
            break
    return outputs, time.perf_counter() - last


def time_runs(number: int, rewarm_s: float) -> list[float]:
    """Untimed inferences for `rewarm_s` (at least one: the caches and the thread pool, asleep while other engines ran,
    warm again), then `number` timed ones (s)."""
    runner = _RUNNER[0]
    start = time.perf_counter()
    runner()
    while time.perf_counter() - start < rewarm_s:
        runner()
    seconds = []
    for _ in range(number):
        start = time.perf_counter()
        runner()
        seconds.append(time.perf_counter() - start)
    return seconds
