"""Precision is the user's choice, measured: the tolerance's syntax, the agreement rule per precision, reduced precision
offered only where the CPU computes it, chosen only when allowed, and said either way."""

from __future__ import annotations

import numpy as np
import pytest

from farm.engines import engine_named
from farm.engines.comparison import REFERENCE, Comparison, ConfigResult, LatencyStats
from farm.precision import (
    BF16,
    DEFAULT_TOLERANCE,
    EXACT,
    Tolerance,
    agreement,
    class_scores,
    node_precisions,
)
from farm.schemas import VariantMetrics


def test_a_tolerance_is_written_rel_and_or_top1_and_anything_else_is_refused_clearly():
    assert Tolerance.parse(None) == Tolerance.parse(DEFAULT_TOLERANCE) == Tolerance(0.05, 0.99)
    assert Tolerance.parse("top1=0.9") == Tolerance(0.05, 0.9) and Tolerance.parse("rel=0.1").top1 is None
    assert Tolerance.parse(Tolerance(0.02, 0.95).as_text()) == Tolerance(0.02, 0.95)
    for bad in ("abs=0.1", "rel=x", "rel=2", "rel=0.1,rel=0.2", "rel=0.1,"):
        with pytest.raises(ValueError, match="tolerance"):
            Tolerance.parse(bad)


def test_class_scores_are_recognised_by_shape():
    assert class_scores(np.zeros((4, 10))) is not None and class_scores(np.zeros((1, 1000, 1, 1))).shape == (1, 1000)
    assert class_scores(np.zeros((1, 3, 8, 8))) is None and class_scores(np.zeros((4, 1))) is None


def test_exact_holds_to_the_fp32_rule_and_bf16_to_the_tolerance():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((32, 10))
    close = scores + 0.02 * np.abs(scores).max()  # 2 % of the range: same arg-max, too far for exact
    assert not agreement([[close]], [[scores]], EXACT, Tolerance()).agrees
    bf16 = agreement([[close]], [[scores]], BF16, Tolerance.parse("top1=0.99"))
    assert bf16.agrees and bf16.top1 == 1.0
    shuffled = scores[:, ::-1].copy()
    assert not agreement([[shuffled]], [[scores]], BF16, Tolerance.parse("top1=0.99")).agrees
    feature_map = rng.standard_normal((1, 4, 8, 8))
    assert agreement([[feature_map * 1.03]], [[feature_map]], BF16, Tolerance.parse("rel=0.05")).agrees
    assert not agreement([[feature_map * 1.1]], [[feature_map]], BF16, Tolerance.parse("rel=0.05")).agrees
    assert agreement([[feature_map]], [[feature_map]], EXACT, Tolerance()).agrees


def test_reduced_precision_is_offered_only_where_the_cpu_computes_it_natively():
    assert node_precisions({"avx2", "fma"}) == (EXACT,) and node_precisions(None) == (EXACT,)
    assert node_precisions({"avx512f", "amx_bf16"}) == (EXACT, BF16) == node_precisions({"avx512_bf16"})
    openvino = engine_named("openvino")
    reduced = openvino.reduced_configs(2, BF16)
    assert reduced and all(c.precision == BF16 for c in reduced)
    assert all(c.settings["properties"]["INFERENCE_PRECISION_HINT"] == "bf16" for c in reduced)
    assert all(c.precision == EXACT for c in openvino.configs(2)) and not engine_named("tvm").reduced_configs(2, BF16)


def _config(engine: str, label: str, ms: float, precision: str = EXACT, agrees: bool = True) -> ConfigResult:
    stats = LatencyStats(ms, ms, 0.0, ms, 1e3 / ms)
    return ConfigResult(engine, label, {}, 2, stats, 0.0, 0.0, agrees, precision=precision, top1=1.0)


def test_the_choice_keeps_to_the_allowed_precision_and_says_what_the_other_would_give():
    configs = [
        _config("onnxruntime", REFERENCE, 3.0),
        _config("openvino", "ov-2t", 2.0),
        _config("openvino", "ov-2t-bf16", 0.8, BF16),
        _config("openvino", "ov-1t-bf16", 0.5, BF16, agrees=False),  # outside the tolerance: never admitted
    ]
    exact = Comparison.of(configs, EXACT)
    assert exact.engine == "openvino" and exact.chosen.config == "ov-2t" and exact.chosen.precision == EXACT
    assert exact.alternative.label == "ov-2t-bf16" and exact.precision == EXACT
    reduced = Comparison.of(configs, BF16)
    assert reduced.chosen.config == "ov-2t-bf16" and reduced.chosen.precision == BF16 and reduced.alternative is None
    assert Comparison.from_json(exact.as_json()) == exact
    said = VariantMetrics.model_validate(exact.figures())  # what the API and the SDK show of the variant
    assert said.precision == EXACT and said.other_precision.precision == BF16
    assert said.other_precision.speedup == pytest.approx(2.0 / 0.8) and said.other_precision.config == "ov-2t-bf16"
    assert "other_precision" not in reduced.figures() and reduced.figures()["precision"] == BF16


def test_farm_tune_shows_every_engine_fastest_first_the_chosen_marked_and_the_precision_not_allowed():
    from rich.console import Console

    from farm.cli.tune import engine_table

    configs = [
        _config("onnxruntime", REFERENCE, 3.0),
        _config("tvm", "tvm-2t", 2.5),
        _config("openvino", "ov-2t", 2.0),
        _config("openvino", "ov-2t-bf16", 0.8, BF16),
    ]
    console = Console(width=160, record=True)
    console.print(engine_table("x86-64", Comparison.of(configs, EXACT)))
    rows = [
        [cell.strip() for cell in line.split("│")[1:-1]] for line in console.export_text().splitlines() if "│" in line
    ]
    assert [row[0] for row in rows] == ["OpenVINO (chosen)", "TVM", "ONNX Runtime", "OpenVINO (not allowed)"]
    assert rows[0][1:] == ["ov-2t", "2", "exact", "2.000", "2.000", "1.50x", "yes"]
    assert rows[-1][1] == "ov-2t-bf16" and rows[-1][3] == "bf16" and rows[-1][-1] == "within tolerance"
