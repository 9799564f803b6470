"""Benchmark of `farm tune` on generated models, in one run; prints JSON (and writes it with `--out`).

    python scripts/bench_tune.py [--models resnet,mobilenet,transformer] [--budgets 200,1000]
                                 [--transfer-trials 200] [--stock-trials 64] [--kind KIND] [--out bench.json]

For each model (ResNet-style CNN, MobileNet-style depthwise CNN, transformer encoder
block; random weights; the farm's own generators), tuned for `--kind` (default: this
host's own kind, so the host's `mcpu` is in the target) on an embedded Ray:

- `budgets`: for each trial budget, a cold tune (empty database) and the variant's
  latency against ONNX Runtime on the device node (`tvm_latency_ms`, `ort_latency_ms`,
  `tvm_over_ort`: target ≤ 1.0 on the CNNs at 1,000 trials);
- `transfer`: trials to come within 10% of the cold run's final latency, cold (empty
  database, untrained cost model) against warm (database filled by a sibling model of
  the same family at another input size, so no layer is shared and the gain is the
  pre-trained cost model's), from the estimated model latency (sum over tasks of weight
  × best measured time) after each trial, in commit order (target: warm ≤ 1/3 of cold);
- `stock`: wall seconds of `--stock-trials` trials through stock MetaSchedule
  (`relax.get_pipeline("static_shape_tuning")`, LocalBuilder/LocalRunner, in a fresh
  process) against `farm tune` with the same budget, and both variants' latencies
  measured by the same harness (target: farm ≤ 1/3 of stock wall time at equal or
  better latency);
- `second_tune`: the same model tuned again on the filled database: trials measured
  (target 0) and seconds to a ready variant against the compile time alone.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

import onnx

from cluster.connect import connect
from farm.benchmark import compare_on_device
from farm.cli.tune import default_kind
from farm.engines import engine_named
from farm.engines.timing import time_engines
from farm.models.examples import EXAMPLES
from farm.models.onnx_import import prepare, random_inputs
from farm.tuning.session import VARIANT_LIBRARY, TuningPlan, TuningSession
from tuning_db.database import TuningDatabase

SIBLING_SIZE = {"resnet": 24, "mobilenet": 24, "transformer": 16}


def write_model(family: str, folder: str, sibling: bool = False) -> str:
    path = os.path.join(folder, f"{family}{'-sibling' if sibling else ''}.onnx")
    size = SIBLING_SIZE[family] if sibling else 32
    model = (
        EXAMPLES[family](seq=size, seed=int(sibling))
        if family == "transformer"
        else EXAMPLES[family](size=size, seed=int(sibling))
    )
    onnx.save(model, path)
    return path


def tune(path: str, kind: str, trials: int, db: str, out: str) -> dict:
    """One `farm tune` session and its verification on the device node; the summary plus the session's curve."""
    model = prepare(path)
    job = uuid.uuid4().hex[:12]
    session = TuningSession(model, os.path.basename(path)[:-5], kind, TuningPlan(trials=trials), db, out, job_id=job)
    start = time.perf_counter()
    summary = session.run().as_json()
    wall = time.perf_counter() - start
    with open(path, "rb") as f, open(os.path.join(summary["variant_dir"], VARIANT_LIBRARY), "rb") as g:
        artifacts = {engine_named("onnxruntime").artifact: f.read(), engine_named("tvm").artifact: g.read()}
    check = compare_on_device(kind, artifacts, random_inputs(model.inputs)).as_json()
    return {
        **{
            k: summary[k]
            for k in (
                "tasks",
                "tasks_tuned",
                "trials_measured",
                "trials_reused",
                "tuning_seconds",
                "compile_seconds",
                "profile",
            )
        },
        "pretrain": summary["cost_model"].get("pretrain"),
        "wall_seconds": wall,
        "tvm_latency_ms": check["tvm_latency_ms"],
        "ort_latency_ms": check["ort_latency_ms"],
        "tvm_over_ort": check["tvm_latency_ms"] / check["ort_latency_ms"],
        "agrees": check["agrees"],
        "curve_ms": curve(db, summary["target_key"], job, session.task_weights),
    }


def curve(db: str, target_key: str, job: str, weights: dict[str, float]) -> list[float | None]:
    """Estimated model latency (ms) after each trial of a job, in commit order; None until every task has a time."""
    rows = sorted(
        (r for r in TuningDatabase(db).view(target_key).records() if r.job_id == job), key=lambda r: r.created_at
    )
    best: dict[str, float] = {}
    out: list[float | None] = []
    for r in rows:
        if r.mean_secs is not None and r.workload_key in weights:
            best[r.workload_key] = min(best.get(r.workload_key, float("inf")), r.mean_secs)
        out.append(sum(w * best[k] for k, w in weights.items()) * 1e3 if len(best) == len(weights) else None)
    return out


def final(points: list[float | None]) -> float | None:
    return next((v for v in reversed(points) if v is not None), None)


def trials_to_within(points: list[float | None], goal_ms: float | None) -> int | None:
    """Trials until the estimate first came within the goal (None: never, or no goal: some task was never measured)."""
    if goal_ms is None:
        return None
    for i, v in enumerate(points):
        if v is not None and v <= goal_ms:
            return i + 1
    return None


STOCK = """
import sys, time, tvm
from tvm import relax
from farm.models.onnx_import import prepare
from farm.tuning.session import relax_for
path, trials, target, work, lib = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
import json
target = tvm.target.Target(json.loads(target))
model = prepare(path)
mod, named = relax_for(model, target)  # the graph-level rewrites the farm makes, so both tune the same kernels
mod = relax.transform.BindParams("main", named)(mod)
start = time.perf_counter()
with target:
    mod = relax.get_pipeline("static_shape_tuning", target=target, total_trials=trials, work_dir=work)(mod)
ex = tvm.compile(mod, target)
print("WALL", time.perf_counter() - start)
ex.export_library(lib)
"""


