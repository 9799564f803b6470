"""The benchmark stage of a workflow: each tuned variant's engines against ONNX Runtime's default on a node of its kind.

For every kind, every engine of the variant ran on identical random inputs in the device
worker of a node of that kind when the tuning job chose its engine
(`farm.benchmark.compare_on_device`, with the stage's warm-up and repeats): median/mean/
std/p90, throughput and numerical agreement per engine. That comparison is the base of the
result; on top of it, always with the figures of the engine the variant runs:

- **batch-size sweep** (`batch_sizes`): each engine that can be prepared outside a tune
  (`Engine.prepare`: TVM re-compiled with the best records the tuning database holds for
  the kind, TVM's default schedules for layers never tuned at that size; the ONNX model as
  it is) is timed again at each batch size; the sweep reports the variant's engine, or
  the fastest agreeing one where the variant's engine cannot be prepared. It needs inputs
  whose first dimension is dynamic in the ONNX model. An engine that fails to prepare at a
  batch size is left out of that size with a warning, and the other sizes go on;
- **latency SLA** (`sla_ms`): the largest batch size whose p90 latency meets it;
- **cost per million inferences** from the hourly price an admin set for the kind
  (at batch 1 with the engine the variant runs, and at the best throughput of the sweep);
- **warnings** on implausible results: a median below 1 µs, an engine slower than ONNX
  Runtime's default session (the variant then runs another engine), outputs that
  disagree, or a spread larger than half the median.
"""

from __future__ import annotations

import json
import os

import onnx

from ..benchmark import compare_on_device
from ..engines import engine_named
from ..engines.base import Preparation
from ..engines.comparison import REFERENCE, Comparison
from ..models.onnx_import import ModelImportError, prepare, random_inputs
from ..registry import prices
from ..runtime.container import BENCHMARK, read_metadata
from ..workflow_options import BenchmarkOptions
from .stage import Stage, WorkflowError, WorkflowRun

IMPLAUSIBLE_MS = 1e-3
NOISY_CV = 0.5


class BenchmarkOptionsError(ValueError):
    """Benchmark options that cannot be honoured for this model (a sweep over a model without a dynamic batch)."""


def cost_per_million(latency_ms: float, batch_size: int, usd_per_hour: float | None) -> float | None:
    """US dollars per million inferences at `latency_ms` per batch of `batch_size` on a device costing `usd_per_hour`."""
    if usd_per_hour is None or latency_ms <= 0:
        return None
    return usd_per_hour / 3600.0 * (latency_ms / 1e3) / batch_size * 1e6


def warnings_for(result: Comparison) -> list[str]:
    """What looks implausible in one comparison."""
    found = []
    engine = result.engine
    title = engine_named(engine).title
    for name, stats in ((f"the variant ({title})", result.chosen.stats), ("ONNX Runtime", result.reference)):
        if stats.median_ms < IMPLAUSIBLE_MS:
            found.append(
                f"{name} took {stats.median_ms * 1e3:.3f} µs per inference: below 1 µs, the measurement is implausible"
            )
        if stats.std_ms > NOISY_CV * stats.median_ms:
            found.append(
                f"{name}'s latencies spread widely (std {stats.std_ms:.3g} ms, median {stats.median_ms:.3g} ms): "
                "the device was likely busy"
            )
    reference_engine = next(c.engine for c in result.configs if c.label == REFERENCE)
    for name, e in result.engines.items():
        if name == reference_engine:
            continue
        if e.latency_ms > result.reference.median_ms:
            found.append(
                f"{engine_named(name).title} is slower than ONNX Runtime's default session ({e.latency_ms:.3g} ms vs "
                f"{result.reference.median_ms:.3g} ms): the variant runs on {engine}"
            )
        if not e.agrees:
            found.append(
                f"{engine_named(name).title}'s outputs differ from ONNX Runtime's (max abs diff {e.max_abs_diff:.3g}): "
                f"the variant runs on {engine}"
            )
    return found


def _batched_shapes(onnx_path: str, shapes: dict[str, tuple[int, ...]], batch: int) -> dict[str, tuple[int, ...]]:
    """Input shapes with the first dimension set to `batch`; only inputs whose first dimension is dynamic can take it."""
    model = onnx.load(onnx_path, load_external_data=False)
    initializers = {i.name for i in model.graph.initializer}
    batched = {}
    for value in model.graph.input:
        if value.name in initializers:
            continue
        dims = value.type.tensor_type.shape.dim
        if not dims or (dims[0].HasField("dim_value") and dims[0].dim_value > 0):
            raise BenchmarkOptionsError(
                f"a batch-size sweep needs a dynamic first dimension, but input {value.name!r} has a fixed one"
            )
        given = shapes.get(value.name)
        rest = list(given[1:]) if given else [d.dim_value for d in dims[1:]]
        if any(d <= 0 for d in rest):
            raise BenchmarkOptionsError(
                f"input {value.name!r} has other dynamic dimensions: give its shape in the workflow's input_shapes"
            )
        batched[value.name] = (batch, *rest)
    return batched


