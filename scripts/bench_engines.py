"""Benchmark: every engine the farm can hand back, per public model, and what the farm chose; prints JSON (and `--out`).

    python scripts/bench_engines.py [--models squeezenet,ocr_cls,...] [--budgets 0] [--kind KIND] [--out bench.json]
    python scripts/bench_engines.py --table bench.json    # an earlier report as a Markdown table

Models are public ONNX models that ship inside installable packages: the `onnx` package's
light model zoo and the packages of `scripts/bench_vs_ort.py` (`pip install --no-deps
nudenet==3.4.2 rapidocr-onnxruntime==1.4.4`), plus the PP-OCR mobile text-direction
classifier and PP-OCRv4's detector at a large input (608x800). Per model and budget, in one
`farm tune --json` run on an embedded Ray (so every figure is from one alternating timing):
- every engine's best configuration at each precision (median and p90 ms, threads, its
  label, agreement: max absolute and relative error, top-1 where the outputs are class
  scores), its ratio to ONNX Runtime's default and to the best agreeing single engine, and
  the chosen variant's;
- the reduced-precision configuration the node offered, if any (bf16 needs a CPU with
  native bf16; on others the JSON says it was not measured);
- the time from the command's start to the kind's first written, loadable variant (the
  library engines' quick pass), and the whole run;
- GFLOP/s of the chosen variant: the model's FLOPs (TVM's estimate over its tasks) over its
  latency, against this machine's fp32 peak (`bench_vs_ort.peak_gflops` says how);
- the runtime's overhead, per engine: each engine's own call (`LoadedModel.engine_call`, on
  prepared tensors, on the same thread) against `farm.runtime`'s `run`, in one fresh process, in
  pairs of calls whose order alternates; the overhead is the median of the pairs'
  differences; the target is at most 5 % or 50 us, whichever is larger.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_vs_ort import PACKAGED, emit, model_flops, peak_gflops

MORE = {
    "ocr_cls": ("rapidocr_onnxruntime", "models/ch_ppocr_mobile_v2.0_cls_infer.onnx", {"x": (1, 3, 48, 192)}),
    "ocr_det_large": ("rapidocr_onnxruntime", "models/ch_PP-OCRv4_det_infer.onnx", {"x": (1, 3, 608, 800)}),
}
DEFAULT_MODELS = "squeezenet,resnet50,nudenet,ocr_det,ocr_rec,ocr_cls,ocr_det_large"
OVERHEAD_ROUNDS, OVERHEAD_MIN_S = 9, 0.3
OVERHEAD = r"""
import json, sys, numpy as np
from farm import runtime as rt
from farm.runtime.profiling import paired_seconds
folder, engine, rounds, min_s = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
model = rt.load_model(folder, engine=engine)
inputs = {i.name: np.random.default_rng(0).random(i.shape).astype(i.dtype) for i in model.inputs}
calls = {"own": model.engine_call(inputs), "runtime": lambda: model.run(inputs)}
warm = paired_seconds(calls, 5, warmup=5)
n = max(3, int(min_s / float(np.median(warm["runtime"]))))
seconds = paired_seconds(calls, rounds * n)
own_s, run_s = seconds["own"], seconds["runtime"]
own_ms, run_ms = float(np.median(own_s)) * 1e3, float(np.median(run_s)) * 1e3
paired_us = float(np.median(np.subtract(run_s, own_s))) * 1e6
print(json.dumps({"engine": engine, "threads": model.threads, "own_ms": own_ms, "run_ms": run_ms,
                  "overhead_us": paired_us, "overhead_ratio": 1 + paired_us / 1e3 / own_ms,
                  "within_target": paired_us <= max(0.05 * own_ms * 1e3, 50), "inferences": len(own_s)}))
