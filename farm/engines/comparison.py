"""A device comparison, typed: every engine configuration's result, each engine at its best, and the engine chosen.

`farm.engines.timing.time_engines` measures; this module holds what it found, so the
tuning job, the benchmark stage, the CLI and the ranking read attributes, not string keys.
`Comparison.as_json` is the one serialization, at the edges (`benchmark.json`, a
variant's benchmark record, `farm tune --json`), and `Comparison.from_json` reads it back,
also as written before this type existed. The reference is ONNX Runtime's default session
on the original model: every configuration's outputs are compared with its outputs, and
the comparison's summary figures (`figures`) set the variant against it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np

from ..precision import EXACT, allowed_precisions

REFERENCE = "ort-default"  # the configuration every other is checked against, and the speed-ups' base
REFERENCE_ENGINE = "onnxruntime"  # the engine it is a configuration of
STATS = ("median_ms", "mean_ms", "std_ms", "p90_ms", "throughput_per_s")
# The scalar figures of a variant against ONNX Runtime's default: what the farm records of a variant, reports of a tune
# and ranks by (the `tvm_*` ones and `speedup_vs_ort` where TVM was timed)
FIGURES = (
    "engine",
    "best_latency_ms",
    "tvm_latency_ms",
    "ort_latency_ms",
    "speedup_vs_ort",
    "max_abs_diff",
    "max_rel_diff",
    "agrees",
)
_SIDES = {"tvm": "tvm", "ort": None}  # the summary's two sides: TVM at its best (an engine), the reference session
# every numeric figure a comparison gives a ranking, agreement first (the order users see the metrics listed in)
BENCHMARK_METRICS: tuple[str, ...] = (
    "agrees",
    *(f for f in FIGURES if f not in ("engine", "agrees")),
    *(f"{side}_{stat}" for side in _SIDES for stat in STATS),
)
HIGHER_IS_BETTER_FIGURES = frozenset({"agrees", "speedup_vs_ort", *(f"{side}_throughput_per_s" for side in _SIDES)})
TUNED_LATENCY = "tvm_latency_ms"  # the figure of the tuned library, which better schedules in the database can improve


@dataclass(frozen=True)
class LatencyStats:
    """Median, mean, spread, p90 (ms) and throughput of one configuration's timed inferences."""

    median_ms: float
    mean_ms: float
    std_ms: float
    p90_ms: float
    throughput_per_s: float

    @classmethod
    def of(cls, seconds: list[float]) -> LatencyStats:
        ms = np.asarray(seconds) * 1e3
        median = float(np.median(ms))
        return cls(median, float(ms.mean()), float(ms.std()), float(np.percentile(ms, 90)), float(1e3 / median))

    @classmethod
    def from_json(cls, data: dict) -> LatencyStats:
        median = float(data["median_ms"])
        return cls(
            median,
            float(data.get("mean_ms", median)),
            float(data.get("std_ms", 0.0)),
            float(data.get("p90_ms", median)),
            float(data.get("throughput_per_s", 1e3 / median if median else 0.0)),
        )

    def as_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ConfigResult:
    """One engine configuration as timed: its settings and threads, latencies, agreement with the reference."""

    engine: str
    label: str
    settings: dict
    threads: int | None
    stats: LatencyStats
    max_abs_diff: float
    max_rel_diff: float
    agrees: bool
    others_cpu_ms: float = 0.0  # CPU the other workers used while it was timed: shows they stayed idle
    repeat: int = 0  # timed inferences
    precision: str = EXACT  # what it computes in (`farm.precision`)
    top1: float | None = None  # fraction of class-score rows whose arg-max matches the reference's
    estimated: bool = False  # out of reach: its latency is its last warm-up inference, never timed nor chosen

    @classmethod
    def from_json(cls, data: dict) -> ConfigResult:
        return cls(
            engine=data["engine"],
            label=data["label"],
            settings=dict(data.get("settings") or {}),
            threads=data.get("threads"),
            stats=LatencyStats.from_json(data["stats"]),
            max_abs_diff=float(data.get("max_abs_diff", 0.0)),
            max_rel_diff=float(data.get("max_rel_diff", 0.0)),
            agrees=bool(data["agrees"]),
            others_cpu_ms=float(data.get("others_cpu_ms", 0.0)),
            repeat=int(data.get("repeat", 0)),
            precision=data.get("precision", EXACT),
            top1=data.get("top1"),
            estimated=bool(data.get("estimated", False)),
        )

    def as_json(self) -> dict:
        return {**asdict(self), "stats": self.stats.as_json()}


