"""The benchmark stage's rules without a cluster: options, cost per million inferences, warnings, batch shapes."""

from __future__ import annotations

import onnx
import pytest

from farm.engines.comparison import REFERENCE, Comparison, ConfigResult
from farm.models.examples import resnet_cnn
from farm.workflow_options import BenchmarkOptions, build_options
from farm.workflows.benchmark_stage import (
    BenchmarkOptionsError,
    _batched_shapes,
    cost_per_million,
    warnings_for,
)


def _result(tvm_ms: float, ort_ms: float, std_ms: float = 0.0, agrees: bool = True) -> Comparison:
    """A device comparison as `time_engines` makes it from one TVM and one ONNX Runtime configuration."""

    def config(engine: str, label: str, ms: float, agree: bool) -> dict:
        return {
            "engine": engine,
            "label": label,
            "settings": {},
            "threads": 2,
            "agrees": agree,
            "max_abs_diff": 0.0 if agree else 0.5,
            "max_rel_diff": 0.0 if agree else 0.5,
            "stats": {"median_ms": ms, "std_ms": std_ms, "p90_ms": ms},
        }

    results = [config("onnxruntime", REFERENCE, ort_ms, True), config("tvm", "tvm-2t", tvm_ms, agrees)]
    return Comparison.of([ConfigResult.from_json(c) for c in results])


def test_options_are_validated_with_messages_naming_the_problem():
    opts = BenchmarkOptions.model_validate({"batch_sizes": [8, 1, 8], "sla_ms": 2.5, "repeat": 20})
    assert opts.batch_sizes == [1, 8] and opts.sla_ms == 2.5 and opts.repeat == 20 and opts.warmup == 5
    assert build_options().benchmark == BenchmarkOptions()
    for bad, word in [
        ({"repeat": 0}, "benchmark.repeat"),
        ({"batch_sizes": [0]}, "benchmark.batch_sizes"),
        ({"batch_sizes": "4"}, "benchmark.batch_sizes"),
        ({"sla_ms": -1}, "benchmark.sla_ms"),
    ]:
        with pytest.raises(ValueError, match=word):
            build_options(benchmark=bad)
    with pytest.raises(ValueError, match="stages: .*autotune stage cannot be turned off"):
        build_options(stages={"autotune": False})


def test_cost_per_million_inferences_follows_latency_batch_and_price():
    assert cost_per_million(2.0, 1, 3.6) == pytest.approx(2.0)  # $3.6/h = $0.001/s; 2 ms each → $2 per million
    assert cost_per_million(2.0, 4, 3.6) == pytest.approx(0.5)
    assert cost_per_million(2.0, 1, None) is None


def test_warnings_flag_implausible_slow_noisy_and_disagreeing_results():
    assert warnings_for(_result(1.0, 2.0)) == []
    assert any("below 1 µs" in w for w in warnings_for(_result(0.0004, 2.0)))
    assert any("slower than ONNX Runtime" in w for w in warnings_for(_result(3.0, 2.0)))
    assert any("spread widely" in w for w in warnings_for(_result(1.0, 2.0, std_ms=0.9)))
    assert any("differ" in w for w in warnings_for(_result(1.0, 2.0, agrees=False)))


def test_a_sweep_needs_a_dynamic_first_dimension(tmp_path):
    onnx.save(resnet_cnn(size=8, width=4, blocks=1, dynamic_batch=True), str(tmp_path / "dynamic.onnx"))
    onnx.save(resnet_cnn(size=8, width=4, blocks=1), str(tmp_path / "fixed.onnx"))
    assert _batched_shapes(str(tmp_path / "dynamic.onnx"), {"input": (1, 3, 8, 8)}, 16) == {"input": (16, 3, 8, 8)}
    with pytest.raises(BenchmarkOptionsError, match="'input' has a fixed one"):
        _batched_shapes(str(tmp_path / "fixed.onnx"), {}, 4)
