"""The hybrid engine: kernels cut out of the model, timed in both engines on the hybrid's own call path, each on the faster;
runs of one engine merged; the plan verified against the original and timed end to end beside the pure engines."""

from __future__ import annotations

import io
import itertools
import json
import zipfile

import numpy as np
import onnx
import pytest
import tvm

from cluster.devices import detect_kinds
from farm.engines import engine_named
from farm.engines.hybrid_plan import build_hybrid, choose, tvm_cost
from farm.engines.kernels import ANCHORS, Segmenter, split_kernels
from farm.engines.timing import time_engines
from farm.models.examples import mobilenet_cnn, resnet_cnn
from farm.models.onnx_import import from_proto, prepare, random_inputs
from farm.runtime import ContainerError
from farm.runtime.hybrid_model import HybridPipeline, read_plan, to_tvm
from farm.tuning.session import compile_with_records, exported_library
from tests.conftest import ort_session
from tuning_db.metaschedule import ParquetDatabase

from ..conftest import mixed_hybrid

pytestmark = pytest.mark.slow

ATOL = 1e-4


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A small residual CNN, prepared as the farm prepares models, with its inputs and ONNX Runtime's outputs."""
    path = tmp_path_factory.mktemp("hybrid") / "model.onnx"
    onnx.save(resnet_cnn(size=16, width=8, blocks=2), str(path))
    prepared = prepare(str(path))
    inputs = random_inputs(prepared.inputs)
    reference = ort_session(str(path)).run(None, inputs)
    return {"path": path, "model": prepared, "inputs": inputs, "reference": reference}


@pytest.fixture(scope="module")
def target():
    return [k for k in detect_kinds() if k.platform == "cpu"][-1].target


@pytest.fixture(scope="module")
def mixed(model, target, tmp_path_factory) -> tuple[dict, bytes]:
    return mixed_hybrid(str(model["path"]), target, str(tmp_path_factory.mktemp("hybrid-db")))


def _assert_close(outputs, reference):
    assert len(outputs) == len(reference)
    for got, want in zip(outputs, reference):
        assert got.shape == want.shape and np.abs(np.asarray(got) - want).max() <= ATOL


@pytest.mark.parametrize("make", [resnet_cnn, mobilenet_cnn])
def test_kernels_cover_every_node_once_each_around_one_heavy_node(make):
    graph = make(size=16, width=8).graph
    kernels = split_kernels(make(size=16, width=8))
    assert kernels[0].start == 0 and kernels[-1].end == len(graph.node)
    assert all(a.end == b.start for a, b in itertools.pairwise(kernels))
    assert all(sum(op in ANCHORS for op in k.op_types) == 1 for k in kernels)
    assert len(kernels) == sum(n.op_type in ANCHORS for n in graph.node)


def test_a_mixed_plan_merges_runs_of_one_engine_and_computes_what_the_original_model_computes(model, mixed):
    plan, archive = mixed
    engines = [k["engine"] for k in plan["kernels"]]
    assert plan["built"] and set(engines) == {"tvm", "onnxruntime"}
    segments = plan["segments"]
    assert [k for s in segments for k in s["kernels"]] == list(range(len(engines)))
    assert all(
        a["engine"] != b["engine"] for a, b in itertools.pairwise(segments)
    )  # runs of one engine are one segment
    assert all(engines[k] == s["engine"] for s in segments for k in s["kernels"])
    stored, files = read_plan(archive)
    assert stored["segments"] == segments and set(files) == {s["file"] for s in segments}
    _assert_close(HybridPipeline(archive, "cpu", 1)(list(model["inputs"].values())), model["reference"])


def test_each_kernel_is_timed_in_both_engines_and_planned_on_the_faster_agreeing_one(model, target, tmp_path):
    tvm_target = tvm.target.Target(target)
    db = ParquetDatabase(str(tmp_path / "db"), tvm_target, auto_compact_files=None)
    try:
        plan, archive = build_hybrid(
            model["model"].proto,
            model["inputs"],
            lambda proto: exported_library(compile_with_records(db, from_proto(proto), tvm_target)),
            lambda fn, args: (fn(*args, cores=2, device_type="cpu", rounds=2), {"cores": 2}),
        )
    finally:
        db.close()
    assert "error" not in plan, plan.get("error")
    kernels = plan["kernels"]
    assert len(kernels) == len(Segmenter(model["model"].proto).kernels)
    for kernel in kernels:
        timings = ("tvm_us", "onnxruntime_us", "tvm_crossing_us", "onnxruntime_crossing_us")
        assert all(kernel[t] > 0 for t in timings) and kernel["agrees"], kernel
        cheaper = "tvm" if tvm_cost(kernel) < kernel["onnxruntime_us"] else "onnxruntime"
        assert kernel["engine"] == cheaper
    estimate = sum(tvm_cost(k) if k["engine"] == "tvm" else k["onnxruntime_us"] for k in kernels) / 1e3
    assert plan["estimated_ms"] == pytest.approx(estimate)
    counts = plan["kernels_per_engine"]
    assert counts["tvm"] + counts["onnxruntime"] == len(kernels) and plan["threads"] == 2
    assert plan["built"] == (min(counts.values()) > 0) == (archive is not None)
    if archive is not None:
        _assert_close(HybridPipeline(archive, "cpu", 2)(list(model["inputs"].values())), model["reference"])


