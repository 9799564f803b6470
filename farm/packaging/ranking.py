"""Ranking variants by metric priorities: the `models_rank.json` list of a candidates package.

Candidates are sorted lexicographically by the priorities, as Olive ranks its output models:
by the first metric, ties by the second, and so on; candidates equal on every priority keep
their given order. A candidate that lacks a priority's metric (a variant never benchmarked
has no latency) sorts after every candidate that has it, at that priority.

Priorities are written `agrees,-best_latency_ms,+speedup_vs_ort`: metric names, comma-separated,
most important first; a leading `+` means higher is better, `-` lower is better, and a bare
name takes the metric's natural direction (higher is better for `agrees`, `speedup_vs_ort`,
throughputs and `trials_measured`, lower for latencies, differences and sizes). METRICS
lists the names `candidate_from_folder` fills in (from benchmark.json, the library's size
and the tuning summary).
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..engines import engine_named
from ..engines.comparison import BENCHMARK_METRICS, HIGHER_IS_BETTER_FIGURES, Comparison
from ..runtime.container import PLATFORMS
from ..runtime.engines import DEFAULT_ENGINE
from .variant import read_variant, safe_name

CANDIDATES_FOLDER = "CandidateModels"
METRICS: tuple[str, ...] = (*BENCHMARK_METRICS, "library_bytes", "trials_measured", "cost_per_million_usd")
HIGHER_IS_BETTER = frozenset({*HIGHER_IS_BETTER_FIGURES, "trials_measured"})


@dataclass(frozen=True)
class MetricPriority:
    """One ranking criterion: a metric of METRICS and its direction."""

    name: str
    higher_is_better: bool


DEFAULT_PRIORITIES: tuple[MetricPriority, ...] = (
    MetricPriority("agrees", True),
    MetricPriority("best_latency_ms", False),
)


@dataclass
class Candidate:
    """A variant to rank: its folder, kind and model name, its METRICS values, and the metadata and benchmark they come from."""

    variant_dir: str
    kind: str
    model: str
    metrics: dict
    metadata: dict = field(default_factory=dict)
    benchmark: dict = field(default_factory=dict)
    variant_id: str | None = None

    @property
    def engine(self) -> str:
        """The engine the candidate runs (the default engine for a folder that names none)."""
        return str(self.metadata.get("engine") or DEFAULT_ENGINE)


def candidate_from_folder(variant_dir: str, variant_id: str | None = None) -> Candidate:
    """The candidate of a variant folder (checked by `read_variant`); metrics from benchmark.json, library size and tuning summary."""
    variant = read_variant(variant_dir)
    meta, bench = variant.metadata, variant.benchmark
    metrics = Comparison.from_json(bench).metrics() if bench else {}
    metrics["library_bytes"] = os.path.getsize(os.path.join(variant.folder, variant.model_file))
    if "trials_measured" in meta.get("tuning", {}):
        metrics["trials_measured"] = meta["tuning"]["trials_measured"]
    return Candidate(variant.folder, meta["kind"], meta["model"], metrics, meta, bench, variant_id)


def parse_priorities(spec: str, metrics: Iterable[str] = METRICS) -> list[MetricPriority]:
    """`"agrees,-best_latency_ms,+speedup_vs_ort"` → priorities, most important first; ValueError for empty, repeated or
    unknown names (`metrics`: the names allowed, METRICS unless the caller's candidates carry more)."""
    metrics = tuple(metrics)
    priorities: list[MetricPriority] = []
    for item in spec.split(","):
        item = item.strip()
        sign = item[0] if item[:1] in ("+", "-") else ""
        name = item[len(sign) :].strip()
        if not name:
            raise ValueError(f"empty metric name in priorities {spec!r}")
        if name not in metrics:
            raise ValueError(f"unknown metric {name!r} in priorities; available: {', '.join(metrics)}")
        if any(p.name == name for p in priorities):
            raise ValueError(f"metric {name!r} appears twice in priorities {spec!r}")
        priorities.append(MetricPriority(name, sign == "+" if sign else name in HIGHER_IS_BETTER))
    return priorities


def candidate_folder(kind: str, k: int) -> str:
    """Where the candidates package keeps the k-th best candidate of `kind` (a relative path)."""
    return f"{CANDIDATES_FOLDER}/{safe_name(kind)}/BestCandidateModel_{k}"


def inference_settings(candidate: Candidate) -> dict:
    """How to run a candidate: its engine, device, kind and TVM target, the threads it measured fastest with, its tensors,
    and the engine's own settings (for ONNX Runtime, Olive's execution providers and session options as the farm chose them)."""
    target = candidate.metadata.get("target", {})
    engine = engine_named(candidate.engine)
    measured = (candidate.metadata.get("engines") or {}).get(engine.name) or {}
    measured = {**measured, "threads": measured.get("threads", candidate.benchmark.get("threads"))}
    device = PLATFORMS.get(target.get("kind"), "cpu")
    settings = {
        "engine": engine.name,
        "device": device,
        "kind": candidate.kind,
        "target": target,
        "threads": measured["threads"],
        "inputs": candidate.metadata.get("inputs", []),
        "outputs": candidate.metadata.get("outputs", []),
    }
    return {**settings, **engine.inference_settings(measured, device)}


def _number(value) -> float | None:
    if isinstance(value, (bool, int, float)) and not (isinstance(value, float) and math.isnan(value)):
        return float(value)
    return None


def _sort_key(candidate: Candidate, priorities: Sequence[MetricPriority]) -> tuple:
    key = []
    for p in priorities:
        value = _number(candidate.metrics.get(p.name))
        key.append((1, 0.0) if value is None else (0, -value if p.higher_is_better else value))
    return tuple(key)


def order(candidates: Iterable[Candidate], priorities: Sequence[MetricPriority] | None = None) -> list[Candidate]:
    """The candidates, best first (see the module's docstring)."""
    priorities = list(priorities or DEFAULT_PRIORITIES)
    return sorted(candidates, key=lambda c: _sort_key(c, priorities))


def rank(candidates: Iterable[Candidate], priorities: Sequence[MetricPriority] | None = None) -> list[dict]:
    """The `models_rank.json` list: one entry per candidate, best first, `model_path` inside a candidates package."""
    priorities = list(priorities or DEFAULT_PRIORITIES)
    per_kind: Counter[str] = Counter()
    entries = []
    for position, c in enumerate(order(candidates, priorities), 1):
        per_kind[c.kind] += 1
        engine = engine_named(c.engine)
        model_file = c.metadata[engine.file_key]
        config = {
            "model_path": f"{candidate_folder(c.kind, per_kind[c.kind])}/model/{model_file}",
            "target": c.metadata.get("target", {}),
            "inference_settings": inference_settings(c),
        }
        entries.append(
            {
                "rank": position,
                "variant_id": c.variant_id,
                "target": c.kind,
                "model": c.model,
                "model_config": {"type": engine.model_type, "config": config},
                "metrics": {
                    p.name: {"value": c.metrics.get(p.name), "priority": i, "higher_is_better": p.higher_is_better}
                    for i, p in enumerate(priorities, 1)
                },
            }
        )
    return entries