def _sweep_entry(
    batch: int, original: bytes, onnx_path: str, shapes: dict, check: Comparison, target: dict, db_uri: str, run
) -> dict:
    """One batch size of the sweep: every engine of `check` that can be prepared at `batch`, timed by `run`."""
    try:
        model = prepare(onnx_path, _batched_shapes(onnx_path, shapes, batch))
    except ModelImportError as e:
        raise BenchmarkOptionsError(f"batch size {batch}: {e}") from None
    preparation = Preparation(original, model, target, db_uri)
    artifacts, warnings = {}, []
    for name in check.engines:
        engine = engine_named(name)
        try:
            data = engine.prepare(preparation)
        except Exception as e:  # noqa: BLE001 - an engine that cannot run a batch size is a result of the sweep
            warnings.append(f"{engine.title} could not be prepared at batch size {batch}: {type(e).__name__}")
            continue
        if data is not None:
            artifacts[engine.artifact] = data
    result: Comparison = run(artifacts, random_inputs(model.inputs))
    engine = check.engine if check.engine in result.engines else result.engine
    figures = result.engines[engine]
    return {
        "batch_size": batch,
        "engine": engine,
        "median_ms": figures.latency_ms,
        "p90_ms": figures.p90_ms,
        "ort_median_ms": result.reference.median_ms,
        "ort_p90_ms": result.reference.p90_ms,
        "throughput_per_s": batch * figures.stats.throughput_per_s,
        "speedup_vs_ort": result.reference.median_ms / figures.latency_ms,
        "agrees": figures.agrees,
        "warnings": warnings + warnings_for(result),
    }


def benchmark_variant(
    kind: str,
    check: Comparison,
    metadata: dict,
    onnx_path: str,
    shapes: dict[str, tuple[int, ...]],
    db_uri: str,
    options: BenchmarkOptions,
    usd_per_hour: float | None,
) -> dict:
    """A variant's benchmark result: its device comparison `check` (the tuning job's, at `options`' warm-up and repeats)
    with the batch sweep, SLA, cost and warnings added."""
    with open(onnx_path, "rb") as f:
        original = f.read()

    def run(artifacts: dict[str, bytes], inputs: dict) -> dict:
        return compare_on_device(kind, artifacts, inputs, warmup=options.warmup, repeat=options.repeat)

    sweep = []
    for batch in options.batch_sizes:
        entry = _sweep_entry(batch, original, onnx_path, shapes, check, metadata["target"], db_uri, run)
        entry["cost_per_million_usd"] = cost_per_million(entry["median_ms"], batch, usd_per_hour)
        sweep.append(entry)
    report = {
        **check.as_json(),
        "kind": kind,
        "usd_per_hour": usd_per_hour,
        "batch_sweep": sweep,
        "warnings": warnings_for(check),
    }
    report["cost_per_million_usd"] = cost_per_million(check.chosen.latency_ms, 1, usd_per_hour)
    report["ort_cost_per_million_usd"] = cost_per_million(check.reference.median_ms, 1, usd_per_hour)
    if sweep:
        best = max(sweep, key=lambda r: r["throughput_per_s"])
        report["best_throughput"] = {
            "batch_size": best["batch_size"],
            "throughput_per_s": best["throughput_per_s"],
            "cost_per_million_usd": best["cost_per_million_usd"],
        }
    report["warnings"] += [f"batch {r['batch_size']}: {w}" for r in sweep for w in r["warnings"]]
    if options.sla_ms is not None:
        met = [r["batch_size"] for r in sweep if r["p90_ms"] <= options.sla_ms]
        if not sweep and check.chosen.p90_ms <= options.sla_ms:
            met = [1]
        report["sla"] = {"p90_ms": options.sla_ms, "max_batch_size": max(met) if met else None}
        if not met:
            report["warnings"].append(f"no batch size meets the p90 SLA of {options.sla_ms} ms")
    return report


COST_METRICS = ("cost_per_million_usd", "ort_cost_per_million_usd")  # of the report, kept in the variant's record


class BenchmarkStage(Stage):
    def run(self, run: WorkflowRun) -> None:
        for kind, result in run.results.items():
            run.show(kind, "benchmarking")
            with run.registry.session() as s:
                price = prices.price_of(s, kind)
            check = result.comparison
            metadata = read_metadata(result.variant_dir)
            try:
                report = benchmark_variant(
                    kind, check, metadata, run.onnx_path, run.options.shapes, run.db_uri, run.options.benchmark, price
                )
            except BenchmarkOptionsError as e:
                raise WorkflowError(str(e)) from None
            with open(os.path.join(result.variant_dir, BENCHMARK), "w") as f:
                json.dump(report, f, indent=2)
            run.reports[kind] = report
            run.metrics[kind].update(
                {k: report[k] for k in COST_METRICS if report.get(k) is not None}, **check.benchmarked()
            )
