"""Benchmark: what the farm hands back against ONNX Runtime, on real public ONNX models; prints JSON (and writes `--out`).

    python scripts/bench_vs_ort.py [--models shufflenet,squeezenet,...] [--model NAME=PATH[@INPUT:D0,D1,..]]
                                   [--budgets 0,300,1000] [--kind KIND] [--out bench.json]

Built-in models are the ONNX model zoo's "light" exports that ship inside the `onnx`
package (`onnx/backend/test/data/light/`) and models that ship inside other packages
(`PACKAGED`: a YOLOv8n detector in `nudenet`, PP-OCRv4's DBNet text detector and SVTR text
recognizer in `rapidocr-onnxruntime`); `--model` adds any other file. Each model is tuned with `farm tune` on
an embedded Ray for `--kind` (default: this host's own), budget after budget on one
database (`--trials` is the model's total budget, so 300 continues the 0-trial run and
1,000 the 300-trial one). Per budget: ONNX Runtime's default session, ONNX Runtime at
its best measured settings, TVM at its best thread count, and the engine the farm chose
(`best`) — median and p90 latency (ms), each with its ratio to ONNX Runtime's default and
its threads; the hybrid (`built`, its kernels per engine, the per-kernel estimate and, when
built, its end-to-end figures); tuning wall seconds and trials per minute; the quiet
re-measurement of the best candidates (`fidelity`: tasks re-measured, how many picks it
changed, each change's gain); the model's FLOPs (TVM's estimate over its tuning tasks, each
task's FLOPs times its weight) over the best latency in GFLOP/s against the machine's
fp32 peak: cores x clock (/proc/cpuinfo's "cpu MHz") x FLOPs per cycle per core (16 fp32
lanes with AVX-512, 8 with AVX2, x 2 for the fused multiply-add x `--fma-units`, the vector
FMA instructions a core retires per cycle at that width: 2 on Xeon Gold/Platinum and on
Zen 3 (AVX2); 1 on Zen 4, whose two 256-bit FMA pipes execute one AVX-512 FMA together).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

import onnx

LIGHT = ("shufflenet", "squeezenet", "inception_v1", "resnet50", "densenet121")
# models inside other packages (`pip install --no-deps nudenet==3.4.2 rapidocr-onnxruntime==1.4.4`): name -> (package, file, shapes)
PACKAGED = {
    "nudenet": ("nudenet", "320n.onnx", {"images": (1, 3, 320, 320)}),  # YOLOv8n, a single-stage detector
    "ocr_det": (
        "rapidocr_onnxruntime",
        "models/ch_PP-OCRv4_det_infer.onnx",
        {"x": (1, 3, 320, 320)},
    ),  # DBNet, segmentation-style
    "ocr_rec": (
        "rapidocr_onnxruntime",
        "models/ch_PP-OCRv4_rec_infer.onnx",
        {"x": (1, 3, 48, 320)},
    ),  # SVTR, attention blocks
}


def light_model(name: str) -> str:
    return os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light", f"light_{name}.onnx")


def packaged_model(name: str) -> tuple[str, str, dict]:
    """A model shipped inside an installed package (found without importing the package, whose own dependencies it may lack)."""
    import importlib.util

    package, file, shapes = PACKAGED[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{name}: install it first: pip install --no-deps {package.replace('_', '-')}")
    return name, os.path.join(next(iter(spec.submodule_search_locations)), file), shapes


def named_model(name: str) -> tuple[str, str, dict]:
    return packaged_model(name) if name in PACKAGED else (name, light_model(name), {})


def model_flops(path: str, shapes: dict, kind_name: str) -> float:
    """FLOPs of one inference: TVM's estimate of each tuning task times its weight (of the model as imported, before any graph rewrite)."""
    import tvm
    from tvm.s_tir.analysis import estimate_tir_flops
    from tvm.s_tir.meta_schedule import relax_integration

    from cluster.devices import kind_named
    from farm.models.onnx_import import prepare
    from farm.tuning.session import fused_module, named_params

    model = prepare(path, shapes)
    target = tvm.target.Target(kind_named(kind_name, os.cpu_count() or 1).target)
    mod, params = model.relax
    tasks = relax_integration.extract_tasks(
        fused_module(mod, named_params(mod, params, len(model.inputs)), target), target
    )
    return float(sum(estimate_tir_flops(t.dispatched[0]) * t.weight for t in tasks))


