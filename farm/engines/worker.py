"""What runs inside one engine configuration's timing worker: the configuration loaded as a package loads it, then timed.

Each configuration gets a process of its own (`farm.engines.process`, started with the
configuration's environment). What is timed is what a package's user runs: the worker
writes the configuration as a variant folder (the engine's file, and metadata naming the
engine with the configuration's settings and threads), opens it with
`farm.runtime.load_model` and times `model.run(inputs)`, the runtime's whole call path
(checks, the model's worker thread, copies) included. The folder is removed once the model
is loaded (every engine has read its file by then), so a killed worker leaves nothing.
The engine's runtime side is sent with the call, so an engine that the worker's own table
does not list (a plug-in, a test's) loads too. The loaded model stays in `_LOADED` between
calls, so the timing rounds of `farm.engines.timing` alternate between processes without
reloading anything.
"""

from __future__ import annotations

import tempfile
import time

import numpy as np

from ..runtime.engines import RUNTIME_ENGINES, RuntimeEngine

_LOADED: list = []  # the loaded model and the inputs it is timed on


def ready(name: str, runtime: RuntimeEngine) -> None:
    """Register the engine's runtime side and import its module (the workers of a timing do this side by side, before
    any of them loads)."""
    RUNTIME_ENGINES.setdefault(name, runtime)
    runtime.import_all()


def _run() -> list[np.ndarray]:
    model, inputs = _LOADED
    return list(model.run(inputs).values())


def prepare(
    name: str,
    config: dict,
    artifact: bytes,
    metadata: dict,
    inputs: dict[str, np.ndarray],
    warmup: int,
    budget_s: float,
) -> tuple[list[np.ndarray], float]:
    """Load `config` of engine `name` on `artifact` through the runtime, as a package whose `metadata` describes the
    model, and run `warmup` untimed inferences (at least one; fewer once they took a fifth of `budget_s`); the last
    outputs and the seconds of the last inference."""
    from ..runtime.container import engine_copy, write_metadata, write_model_file
    from ..runtime.loading import load_model

    with tempfile.TemporaryDirectory(prefix="farm-timing-") as folder:
        figures = {"settings": config["settings"], "threads": config["threads"]}
        files = write_model_file(folder, RUNTIME_ENGINES[name].file_key, artifact)
        described = engine_copy({**metadata, "engine": name}, name)
        write_metadata(folder, {**described, **files, "engines": {name: figures}})
        _LOADED[:] = [load_model(folder), inputs]
    start = time.perf_counter()
    for _ in range(max(1, warmup)):
        last = time.perf_counter()
        outputs = _run()
        if time.perf_counter() - start > budget_s / 5:
            break
    return outputs, time.perf_counter() - last


def infer_samples(samples: list[dict[str, np.ndarray]]) -> list[list[np.ndarray]]:
    """The outputs of each sample inputs (the agreement is measured on them)."""
    model = _LOADED[0]
    return [list(model.run(sample).values()) for sample in samples]


def time_runs(number: int, rewarm_s: float) -> list[float]:
    """Untimed inferences for `rewarm_s` (at least one: the caches and the thread pool, asleep while other engines ran,
    warm again), then `number` timed ones (s)."""
    start = time.perf_counter()
    _run()
    while time.perf_counter() - start < rewarm_s:
        _run()
    seconds = []
    for _ in range(number):
        start = time.perf_counter()
        _run()
        seconds.append(time.perf_counter() - start)
    return seconds