def stock(path: str, kind_target: dict, trials: int, folder: str, threads: int) -> dict:
    """Stock MetaSchedule on the same model and budget, in a fresh process; its variant timed by the farm's harness."""
    lib = os.path.join(folder, "stock.so")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            STOCK,
            path,
            str(trials),
            json.dumps(kind_target),
            os.path.join(folder, "stock-work"),
            lib,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    wall = float(next(line.split()[1] for line in proc.stdout.splitlines() if line.startswith("WALL")))
    model = prepare(path)
    with open(lib, "rb") as f, open(path, "rb") as g:
        check = time_engines(
            {engine_named("tvm").artifact: f.read(), engine_named("onnxruntime").artifact: g.read()},
            random_inputs(model.inputs),
            cores=threads,
            warmup=10,
            repeat=50,
        ).as_json()
    return {"wall_seconds": wall, "tvm_latency_ms": check["tvm_latency_ms"], "agrees": check["agrees"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default="resnet,mobilenet,transformer")
    parser.add_argument(
        "--budgets", default="200,1000", help="comma-separated trial budgets for the latency-vs-ORT runs (empty: none)"
    )
    parser.add_argument("--transfer-trials", type=int, default=200, help="trials of the cold and warm runs (0: skip)")
    parser.add_argument("--stock-trials", type=int, default=64, help="trials of the stock comparison (0: skip)")
    parser.add_argument("--kind", default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    kind = args.kind or default_kind()
    connect(None, kinds=[kind])
    from cluster.runner import RayRunner

    device = RayRunner(kind).device_kind
    threads = int(device.target.get("num-cores", os.cpu_count() or 1))
    report: dict = {"kind": kind, "target": device.target, "models": {}}
    root = tempfile.mkdtemp(prefix="bench-tune-")
    try:
        for family in [m for m in args.models.split(",") if m]:
            folder = os.path.join(root, family)
            os.makedirs(folder)
            path = write_model(family, folder)
            result: dict = {}
            for budget in [int(b) for b in args.budgets.split(",") if b]:
                run = tune(
                    path, kind, budget, os.path.join(folder, f"db-{budget}"), os.path.join(folder, f"out-{budget}")
                )
                result.setdefault("budgets", {})[str(budget)] = {k: v for k, v in run.items() if k != "curve_ms"}
                print(
                    f"{family} {budget} trials: {json.dumps(result['budgets'][str(budget)])}",
                    file=sys.stderr,
                    flush=True,
                )
            if args.transfer_trials:
                cold_db, warm_db = os.path.join(folder, "db-cold"), os.path.join(folder, "db-warm")
                cold = tune(path, kind, args.transfer_trials, cold_db, os.path.join(folder, "out-cold"))
                sibling = tune(
                    write_model(family, folder, sibling=True),
                    kind,
                    args.transfer_trials,
                    warm_db,
                    os.path.join(folder, "out-sibling"),
                )
                warm = tune(path, kind, args.transfer_trials, warm_db, os.path.join(folder, "out-warm"))
                goal = final(cold["curve_ms"]) * 1.1 if final(cold["curve_ms"]) else None
                cold_n, warm_n = trials_to_within(cold["curve_ms"], goal), trials_to_within(warm["curve_ms"], goal)
                result["transfer"] = {
                    "trials": args.transfer_trials,
                    "cold_final_ms": final(cold["curve_ms"]),
                    "warm_final_ms": final(warm["curve_ms"]),
                    "cold_trials_to_10pct": cold_n,
                    "warm_trials_to_10pct": warm_n,
                    "warm_over_cold": warm_n / cold_n if cold_n and warm_n else None,
                    "warm_pretrain": warm["pretrain"],
                    "sibling_tasks_tuned": sibling["tasks_tuned"],
                    "cold_tvm_latency_ms": cold["tvm_latency_ms"],
                    "warm_tvm_latency_ms": warm["tvm_latency_ms"],
                }
                print(f"{family} transfer: {json.dumps(result['transfer'])}", file=sys.stderr, flush=True)
            if args.stock_trials:
                farm = tune(
                    path,
                    kind,
                    args.stock_trials,
                    os.path.join(folder, "db-stock-cmp"),
                    os.path.join(folder, "out-stock-cmp"),
                )
                base = stock(path, device.target, args.stock_trials, folder, threads)
                again = tune(
                    path,
                    kind,
                    args.stock_trials,
                    os.path.join(folder, "db-stock-cmp"),
                    os.path.join(folder, "out-again"),
                )
                result["stock"] = {
                    "trials": args.stock_trials,
                    "stock_wall_seconds": base["wall_seconds"],
                    "farm_wall_seconds": farm["wall_seconds"],
                    "farm_over_stock_wall": farm["wall_seconds"] / base["wall_seconds"],
                    "stock_tvm_latency_ms": base["tvm_latency_ms"],
                    "farm_tvm_latency_ms": farm["tvm_latency_ms"],
                    "farm_profile": farm["profile"],
                }
                result["second_tune"] = {
                    "trials_measured": again["trials_measured"],
                    "wall_seconds": again["wall_seconds"],
                    "compile_seconds": again["compile_seconds"],
                    "agrees": again["agrees"],
                }
                print(
                    f"{family} stock: {json.dumps(result['stock'])}\n{family} second tune: {json.dumps(result['second_tune'])}",
                    file=sys.stderr,
                    flush=True,
                )
            report["models"][family] = result
    finally:
        shutil.rmtree(root, ignore_errors=True)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