def test_a_kernel_whose_tvm_outputs_disagree_or_that_tvm_cannot_compile_stays_on_onnx_runtime():
    timings = [
        {"agrees": True, "tvm_us": 1.0, "onnxruntime_us": 2.0, "tvm_crossing_us": 1.0, "onnxruntime_crossing_us": 2.0},
        {"agrees": False, "tvm_us": 1.0, "onnxruntime_us": 2.0, "tvm_crossing_us": 1.0, "onnxruntime_crossing_us": 2.0},
        {"onnxruntime_us": 2.0},
        {"agrees": True, "tvm_us": 3.0, "onnxruntime_us": 2.0, "tvm_crossing_us": 3.0, "onnxruntime_crossing_us": 2.0},
    ]
    assert choose(timings) == ["tvm", "onnxruntime", "onnxruntime", "onnxruntime"]


def test_a_kernel_faster_on_tvm_only_back_to_back_stays_on_onnx_runtime():
    """TVM is charged its time right after ONNX Runtime plus what ONNX Runtime loses right after it."""
    crossing = {"agrees": True, "tvm_us": 1.0, "onnxruntime_us": 2.0}
    assert tvm_cost({**crossing, "tvm_crossing_us": 1.5, "onnxruntime_crossing_us": 2.2}) == pytest.approx(1.7)
    assert choose(
        [
            {**crossing, "tvm_crossing_us": 1.5, "onnxruntime_crossing_us": 2.2},  # 1.7 against 2.0
            {**crossing, "tvm_crossing_us": 2.5, "onnxruntime_crossing_us": 2.0},  # slow after ONNX Runtime
            {**crossing, "tvm_crossing_us": 1.5, "onnxruntime_crossing_us": 2.8},  # costs its successor 0.8
            {**crossing, "tvm_crossing_us": 1.5, "onnxruntime_crossing_us": 1.0},  # a faster successor earns nothing
        ]
    ) == ["tvm", "onnxruntime", "onnxruntime", "tvm"]


def test_the_hybrid_is_timed_beside_the_pure_engines_at_each_thread_count(model, mixed, target, tmp_path):
    tvm_target = tvm.target.Target(target)
    db = ParquetDatabase(str(tmp_path / "db"), tvm_target, auto_compact_files=None)
    try:
        library = exported_library(compile_with_records(db, model["model"], tvm_target))
    finally:
        db.close()
    artifacts = {"model.so": library, "model.onnx": model["path"].read_bytes(), "hybrid.zip": mixed[1]}
    timed = time_engines(
        artifacts, model["inputs"], cores=2, warmup=2, repeat=10, rounds=2, out_of_reach=None
    ).as_json()
    hybrid = [c for c in timed["configs"] if c["engine"] == "hybrid"]
    assert [c["label"] for c in hybrid] == [c.label for c in engine_named("hybrid").configs(2)]
    assert all(c["agrees"] and c["stats"]["median_ms"] > 0 for c in hybrid), hybrid
    assert timed["engines"]["hybrid"]["latency_ms"] == min(c["stats"]["median_ms"] for c in hybrid)
    fastest = min((c for c in timed["configs"] if c["agrees"]), key=lambda c: c["stats"]["median_ms"])
    assert timed["engine"] == fastest["engine"]


def test_a_damaged_plan_archive_is_refused_clearly(mixed):
    with pytest.raises(ContainerError, match="not a hybrid plan archive"):
        read_plan(b"not a zip")
    plan, _ = mixed
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr(
            "plan.json", json.dumps({**plan, "segments": [{**plan["segments"][0], "file": "../../etc/passwd"}]})
        )
    with pytest.raises(ContainerError, match="segment file"):
        read_plan(buffer.getvalue())


def test_read_only_and_unaligned_inputs_are_copied_for_tvm_and_the_rest_shared():
    device = tvm.cpu()
    buffer = np.zeros(64 + 16, dtype=np.float32)
    start = (-buffer.ctypes.data % 64) // 4
    aligned = buffer[start : start + 64]
    assert np.shares_memory(np.from_dlpack(to_tvm(aligned, device)), aligned)
    frozen = aligned.copy()
    frozen.flags.writeable = False  # as numpy arrays out of Ray's object store are
    assert not np.shares_memory(np.from_dlpack(to_tvm(frozen, device)), frozen)
    offset = np.zeros(65, dtype=np.float32)[1:]
    assert np.array_equal(to_tvm(offset, device).numpy(), offset)