model.close()
"""


def model_path(name: str) -> tuple[str, dict]:
    """The file of a built-in model (found without importing its package) and the input shapes to tune it at."""
    import importlib.util

    from bench_vs_ort import light_model

    if name not in PACKAGED and name not in MORE:
        return light_model(name), {}
    package, file, shapes = {**PACKAGED, **MORE}[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{name}: install it first: pip install --no-deps {package.replace('_', '-')}")
    return os.path.join(next(iter(spec.submodule_search_locations)), file), shapes


def tune(path: str, shapes: dict, kind: str, trials: int, db: str, out: str) -> tuple[dict, float | None, float]:
    """`farm tune --json` of the model; its summary for `kind`, seconds from the command's start to the kind's first
    written variant (its metadata is written last, atomically; polled every 20 ms), seconds in all."""
    shape_args = [a for name, dims in shapes.items() for a in ("--input-shape", f"{name}:{','.join(map(str, dims))}")]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    variant = os.path.join(out, kind, "metadata.json")
    command = ["farm", "tune", path, "--target", kind, "--trials", str(trials), "--db", db, "--out", out, "--json"]
    with tempfile.TemporaryFile("w+") as stdout, tempfile.TemporaryFile("w+") as stderr:
        start = time.monotonic()
        proc = subprocess.Popen([*command, *shape_args], stdout=stdout, stderr=stderr, text=True, env=env)
        first = None
        while proc.poll() is None:
            if first is None and os.path.exists(variant):
                first = time.monotonic() - start
            time.sleep(0.02)
        wall = time.monotonic() - start
        stdout.seek(0), stderr.seek(0)
        if proc.returncode:
            raise RuntimeError(stderr.read()[-3000:])
        return json.loads(stdout.read())["targets"][kind], first, wall


def overhead(folder: str, engine: str) -> dict:
    """The runtime's overhead over the engine's own call, in a fresh process of its own."""
    proc = subprocess.run(
        [sys.executable, "-c", OVERHEAD, folder, engine, str(OVERHEAD_ROUNDS), str(OVERHEAD_MIN_S)],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode:
        return {"engine": engine, "error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"}
    return json.loads(proc.stdout)


def best_configs(folder: str) -> dict:
    """Per engine and precision, its fastest configuration in the final comparison (`benchmark.json`), with its agreement."""
    with open(os.path.join(folder, "benchmark.json")) as f:
        configs = json.load(f)["configs"]
    best: dict = {}
    for c in configs:
        if "stats" not in c:
            continue
        key = f"{c['engine']}/{c.get('precision', 'exact')}"
        if key not in best or c["stats"]["median_ms"] < best[key]["ms"]:
            best[key] = {
                "ms": c["stats"]["median_ms"],
                "p90_ms": c["stats"]["p90_ms"],
                "threads": c["threads"],
                "config": c["label"],
                "agrees": c["agrees"],
                "estimated": c.get("estimated", False),  # out of reach: its warm-up inference, not timed
                **{k: c[k] for k in ("max_abs_diff", "max_rel_diff", "top1") if k in c},
            }
    return best


def figures(summary: dict, flops: float, peak: dict, to_variant_s: float | None, wall_s: float, folder: str) -> dict:
    ort_default = summary["ort_latency_ms"]
    configs = best_configs(folder)
    single = [
        c["ms"]
        for key, c in configs.items()
        if c["agrees"] and not c["estimated"] and key.endswith("/exact") and "hybrid" not in key
    ]
    best_single = min(single, default=None)
    chosen_ms = summary["engines"][summary["engine"]]["latency_ms"]
    for c in configs.values():
        c["vs_ort_default"] = ort_default / c["ms"]
        c["vs_best_single_engine"] = best_single / c["ms"] if best_single else None
    return {
        "configs": configs,
        "ort_default_ms": ort_default,
        "chosen": {
            "engine": summary["engine"],
            "ms": chosen_ms,
            "vs_ort_default": ort_default / chosen_ms,
            "vs_best_single_engine": best_single / chosen_ms if best_single else None,
        },
        "seconds_to_first_variant": to_variant_s,
        "seconds_in_all": wall_s,
        "gflops": flops / (chosen_ms / 1e3) / 1e9,
        "percent_of_fp32_peak": 100 * flops / (chosen_ms / 1e3) / 1e9 / peak["gflops"],
        # an engine out of reach (never timed, never chosen) is left out: an untuned library takes seconds a call
        "overhead": [overhead(folder, name) for name, e in summary["engines"].items() if not e.get("estimated")],
    }


def table(report: dict) -> str:
    """The report as a Markdown table, a row per model and budget (as `docs/benchmarks.md` shows it)."""
    engines = ("onnxruntime", "openvino", "tvm", "hybrid")
    rows = [
        "| model | trials | ORT default ms | "
        + " | ".join(f"{e} best ms" for e in engines)
        + " | chosen | vs best single | s to first variant | GFLOP/s (% fp32 peak) | run() overhead us per engine |",
        "|---" * (8 + len(engines)) + "|",
    ]
    for name, model in report["models"].items():
        for budget, run in model["budgets"].items():
            best = [run["configs"].get(f"{e}/exact") for e in engines]
            cells = [
                f"{'≈' if b.get('estimated') else ''}{b['ms']:.3g} ({b['config']}{'' if b['agrees'] else ', disagrees'})"
                if b
                else "–"
                for b in best
            ]
            overhead = ", ".join(
                f"{o['engine']} {o['overhead_us']:.0f} ({100 * (o['overhead_ratio'] - 1):.1f} %)"
                for o in run["overhead"]
                if "overhead_us" in o
            )
            first = run["seconds_to_first_variant"]
            rows.append(
                f"| {name} | {budget} | {run['ort_default_ms']:.3g} | {' | '.join(cells)} | {run['chosen']['engine']} | "
                f"{run['chosen']['vs_best_single_engine']:.2f} | {'–' if first is None else f'{first:.0f}'} | "
                f"{run['gflops']:.1f} ({run['percent_of_fp32_peak']:.0f} %) | {overhead} |"
            )
    return "\n".join(rows)


def main() -> None:
    from farm.cli.tune import default_kind
    from farm.precision import BF16_FLAGS
    from farm.runtime.local_info import host_cpu_flags

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=DEFAULT_MODELS)
    parser.add_argument("--budgets", default="0")
    parser.add_argument("--kind", default=None)
    parser.add_argument("--fma-units", type=int, default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--table", default=None, metavar="JSON", help="Print an earlier report as a Markdown table.")
    args = parser.parse_args()
    if args.table:
        with open(args.table) as f:
            print(table(json.load(f)))
        return
    kind = args.kind or default_kind()
    peak = peak_gflops(args.fma_units)
    flags = host_cpu_flags() or set()
    report = {
        "kind": kind,
        "peak": peak,
        "bf16": sorted(BF16_FLAGS & flags) or "not measured: this CPU reports neither AMX-BF16 nor AVX512-BF16",
        "models": {},
    }
    for name in [m for m in args.models.split(",") if m]:
        path, shapes = model_path(name)
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as work:
            flops = model_flops(path, shapes, kind)
            runs = {}
            for budget in [int(b) for b in args.budgets.split(",")]:
                out = os.path.join(work, f"out{budget}")
                summary, to_variant, wall = tune(path, shapes, kind, budget, os.path.join(work, "db"), out)
                runs[str(budget)] = figures(summary, flops, peak, to_variant, wall, os.path.join(out, kind))
                print(f"{name} @ {budget}: {json.dumps(runs[str(budget)])}", file=sys.stderr, flush=True)
            report["models"][name] = {"path": path, "shapes": shapes, "gflop": flops / 1e9, "budgets": runs}
    emit(report, args.out)
    print(table(report), file=sys.stderr)


if __name__ == "__main__":
    main()