@dataclass(frozen=True)
class EngineResult:
    """An engine at its best: its fastest agreeing timed configuration (else its fastest timed one, else its estimate)."""

    latency_ms: float
    p90_ms: float
    agrees: bool
    threads: int | None
    config: str
    settings: dict
    stats: LatencyStats
    max_abs_diff: float
    max_rel_diff: float
    precision: str = EXACT
    top1: float | None = None
    estimated: bool = False  # every configuration was out of reach: `latency_ms` is an estimate, not a timing

    @classmethod
    def best_of(cls, configs: list[ConfigResult]) -> EngineResult:
        timed = [c for c in configs if not c.estimated] or configs
        best = min([c for c in timed if c.agrees] or timed, key=lambda c: c.stats.median_ms)
        return cls(
            best.stats.median_ms,
            best.stats.p90_ms,
            best.agrees,
            best.threads,
            best.label,
            best.settings,
            best.stats,
            best.max_abs_diff,
            best.max_rel_diff,
            best.precision,
            best.top1,
            best.estimated,
        )

    @classmethod
    def from_json(cls, data: dict) -> EngineResult:
        stats = LatencyStats.from_json(data.get("stats") or {"median_ms": data["latency_ms"], "p90_ms": data["p90_ms"]})
        return cls(
            float(data["latency_ms"]),
            float(data["p90_ms"]),
            bool(data["agrees"]),
            data.get("threads"),
            str(data.get("config", "")),
            dict(data.get("settings") or {}),
            stats,
            float(data.get("max_abs_diff", 0.0)),
            float(data.get("max_rel_diff", 0.0)),
            data.get("precision", EXACT),
            data.get("top1"),
            bool(data.get("estimated", False)),
        )

    def as_json(self) -> dict:
        return {**asdict(self), "stats": self.stats.as_json()}


