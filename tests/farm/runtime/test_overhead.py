"""What `run` adds to the engine's own call is less than handing that call to another thread would (issue 26's
runtime-overhead target as a relation: `scripts/bench_engines.py` measures it in microseconds on public models).

Each engine runs in a fresh process, as an application would load it; the process times pairs of calls on one thread
(the engine's own call on prepared tensors, then `farm.runtime`'s `run` on numpy arrays, the order alternating), and
beside them the round trip of an empty job through a one-thread executor, the cost the runtime's inline path exists to
avoid (the runtime once paid it on every call; the figures are in docs/benchmarks.md).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PAIRS = 400
MEASURE = r"""
import json, sys
from concurrent.futures import ThreadPoolExecutor
import numpy as np
from farm import runtime as rt
from farm.runtime.profiling import paired_seconds
model = rt.load_model(sys.argv[1], engine=sys.argv[2])
inputs = {i.name: np.random.default_rng(0).random(i.shape).astype(i.dtype) for i in model.inputs}
executor = ThreadPoolExecutor(max_workers=1)
calls = {"own": model.engine_call(inputs), "run": lambda: model.run(inputs), "handoff": lambda: executor.submit(int).result()}
pairs = int(sys.argv[3])
seconds = paired_seconds(calls, pairs - pairs // 10, warmup=pairs // 10)
print(json.dumps({
    "overhead": float(np.median(np.subtract(seconds["run"], seconds["own"]))),
    "handoff": float(np.median(seconds["handoff"])),
    "own": float(np.median(seconds["own"])),
}))
model.close()
"""


@pytest.mark.parametrize("engine", ["tvm", "onnxruntime", "openvino", "hybrid"])
def test_the_runtime_adds_less_to_an_engine_call_than_a_thread_handoff(chosen_variant, hybrid_variant, engine):
    folder = hybrid_variant if engine == "hybrid" else chosen_variant
    proc = subprocess.run(
        [sys.executable, "-c", MEASURE, str(folder), engine, str(PAIRS)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    figures = json.loads(proc.stdout)
    assert figures["overhead"] < figures["handoff"], figures
