"""Per-kernel best-of: time every kernel of a model in TVM and in ONNX Runtime on the device, and plan the hybrid.

The founders of the hosted platform pick, for each kernel, the faster of generated code
and a vendor library. On CPU the only kernel library at hand is ONNX Runtime's (the TVM
wheel has no DNNL, BLAS or MKL), and it can win by a lot: on a detector tuned for 400
trials, a convolution ran 4.0 ms as the best TVM schedule and 0.45-0.52 ms in ONNX Runtime.

1. `kernel_candidates`: every kernel (`farm.engines.kernels`) cut out as an ONNX model and
   compiled by TVM with the database's best schedules (the caller's `compile_tvm`).
2. `time_kernels`, in the device's measurement worker: a process of its own started with
   the thread count in its environment loads each kernel in both engines as a one-segment
   hybrid (`farm.runtime.hybrid_model.HybridPipeline`: the call path the hybrid really
   uses, numpy in and out, so the cost of crossing between the engines counts), feeds it
   the tensors ONNX Runtime computes for the kernel's inputs from the model's inputs, checks
   TVM's outputs against ONNX Runtime's, and times both engines over alternating rounds.
   TVM's pool does not spin and ONNX Runtime's kernels share one pool, as in the hybrid
   (`farm.runtime.hybrid_model`); each timed batch starts after 10 ms of untimed calls, so
   the other engine's pool has gone quiet. Each kernel is also timed at a crossing, the two
   engines taking turns call by call (`tvm_crossing_us`, `onnxruntime_crossing_us`): a kernel
   runs slower right after the other engine than back to back. On PP-OCRv4's DBNet, a TVM
   convolution that ran 570 us back to back ran 900 us after 2 ms of anything else (its
   pool's sleeping worker, and an idle vCPU, must wake) and 1,000-1,150 us after an ONNX
   Runtime segment (whose work also evicts its weights); a plan on back-to-back figures
   estimated its hybrid at 15.9 ms, which ran 22.5 ms, no faster than ONNX Runtime whole.
3. `plan_segments`: each kernel on the faster engine whose outputs agree, TVM charged what
   a lone TVM kernel among ONNX Runtime ones costs (`tvm_cost`); consecutive
   kernels of one engine merge into one segment (compiled or cut out again as one piece; a
   lone TVM kernel keeps the library it was timed with),
   so crossings happen only where the engine changes. A plan whose kernels all chose one
   engine is no hybrid and is not built.

The hybrid is then timed end to end beside the pure engines (`farm.engines.timing`) and
kept only where it is the fastest agreeing engine; its plan, with both timings of every
kernel, is stored with the variant.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from itertools import groupby

import numpy as np
import onnx

from ..runtime.hybrid_model import ENGINE_SUFFIXES, write_plan
from .kernels import Segmenter

KERNEL_ROUNDS = 5
KERNEL_BUDGET_S = 0.05  # timed calls of one kernel in one engine per round, about
KERNEL_WARMUP = 3
KERNEL_REWARM_S = 0.01

CompileTvm = Callable[
    [onnx.ModelProto], bytes
]  # an ONNX model -> its Relax VM library, compiled with the database's schedules


def _segment_archive(engine: str, data: bytes, inputs: list[str], outputs: list[str]) -> bytes:
    name = f"segment{ENGINE_SUFFIXES[engine]}"
    plan = {
        "inputs": inputs,
        "outputs": outputs,
        "segments": [{"engine": engine, "file": name, "inputs": inputs, "outputs": outputs}],
    }
    return write_plan(plan, {name: data})


def kernel_candidates(segmenter: Segmenter, compile_tvm: CompileTvm) -> list[dict]:
    """Per kernel: its description, tensor names, TVM's `library`, and a one-segment archive per engine (no TVM library or
    archive where TVM failed: `tvm_error`)."""
    candidates = []
    for kernel in segmenter.kernels:
        part = segmenter.segment_model(kernel.index, kernel.index)
        inputs, outputs = segmenter.io(kernel.index, kernel.index)
        entry = {**kernel.as_json(), "inputs": inputs, "outputs": outputs, "archives": {}}
        entry["archives"]["onnxruntime"] = _segment_archive("onnxruntime", part.SerializeToString(), inputs, outputs)
        try:
            entry["library"] = compile_tvm(part)
            entry["archives"]["tvm"] = _segment_archive("tvm", entry["library"], inputs, outputs)
        except Exception as e:  # noqa: BLE001 - a kernel TVM cannot compile stays on ONNX Runtime
            entry["tvm_error"] = f"{type(e).__name__}: {str(e).strip().splitlines()[-1] if str(e).strip() else ''}"
        candidates.append(entry)
    return candidates


def _time_calls(run: Callable[[], object], budget_s: float) -> list[float]:
    """Untimed calls for KERNEL_REWARM_S (the other engine's pool stops spinning meanwhile), then about `budget_s` of timed ones."""
    start = time.perf_counter()
    run()
    once = max(time.perf_counter() - start, 1e-7)
    while time.perf_counter() - start < KERNEL_REWARM_S:
        run()
    seconds = []
    for _ in range(max(1, int(budget_s / once))):
        start = time.perf_counter()
        run()
        seconds.append(time.perf_counter() - start)
    return seconds


def _time_crossings(tvm_run: Callable[[], object], ort_run: Callable[[], object], budget_s: float) -> tuple[list, list]:
    """The engines taking turns for about `budget_s`: the run times of TVM right after ONNX Runtime, and of ONNX Runtime
    right after TVM (s)."""
    after_ort, after_tvm = [], []
    start = time.perf_counter()
    while time.perf_counter() - start < budget_s or not after_tvm:
        for run, seconds in ((tvm_run, after_ort), (ort_run, after_tvm)):
            began = time.perf_counter()
            run()
            seconds.append(time.perf_counter() - began)
    return after_ort, after_tvm


def _time_in_worker(
    archives: list[dict[str, bytes]],
    names: list[tuple[list[str], list[str]]],
    inputs: dict[str, np.ndarray],
    device_type: str,
    threads: int,
    rounds: int,
    budget_s: float,
) -> list[dict]:
    """In a process started with `TVM_NUM_THREADS` = `threads` and TVM's pool not spinning: each kernel's agreement and run
    times in both engines."""
    from ..precision import EXACT, Tolerance, agreement
    from ..runtime.hybrid_model import HybridPipeline

    pipelines = [
        {engine: HybridPipeline(a, device_type, threads) for engine, a in kernel.items()} for kernel in archives
    ]
    values = dict(inputs)
    feeds, results = [], []
    for kernel, (ins, outs) in zip(pipelines, names):
        feed = [values[n] for n in ins]
        reference = [np.array(a) for a in kernel["onnxruntime"](feed)]
        values.update(zip(outs, reference))
        feeds.append(feed)
        result: dict = {"seconds": {engine: [] for engine in kernel}, "crossing": {engine: [] for engine in kernel}}
        if "tvm" in kernel:
            agreed = agreement([[np.array(a) for a in kernel["tvm"](feed)]], [reference], EXACT, Tolerance())
            result.update(max_abs_diff=agreed.max_abs_diff, max_rel_diff=agreed.max_rel_diff, agrees=agreed.agrees)
        results.append(result)
    for kernel, feed in zip(pipelines, feeds):
        for run in kernel.values():
            for _ in range(KERNEL_WARMUP):
                run(feed)
    for r in range(rounds):
        for kernel, feed, result in zip(pipelines, feeds, results):
            engines = list(kernel)
            for engine in engines[r % len(engines) :] + engines[: r % len(engines)]:
                result["seconds"][engine] += _time_calls(functools.partial(kernel[engine], feed), budget_s)
            if "tvm" in kernel:
                after_ort, after_tvm = _time_crossings(
                    functools.partial(kernel["tvm"], feed), functools.partial(kernel["onnxruntime"], feed), budget_s
                )
                result["crossing"]["tvm"] += after_ort
                result["crossing"]["onnxruntime"] += after_tvm
    return [
        {
            **{k: v for k, v in r.items() if k not in ("seconds", "crossing")},
            **{f"{engine}_us": float(np.median(s)) * 1e6 for engine, s in r["seconds"].items()},
            **{f"{engine}_crossing_us": float(np.median(s)) * 1e6 for engine, s in r["crossing"].items() if s},
        }
        for r in results
    ]


def time_kernels(
    candidates: list[dict],
    inputs: dict[str, np.ndarray],
    *,
    cores: int,
    device_type: str = "cpu",
    rounds: int = KERNEL_ROUNDS,
    budget_s: float = KERNEL_BUDGET_S,
    timeout_s: float = 1800.0,
) -> list[dict]:
    """Both engines' median run time (us) of every kernel of `candidates` and TVM's agreement, with `cores` threads each.

    Runs wherever it is called (the farm calls it in the device's measurement worker) and
    starts one process of its own for the timing, so TVM's pool gets `cores` threads.
    """
    from ..runtime.hybrid_model import NO_SPIN
    from .process import WorkerProcess
    from .tvm_engine import NUM_THREADS_VAR

    worker = WorkerProcess({NUM_THREADS_VAR: str(cores), **NO_SPIN})
    try:
        worker.send(
            _time_in_worker,
            (
                [c["archives"] for c in candidates],
                [(c["inputs"], c["outputs"]) for c in candidates],
                inputs,
                device_type,
                cores,
                rounds,
                budget_s,
            ),
            timeout=timeout_s,
        )
        return worker.recv()
    finally:
        worker.kill()


def tvm_cost(timing: dict) -> float:
    """What running a kernel on TVM among ONNX Runtime kernels costs (us): its time right after ONNX Runtime, plus what the
    ONNX Runtime kernel after it loses to the crossing back (`_time_crossings`)."""
    return timing["tvm_crossing_us"] + max(0.0, timing["onnxruntime_crossing_us"] - timing["onnxruntime_us"])


def choose(timings: list[dict]) -> list[str]:
    """Per kernel, the engine that runs it: TVM where it agrees with ONNX Runtime and costs less (`tvm_cost`), else ONNX
    Runtime."""
    return [
        "tvm"
        if t.get("agrees") and t.get("tvm_us") is not None and tvm_cost(t) < t["onnxruntime_us"]
        else "onnxruntime"
        for t in timings
    ]


def plan_segments(
    segmenter: Segmenter, candidates: list[dict], timings: list[dict], compile_tvm: CompileTvm, threads: int
) -> tuple[dict, bytes | None]:
    """The hybrid's plan (kernels with both timings and their engine, segments) and its `hybrid.zip`; None when one engine takes all."""
    engines = choose(timings)
    kernels = [
        {**{k: v for k, v in c.items() if k not in ("archives", "library", "inputs", "outputs")}, **t, "engine": e}
        for c, t, e in zip(candidates, timings, engines)
    ]
    plan: dict = {
        "inputs": [i.name for i in segmenter.model.graph.input if i.name not in segmenter.initializers],
        "outputs": list(segmenter.graph_outputs),
        "threads": threads,
        "kernels": kernels,
        "kernels_per_engine": {engine: engines.count(engine) for engine in ("tvm", "onnxruntime")},
        "estimated_ms": sum(tvm_cost(t) if e == "tvm" else t["onnxruntime_us"] for t, e in zip(timings, engines)) / 1e3,
        "segments": [],
    }
    if len(set(engines)) < 2:
        plan["built"] = False
        return plan, None
    files = {}
    for index, (engine, group) in enumerate(groupby(range(len(engines)), key=lambda i: engines[i])):
        members = list(group)
        first, last = members[0], members[-1]
        inputs, outputs = segmenter.io(first, last)
        part = segmenter.segment_model(first, last)
        name = f"segment{index:03d}{ENGINE_SUFFIXES[engine]}"
        if engine == "onnxruntime":
            files[name] = part.SerializeToString()
        else:  # a lone kernel's library is the one it was timed with
            files[name] = candidates[first]["library"] if first == last else compile_tvm(part)
        plan["segments"].append(
            {"engine": engine, "file": name, "inputs": inputs, "outputs": outputs, "kernels": members}
        )
    plan["built"] = True
    return plan, write_plan(plan, files)


def build_hybrid(
    model: onnx.ModelProto,
    inputs: dict[str, np.ndarray],
    compile_tvm: CompileTvm,
    on_device: Callable[[Callable, tuple], tuple[object, dict]],
) -> tuple[dict, bytes | None]:
    """Cut `model` into kernels, time each in both engines through `on_device(fn, args)` (`farm.benchmark.on_device` of a
    kind), and plan the hybrid; (plan, `hybrid.zip` or None). Errors travel in the plan (`built` false, `error`)."""
    try:
        segmenter = Segmenter(model)
        candidates = kernel_candidates(segmenter, compile_tvm)
        timings, where = on_device(time_kernels, (candidates, inputs))
        return plan_segments(segmenter, candidates, timings, compile_tvm, where["cores"])
    except Exception as e:  # noqa: BLE001 - no hybrid is a result, not a failed tuning job
        return {"built": False, "error": f"{type(e).__name__}: {e}"}, None