def _cpuinfo_field(lines: list[str], name: str) -> str:
    return next((line.split(":", 1)[1].strip() for line in lines if line.split(":")[0].strip() == name), "")


def peak_gflops(fma_units: int | None) -> dict:
    """This machine's fp32 peak, and how it was computed (16 lanes with AVX-512, 8 with AVX2).

    `fma_units` None: 1 on an AMD family-25 CPU with AVX-512 (Zen 4 splits each AVX-512 FMA
    over its two 256-bit pipes), else 2.
    """
    from cluster.devices import host_cpu_flags

    with open("/proc/cpuinfo") as f:
        lines = f.readlines()
    mhz = [float(line.split(":")[1]) for line in lines if line.startswith("cpu MHz")]
    flags = host_cpu_flags()
    lanes, isa = (16, "AVX-512") if "avx512f" in flags else (8, "AVX2")
    if fma_units is None:
        zen4 = _cpuinfo_field(lines, "vendor_id") == "AuthenticAMD" and _cpuinfo_field(lines, "cpu family") == "25"
        fma_units = 1 if zen4 and lanes == 16 else 2
    cores = os.cpu_count() or 1
    per_cycle = lanes * 2 * fma_units
    return {
        "gflops": cores * (max(mhz) / 1e3) * per_cycle,
        "cores": cores,
        "ghz": max(mhz) / 1e3,
        "flops_per_cycle_per_core": per_cycle,
        "how": f"{cores} cores x {max(mhz) / 1e3:.2f} GHz x {lanes} fp32 lanes ({isa}) x 2 (FMA) x {fma_units} FMA units",
    }


