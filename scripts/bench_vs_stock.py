"""Benchmark: the farm's tuning against stock MetaSchedule on one model, same machine and budget, in one run; prints JSON.

    python scripts/bench_vs_stock.py [--model squeezenet] [--trials 1000] [--kind KIND] [--out stock.json]

The farm runs first (`farm tune` on an embedded Ray, a fresh database), then stock
MetaSchedule in this process: `relax_integration.tune_relax` with its defaults (gradient
task scheduler, evolutionary search, XGBoost cost model, `LocalRunner`), except that the
builder is `WarmBuilder`, MetaSchedule's own `default_build`/`default_export` in one
process pool kept for the whole tune (stock `LocalBuilder` starts a fresh pool for every
batch, and each of its workers pays TVM's import again), so stock is not handicapped by
its pool start. Both measure with `TVM_NUM_THREADS` = the machine's cores, and stock
measures as many candidates per task and round as the farm (its default, 64, would spend
a 1,000-trial budget on the first 15 tasks of a 29-task model and leave the rest untuned).

Per side: tuning wall seconds, trials measured and trials per minute; the curve of the
estimated model latency (each task's weight times its best measured run time, summed;
defined once every task has a measurement) against seconds since the tune started; the
seconds it took to reach the goal (ONNX Runtime's default latency as the farm measured it,
else stock's final estimate when neither reaches it); and both final libraries timed end
to end beside ONNX Runtime by the farm's own side-by-side timing (`time_engines`). The
farm also reports where its search time went (`profile`) and its quiet re-measurement of
the best candidates (`fidelity`), which its curve leaves out.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

from bench_vs_ort import PACKAGED, emit, named_model, tune

CURVE_POINTS = 40  # the curve is thinned to about this many points in the JSON


def estimated_curve(events: list[tuple[float, int, float]], weights: list[float]) -> list[tuple[float, int, float]]:
    """(seconds, trials, estimated ms) after each measurement: Σ weight x best seconds, once every task has one."""
    best: dict[int, float] = {}
    curve = []
    for trials, (t, task, secs) in enumerate(sorted(events), start=1):
        if secs < best.get(task, float("inf")):
            best[task] = secs
        if len(best) == len(weights):
            curve.append((t, trials, 1e3 * sum(w * best[i] for i, w in enumerate(weights))))
    return curve


def time_to(curve: list[tuple[float, int, float]], goal_ms: float) -> dict | None:
    """The first point of `curve` at or under `goal_ms`, or None."""
    hit = next((p for p in curve if p[2] <= goal_ms), None)
    return None if hit is None else {"seconds": round(hit[0], 1), "trials": hit[1]}


def thinned(curve: list[tuple[float, int, float]]) -> list[list[float]]:
    step = max(1, len(curve) // CURVE_POINTS)
    return [[round(t, 1), n, round(ms, 3)] for t, n, ms in curve[::step] + curve[-1:]]


def model_tasks(model, target):
    """(module, named weights, the module legalized and fused, its tuning tasks as `tune_relax` extracts them from it).

    Stock `tune_relax` finds no task in a module that is not legalized yet, so both sides
    tune the fused module the farm tunes; the task order is `tune_relax`'s, so stock's
    task ids index the tasks.
    """
    from tvm.s_tir.meta_schedule import relax_integration

    from farm.tuning.session import fused_module, relax_for

    mod, named = relax_for(model, target)
    fused = fused_module(mod, named, target)
    return mod, named, fused, relax_integration.extract_tasks(fused, target)


def run_farm(path: str, shapes: dict, kind: str, trials: int, work: str, tasks) -> dict:
    from tuning_db.database import TuningDatabase
    from tuning_db.workload import workload_key

    start = time.time()
    summary = tune(path, shapes, kind, trials, os.path.join(work, "db"), os.path.join(work, "farm"))
    wall = time.time() - start
    index = {workload_key(t.dispatched[0]): i for i, t in enumerate(tasks)}
    view = TuningDatabase(os.path.join(work, "db")).view(summary["target_key"])
    searched = [
        r
        for r in view.records()
        if r.mean_secs is not None
        and r.workload_key in index
        and not json.loads(r.measure_json or "{}").get("fidelity")
    ]  # the quiet re-measurement is reported apart
    events = [(r.created_at.timestamp() - start, index[r.workload_key], r.mean_secs) for r in searched]
    with open(os.path.join(summary["variant_dir"], "model.so"), "rb") as f:
        library = f.read()
    return {
        "wall_seconds": wall,
        "tuning_seconds": summary["tuning_seconds"],
        "trials": summary["trials_measured"],
        "profile": summary["profile"],
        "fidelity": summary["fidelity"],
        "events": events,
        "library": library,
        "ort_latency_ms": summary["ort_latency_ms"],
    }


def run_stock(model, target, trials: int, work: str, cores: int) -> dict:
    import tvm
    from tvm.ir.utils import derived_object
    from tvm.s_tir.meta_schedule import relax_integration
    from tvm.s_tir.meta_schedule.builder import BuilderResult, PyBuilder
    from tvm.s_tir.meta_schedule.measure_callback import (
        MeasureCallback,
        PyMeasureCallback,
    )
    from tvm.s_tir.meta_schedule.runner import LocalRunner
    from tvm.support.popen_pool import PopenPoolExecutor, StatusKind

    from farm.tuning.session import TuningPlan, exported_library

    def build_one(mod, target, params):
        from tvm.s_tir.meta_schedule.builder.local_builder import (
            default_build,
            default_export,
        )

        return default_export(default_build(mod, target, tvm.runtime.load_param_dict(params) if params else None))

    @derived_object
    class WarmBuilder(PyBuilder):
        """MetaSchedule's default build and export, in one pool of `cores` workers kept warm for the whole tune."""

        def __init__(self) -> None:
            super().__init__()
            self.pool = PopenPoolExecutor(max_workers=cores, timeout=30.0)

        def build(self, build_inputs):
            jobs = [
                (b.mod, b.target, bytes(tvm.runtime.save_param_dict(b.params)) if b.params else None)
                for b in build_inputs
            ]
            results = []
            for out in self.pool.map_with_error_catching(lambda job: build_one(*job), jobs):
                ok = out.status == StatusKind.COMPLETE
                results.append(
                    BuilderResult(out.value, None)
                    if ok
                    else BuilderResult(None, f"WarmBuilder: {out.status}: {out.value}")
                )
            return results

    @derived_object
    class Measured(PyMeasureCallback):
        """Every measurement's time, task and mean run time, for the latency curve."""

        def __init__(self) -> None:
            super().__init__()
            self.events: list[tuple[float, int, float]] = []

        def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results) -> None:
            now = time.time()
            for r in runner_results:
                if r.run_secs:
                    self.events.append((now, task_id, sum(float(s) for s in r.run_secs) / len(r.run_secs)))

    mod, named, fused, tasks = model_tasks(model, target)
    measured = Measured()
    start = time.time()
    db = relax_integration.tune_relax(
        fused,
        {},
        target,
        os.path.join(work, "stock"),
        max_trials_global=trials,
        num_trials_per_iter=TuningPlan(trials).per_iteration(len(tasks)),
        builder=WarmBuilder(),
        runner=LocalRunner(),
        measure_callbacks=[*MeasureCallback.create("default"), measured],
    )
    wall = time.time() - start
    library = exported_library(relax_integration.compile_relax(db, mod, target, named))
    events = [(t - start, task, secs) for t, task, secs in measured.events]
    return {"wall_seconds": wall, "tuning_seconds": wall, "trials": len(events), "events": events, "library": library}


