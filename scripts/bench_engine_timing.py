"""Benchmark of the engine timing's fixed cost; prints one JSON object.

Side by side in one run: the seconds until a timing worker has imported what its engine
loads with, in the farm's worker (`farm.engines.process`) and in TVM's popen worker (which
the farm used before, and which imports TVM first whatever the engine), per engine
(median of `--repeat`); then the wall time of `time_engines` on a small CNN compiled with
TVM's default schedules, with every configuration of both engines on this machine's cores.

    python scripts/bench_engine_timing.py [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import onnx

from farm.engines.process import WorkerProcess
from farm.engines.timing import time_engines
from farm.engines.worker import ready
from farm.models.examples import resnet_cnn
from farm.models.onnx_import import prepare, random_inputs


def _ready_seconds(start_worker, engine: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        worker = start_worker()
        worker.send(ready, (engine,))
        worker.recv()
        times.append(time.perf_counter() - start)
        worker.kill()
    return statistics.median(times)


def _library(onnx_path: str, folder: str) -> bytes:
    import tvm
    from tvm import relax

    from cluster.devices import detect_kinds
    from farm.tuning.session import named_params

    model = prepare(onnx_path)
    kind = [k for k in detect_kinds() if k.platform == "cpu"][-1]
    mod, params = model.relax
    bound = relax.transform.BindParams("main", named_params(mod, params, len(model.inputs)))(mod)
    path = os.path.join(folder, "model.so")
    relax.build(bound, target=tvm.target.Target(kind.target)).export_library(path)
    with open(path, "rb") as f:
        return f.read()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    from tvm.support.popen_pool import PopenWorker

    ready_s = {
        engine: {
            "farm_worker_s": _ready_seconds(WorkerProcess, engine, args.repeat),
            "tvm_popen_worker_s": _ready_seconds(PopenWorker, engine, args.repeat),
        }
        for engine in ("onnxruntime", "tvm")
    }
    for figures in ready_s.values():
        figures["ratio"] = figures["tvm_popen_worker_s"] / figures["farm_worker_s"]
    with tempfile.TemporaryDirectory() as folder:
        onnx_path = os.path.join(folder, "model.onnx")
        onnx.save(resnet_cnn(size=8, width=4, blocks=1), onnx_path)
        artifacts = {"model.so": _library(onnx_path, folder), "model.onnx": Path(onnx_path).read_bytes()}
        cores = len(os.sched_getaffinity(0))
        start = time.perf_counter()
        result = time_engines(artifacts, random_inputs(prepare(onnx_path).inputs), cores=cores)
        timing_s = time.perf_counter() - start
    print(
        json.dumps(
            {
                "cores": cores,
                "worker_ready": ready_s,
                "time_engines": {"seconds": round(timing_s, 2), "configs": [c.label for c in result.configs]},
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