def tune(path: str, shapes: dict, kind: str, trials: int, db: str, out: str) -> dict:
    shape_args = [a for name, dims in shapes.items() for a in ("--input-shape", f"{name}:{','.join(map(str, dims))}")]
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    proc = subprocess.run(
        [
            "farm",
            "tune",
            path,
            "--target",
            kind,
            "--trials",
            str(trials),
            "--db",
            db,
            "--out",
            out,
            "--json",
            *shape_args,
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout)["targets"][kind]


def hybrid_figures(summary: dict, entry) -> dict:
    """The hybrid's end-to-end figures when it was built (else why not), its kernels per engine, and its plan's estimate."""
    plan = summary["hybrid"]
    out = {
        "built": plan.get("built", False),
        "kernels_per_engine": plan.get("kernels_per_engine"),
        "estimated_ms": plan.get("estimated_ms"),
    }
    if "error" in plan:
        out["error"] = plan["error"]
    out["kernels"] = plan.get("kernels", [])  # as `farm.engines.variant.plan_summary` gives them
    if "hybrid" in summary["engines"]:
        e = summary["engines"]["hybrid"]
        out.update(entry(e["latency_ms"], e["p90_ms"], e["threads"]), agrees=e["agrees"])
    return out


def figures(summary: dict, flops: float, peak: dict) -> dict:
    ort_default = summary["ort_latency_ms"]
    with open(os.path.join(summary["variant_dir"], "benchmark.json")) as f:
        bench = json.load(f)
    default = next(c for c in bench["configs"] if c["label"] == "ort-default")

    def entry(latency: float, p90: float, threads) -> dict:
        return {"median_ms": latency, "p90_ms": p90, "threads": threads, "ratio_to_ort_default": ort_default / latency}

    engines = summary["engines"]
    best = engines[summary["engine"]]
    return {
        "onnxruntime_default": entry(ort_default, default["stats"]["p90_ms"], default["threads"]),
        "onnxruntime_tuned": {
            **entry(
                engines["onnxruntime"]["latency_ms"],
                engines["onnxruntime"]["p90_ms"],
                engines["onnxruntime"]["threads"],
            ),
            "config": engines["onnxruntime"]["config"],
        },
        "tvm": {
            **entry(engines["tvm"]["latency_ms"], engines["tvm"]["p90_ms"], engines["tvm"]["threads"]),
            "agrees": engines["tvm"]["agrees"],
        },
        "hybrid": hybrid_figures(summary, entry),
        "best": {**entry(best["latency_ms"], best["p90_ms"], best["threads"]), "engine": summary["engine"]},
        "tvm_over_ort_tuned": engines["onnxruntime"]["latency_ms"] / engines["tvm"]["latency_ms"],
        "tasks": summary["tasks"],
        "trials_measured": summary["trials_measured"],
        "tuning_seconds": summary["tuning_seconds"],
        "trials_per_minute": 60 * summary["trials_measured"] / summary["tuning_seconds"]
        if summary["tuning_seconds"]
        else None,
        "fidelity": {
            **{k: v for k, v in summary["fidelity"].items() if k != "changes"},
            "gains": sorted(c["gain"] for c in summary["fidelity"].get("changes", [])),
        },
        "gflops": flops / (best["latency_ms"] / 1e3) / 1e9,
        "percent_of_peak": 100 * flops / (best["latency_ms"] / 1e3) / 1e9 / peak["gflops"],
    }


def parse_model(spec: str) -> tuple[str, str, dict]:
    name, rest = spec.split("=", 1)
    path, _, shape = rest.partition("@")
    shapes = {}
    if shape:
        input_name, dims = shape.rsplit(":", 1)
        shapes[input_name] = tuple(int(d) for d in dims.split(","))
    return name, path, shapes


def main() -> None:
    from farm.cli.tune import default_kind

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models",
        default="squeezenet,nudenet,ocr_det,ocr_rec",
        help=f"built-in models ({', '.join([*LIGHT, *PACKAGED])})",
    )
    parser.add_argument("--model", action="append", default=[], help="NAME=PATH[@INPUT:D0,D1,...] (repeatable)")
    parser.add_argument("--budgets", default="0,300,1000")
    parser.add_argument("--kind", default=None)
    parser.add_argument(
        "--fma-units", type=int, default=None, help="vector FMAs per cycle per core (default: from /proc/cpuinfo)"
    )
    parser.add_argument(
        "--rewrites",
        default=None,
        help="graph rewrites to apply (comma-separated names of farm.tuning.session.GRAPH_REWRITES, '' for none; default: DEFAULT_REWRITES)",
    )
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.rewrites is not None:
        os.environ["FARM_GRAPH_REWRITES"] = args.rewrites  # inherited by every `farm tune` and its embedded Ray
    kind = args.kind or default_kind()
    models = [named_model(m) for m in args.models.split(",") if m] + [parse_model(s) for s in args.model]
    peak = peak_gflops(args.fma_units)
    from farm.tuning.session import graph_rewrites

    report = {"kind": kind, "peak": peak, "rewrites": graph_rewrites(), "models": {}}
    for name, path, shapes in models:
        with tempfile.TemporaryDirectory(prefix=f"bench-{name}-") as work:
            flops = model_flops(path, shapes, kind)
            runs = {}
            for budget in [int(b) for b in args.budgets.split(",")]:
                runs[str(budget)] = figures(
                    tune(path, shapes, kind, budget, os.path.join(work, "db"), os.path.join(work, f"out{budget}")),
                    flops,
                    peak,
                )
                print(f"{name} @ {budget}: {json.dumps(runs[str(budget)])}", file=sys.stderr, flush=True)
            report["models"][name] = {"path": path, "gflop": flops / 1e9, "budgets": runs}
    emit(report, args.out)


def emit(report: dict, out: str | None) -> None:
    """The report as JSON on stdout, and in `out` when given."""
    text = json.dumps(report, indent=2)
    print(text)
    if out:
        with open(out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