@dataclass(frozen=True)
class Comparison:
    """Every configuration timed on one device, each engine at its best at the allowed precision, and the chosen engine
    (the fastest admitted); `alternative` is the fastest admitted configuration of a precision the user did not allow,
    so the summary can say what it would give."""

    configs: list[ConfigResult]
    engines: dict[str, EngineResult]
    engine: str
    reference: LatencyStats
    run: dict = field(default_factory=dict)  # warmup, repeat, rounds, cores, device_type, precision, node_id
    alternative: ConfigResult | None = None

    @classmethod
    def of(cls, configs: list[ConfigResult], precision: str = EXACT, **run: object) -> Comparison:
        """The comparison of `configs` (the reference among them) for a variant of `precision`: per engine its best
        allowed configuration, the fastest admitted one chosen."""
        allowed = [c for c in configs if c.precision in allowed_precisions(precision)]
        engines = {
            name: EngineResult.best_of([c for c in allowed if c.engine == name])
            for name in dict.fromkeys(c.engine for c in allowed)
        }
        agreeing = {name: e for name, e in engines.items() if e.agrees and not e.estimated}
        engine = min(agreeing, key=lambda name: agreeing[name].latency_ms)
        reference = next(c for c in configs if c.label == REFERENCE).stats
        others = [c for c in configs if c.agrees and not c.estimated and c not in allowed]
        alternative = min(others, key=lambda c: c.stats.median_ms) if others else None
        return cls(configs, engines, engine, reference, {**run, "precision": precision}, alternative)

    @property
    def chosen(self) -> EngineResult:
        return self.engines[self.engine]

    @property
    def disagreeing(self) -> list[str]:
        """The engines whose best configuration's outputs differ from the reference's."""
        return [name for name, e in self.engines.items() if not e.agrees]

    def with_engine(self, engine: str) -> Comparison:
        """This comparison with `engine` chosen (as a user or a test may record a choice)."""
        return replace(self, engine=engine)

    @property
    def precision(self) -> str:
        return str(self.run.get("precision", EXACT))

    def figures(self) -> dict:
        """The `FIGURES` of the variant against the reference (TVM's where TVM was timed)."""
        figures = {
            "engine": self.engine,
            "best_latency_ms": self.chosen.latency_ms,
            "ort_latency_ms": self.reference.median_ms,
            "agrees": self.chosen.agrees,
            "precision": self.precision,
        }
        if self.alternative is not None:
            figures["other_precision"] = self.other_precision()
        if "tvm" in self.engines:
            tvm = self.engines["tvm"]
            figures.update(
                tvm_latency_ms=tvm.latency_ms,
                speedup_vs_ort=self.reference.median_ms / tvm.latency_ms,
                max_abs_diff=tvm.max_abs_diff,
                max_rel_diff=tvm.max_rel_diff,
            )
        return figures

    def other_precision(self) -> dict:
        """What the precision the user did not allow would give (`alternative`): its engine and configuration, latency,
        speed-up over the chosen engine, agreement, and the samples it was measured on."""
        alt = self.alternative
        return {
            "precision": alt.precision,
            "engine": alt.engine,
            "config": alt.label,
            "latency_ms": alt.stats.median_ms,
            "speedup": self.chosen.latency_ms / alt.stats.median_ms,
            "max_abs_diff": alt.max_abs_diff,
            "max_rel_diff": alt.max_rel_diff,
            "top1": alt.top1,
            "samples": self.run.get("samples", 1),
        }

    def metrics(self) -> dict:
        """Every `BENCHMARK_METRICS` figure this comparison has, for the ranking."""
        metrics = {k: v for k, v in self.figures().items() if k in BENCHMARK_METRICS}
        sides = {"ort": self.reference, **({"tvm": self.engines["tvm"].stats} if "tvm" in self.engines else {})}
        for side, stats in sides.items():
            metrics.update({f"{side}_{stat}": getattr(stats, stat) for stat in STATS})
        return metrics

    def benchmarked(self) -> dict:
        """What a benchmarked variant's record adds: the chosen engine's p90 and throughput, TVM's p90 where timed."""
        tvm = {"tvm_p90_ms": self.engines["tvm"].p90_ms} if "tvm" in self.engines else {}
        return {**tvm, "best_p90_ms": self.chosen.p90_ms, "throughput_per_s": self.chosen.stats.throughput_per_s}

    def as_json(self) -> dict:
        """The comparison as `benchmark.json` holds it."""
        data = {
            **self.figures(),
            "ort": self.reference.as_json(),
            "engines": {name: e.as_json() for name, e in self.engines.items()},
            "configs": [c.as_json() for c in self.configs],
            **self.run,
        }
        if self.alternative is not None:
            data["alternative"] = self.alternative.as_json()
        if "tvm" in self.engines:
            data.update(tvm=self.engines["tvm"].stats.as_json(), threads=self.engines["tvm"].threads)
        return data

    @classmethod
    def from_json(cls, data: dict) -> Comparison:
        """A comparison as `as_json` wrote it (or the farm wrote it before this type): extra keys are the run's."""
        configs = [ConfigResult.from_json(c) for c in data.get("configs") or []]
        engines = {name: EngineResult.from_json(e) for name, e in data["engines"].items()}
        reference = LatencyStats.from_json(data["ort"])
        known = {*FIGURES, "ort", "tvm", "engines", "configs", "threads", "alternative", "other_precision"}
        run = {k: v for k, v in data.items() if k not in known}
        alternative = ConfigResult.from_json(data["alternative"]) if data.get("alternative") else None
        return cls(configs, engines, data["engine"], reference, run, alternative)