def end_to_end(onnx_bytes: bytes, library: bytes, inputs: dict, cores: int) -> dict:
    from farm.engines.timing import time_engines

    out = time_engines(
        {"model.onnx": onnx_bytes, "model.so": library}, inputs, cores=cores, engines=["onnxruntime", "tvm"]
    )
    tvm = out.engines["tvm"]
    return {
        "tvm_ms": tvm.latency_ms,
        "tvm_threads": tvm.threads,
        "ort_default_ms": out.reference.median_ms,
        "agrees": tvm.agrees,
    }


def side(run: dict, weights: list[float], goal_ms: float, timed: dict) -> tuple[dict, list]:
    curve = estimated_curve(run["events"], weights)
    return {
        "tuning_seconds": round(run["tuning_seconds"], 1),
        "wall_seconds": round(run["wall_seconds"], 1),
        "trials": run["trials"],
        "trials_per_minute": round(60 * run["trials"] / run["tuning_seconds"], 1),
        "final_estimated_ms": curve[-1][2] if curve else None,
        "time_to_goal": time_to(curve, goal_ms),
        "end_to_end": timed,
        **{k: run[k] for k in ("profile", "fidelity") if k in run},
        "curve": thinned(curve),
    }, curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model",
        default="squeezenet",
        help=f"a built-in model of bench_vs_ort ({', '.join(PACKAGED)}, or an onnx light model)",
    )
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--kind", default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    os.environ["TVM_NUM_THREADS"] = str(cores)  # stock's runner workers inherit it; the farm's actors set their own

    import tvm

    from cluster.devices import kind_named
    from farm.cli.tune import default_kind
    from farm.models.onnx_import import prepare, random_inputs

    kind = args.kind or default_kind()
    name, path, shapes = named_model(args.model)
    model = prepare(path, shapes)
    target = tvm.target.Target(kind_named(kind, cores).target)
    *_, tasks = model_tasks(model, target)
    weights = [float(t.weight) for t in tasks]
    inputs = random_inputs(model.inputs)
    with tempfile.TemporaryDirectory(prefix="bench-stock-") as work:
        farm = run_farm(path, shapes, kind, args.trials, work, tasks)
        print(f"farm: {farm['trials']} trials in {farm['tuning_seconds']:.0f} s", file=sys.stderr, flush=True)
        stock = run_stock(model, target, args.trials, work, cores)
        print(f"stock: {stock['trials']} trials in {stock['tuning_seconds']:.0f} s", file=sys.stderr, flush=True)
    onnx_bytes = model.proto.SerializeToString()
    timed = {
        who: end_to_end(onnx_bytes, run["library"], inputs, cores) for who, run in (("farm", farm), ("stock", stock))
    }
    stock_curve = estimated_curve(stock["events"], weights)
    farm_curve = estimated_curve(farm["events"], weights)
    ort_ms = farm["ort_latency_ms"]
    reached = any(p[2] <= ort_ms for p in farm_curve + stock_curve)
    goal = (
        {"ms": ort_ms, "what": "ONNX Runtime's default latency"}
        if reached
        else {
            "ms": stock_curve[-1][2],
            "what": "stock's final estimated latency (neither side reached ONNX Runtime's default)",
        }
    )
    report = {
        "model": name,
        "path": path,
        "kind": kind,
        "trials": args.trials,
        "threads": cores,
        "tasks": len(tasks),
        "goal": goal,
    }
    report["farm"], _ = side(farm, weights, goal["ms"], timed["farm"])
    report["stock"], _ = side(stock, weights, goal["ms"], timed["stock"])
    f_goal, s_goal = report["farm"]["time_to_goal"], report["stock"]["time_to_goal"]
    report["ratios"] = {
        "trials_per_minute_farm_over_stock": round(
            report["farm"]["trials_per_minute"] / report["stock"]["trials_per_minute"], 3
        ),
        "time_to_goal_farm_over_stock": round(f_goal["seconds"] / s_goal["seconds"], 3) if f_goal and s_goal else None,
        "end_to_end_farm_over_stock": round(timed["farm"]["tvm_ms"] / timed["stock"]["tvm_ms"], 3),
    }
    emit(report, args.out)


if __name__ == "__main__":
    main()
