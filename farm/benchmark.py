"""Verification and baseline: a variant through the TVM VM against the original model through ONNX Runtime, on a device node.

`compare_on_device` runs the comparison in the measurement actor of a node that serves
the variant's kind (`cluster.actors.MeasurementActor.run`, in its device worker), so it
never overlaps a tuning measurement on that device. The variant library and the ONNX
model travel as bytes (no shared filesystem). Both runtimes get the same random inputs and the node's thread
count (`TVM_NUM_THREADS`; ONNX Runtime's `intra_op_num_threads`, CPU provider), warm up,
then run `repeat` timed inferences each. The result has latency statistics for both
(median, mean, std, p90 in ms), throughput, the speed-up over ONNX Runtime, and the
largest absolute and relative differences of the outputs; `agrees` says whether they
are within tolerance.
"""

from __future__ import annotations

import os
import tempfile
import time

import numpy as np
import ray

from cluster.actors import device_actors
from cluster.nodes import nodes_serving

ABS_TOL = 1e-3
REL_TOL = 1e-2


def _stats(seconds: list[float]) -> dict:
    ms = np.asarray(seconds) * 1e3
    return {
        "median_ms": float(np.median(ms)),
        "mean_ms": float(ms.mean()),
        "std_ms": float(ms.std()),
        "p90_ms": float(np.percentile(ms, 90)),
        "throughput_per_s": float(1e3 / np.median(ms)),
    }


def _outputs(value) -> list[np.ndarray]:
    import tvm

    if isinstance(value, tvm.runtime.Tensor):
        return [value.numpy()]
    return [v for item in value for v in _outputs(item)]


def run_comparison(library: bytes, onnx_model: bytes, inputs: dict[str, np.ndarray], threads: int, warmup: int, repeat: int) -> dict:
    """On this process's node: time the variant and the ONNX original on `inputs`; compare their outputs."""
    import onnxruntime as ort
    import tvm
    from tvm import relax

    with tempfile.TemporaryDirectory(prefix="farm-bench-") as folder:
        path = os.path.join(folder, "model.so")
        with open(path, "wb") as f:
            f.write(library)
        vm = relax.VirtualMachine(tvm.runtime.load_module(path), tvm.cpu())
    args = [tvm.runtime.tensor(x) for x in inputs.values()]
    for _ in range(warmup):
        tvm_out = vm["main"](*args)
    tvm_secs = []
    for _ in range(repeat):
        start = time.perf_counter()
        tvm_out = vm["main"](*args)
        tvm_secs.append(time.perf_counter() - start)

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(onnx_model, options, providers=["CPUExecutionProvider"])
    for _ in range(warmup):
        ort_out = session.run(None, inputs)
    ort_secs = []
    for _ in range(repeat):
        start = time.perf_counter()
        ort_out = session.run(None, inputs)
        ort_secs.append(time.perf_counter() - start)

    abs_diff = rel_diff = 0.0
    for a, b in zip(_outputs(tvm_out), ort_out):
        diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
        abs_diff = max(abs_diff, float(diff.max(initial=0.0)))
        rel_diff = max(rel_diff, float((diff / np.maximum(np.abs(b), 1e-6)).max(initial=0.0)))
    tvm_stats, ort_stats = _stats(tvm_secs), _stats(ort_secs)
    return {
        "tvm": tvm_stats,
        "ort": ort_stats,
        "tvm_latency_ms": tvm_stats["median_ms"],
        "ort_latency_ms": ort_stats["median_ms"],
        "speedup_vs_ort": ort_stats["median_ms"] / tvm_stats["median_ms"],
        "max_abs_diff": abs_diff,
        "max_rel_diff": rel_diff,
        "agrees": bool(abs_diff <= ABS_TOL or rel_diff <= REL_TOL),
        "threads": threads,
        "warmup": warmup,
        "repeat": repeat,
    }


def compare_on_device(
    kind: str, library_path: str, onnx_model: bytes, inputs: dict[str, np.ndarray], *, warmup: int = 5, repeat: int = 50, timeout_s: float = 600.0
) -> dict:
    """`run_comparison` in the device worker of a live node serving `kind`, with that node's thread count."""
    node = nodes_serving(kind)[0]
    actor = device_actors(node, node.kind_platforms[kind])[0]
    with open(library_path, "rb") as f:
        library = f.read()
    result = ray.get(actor.run.remote(run_comparison, (library, onnx_model, inputs, node.num_cores or 1, warmup, repeat), timeout_s))
    return {**result, "node_id": node.node_id}
