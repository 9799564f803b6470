"""The benchmark stage's rules without a cluster: options, cost per million inferences, warnings, batch shapes."""

from __future__ import annotations

import onnx
import pytest

from farm.models.examples import resnet_cnn
from farm.workflows.benchmark_stage import BenchmarkOptions, BenchmarkOptionsError, _batched_shapes, cost_per_million, warnings_for


def _result(tvm_ms: float, ort_ms: float, std_ms: float = 0.0, agrees: bool = True) -> dict:
    def stats(ms: float) -> dict:
        return {"median_ms": ms, "std_ms": std_ms, "p90_ms": ms}

    return {"tvm": stats(tvm_ms), "ort": stats(ort_ms), "tvm_latency_ms": tvm_ms, "ort_latency_ms": ort_ms,
            "speedup_vs_ort": ort_ms / tvm_ms, "agrees": agrees, "max_abs_diff": 0.0 if agrees else 0.5}


def test_options_are_validated_with_messages_naming_the_problem():
    opts = BenchmarkOptions.from_options({"batch_sizes": [8, 1, 8], "sla_ms": 2.5, "repeat": 20})
    assert opts.batch_sizes == [1, 8] and opts.sla_ms == 2.5 and opts.repeat == 20 and opts.warmup == 5
    assert BenchmarkOptions.from_options(None) == BenchmarkOptions()
    for bad, word in [({"batch_size": [1]}, "unknown"), ({"repeat": 0}, "repeat"), ({"batch_sizes": [0]}, "batch_sizes"),
                      ({"batch_sizes": "4"}, "batch_sizes"), ({"sla_ms": -1}, "sla_ms")]:
        with pytest.raises(BenchmarkOptionsError, match=word):
            BenchmarkOptions.from_options(bad)


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
