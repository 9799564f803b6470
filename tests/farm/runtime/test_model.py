"""The runtime on this host with a real variant: local info, loading, inference (sync and async), requests, profiling."""

from __future__ import annotations

import ast
import json
import os
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from tvm.target import codegen

from farm import runtime as rt
from tests.farm.runtime.conftest import assert_matches, random_inputs


@pytest.fixture(scope="module")
def model(variant):
    with rt.load_model(variant) as loaded:
        yield loaded


def test_local_info_has_the_cpu():
    info = rt.get_local_info()
    cpu = info.devices[0]
    assert (cpu.id, cpu.platform, cpu.index) == ("cpu:0", "cpu", 0)
    assert cpu.kind == str(codegen.llvm_get_system_cpu())
    assert 1 <= cpu.cores <= os.cpu_count()
    assert info.architecture and info.tvm_version and info.name
    assert json.loads(json.dumps(info.as_json()))["devices"][0]["id"] == "cpu:0"


def test_model_describes_its_tensors(model, variant):
    metadata = json.loads((variant / "metadata.json").read_text())
    assert model.name == metadata["model"]
    assert model.input_names == [t["name"] for t in metadata["inputs"]]
    assert model.output_names == [t["name"] for t in metadata["outputs"]]
    for entry in metadata["inputs"] + metadata["outputs"]:
        info = model.get_tensor(entry["name"])
        assert (info.name, info.dtype, info.shape) == (entry["name"], entry["dtype"], tuple(entry["shape"]))
        assert info.count == int(np.prod(entry["shape"]))
        assert info.size == info.count * np.dtype(entry["dtype"]).itemsize
    assert model.device.id == "cpu:0"
    if "TVM_NUM_THREADS" not in os.environ:
        measured = (metadata.get("engines") or {}).get("tvm", {}).get("threads")
        assert model.threads == (
            measured or model.device.cores
        )  # the count the farm measured fastest, else the physical cores
    assert model.metadata["library_sha256"] == metadata["library_sha256"]


def test_run_matches_onnx_runtime_with_list_and_dict_inputs(model, onnx_reference):
    inputs = random_inputs(model)
    reference = onnx_reference(inputs)
    assert_matches(model.run(inputs), reference)
    assert_matches(model.run(list(inputs.values())), reference)


def test_async_infer_fills_preallocated_outputs_and_calls_back_once(model, onnx_reference):
    inputs = random_inputs(model, seed=1)
    outputs = {t.name: np.full(t.shape, np.nan, t.dtype) for t in model.outputs}
    calls = []
    request = model.create_request()
    request.set_callback(lambda status, error: calls.append((status, error)))
    request.infer(inputs, outputs)
    assert request.wait() is True
    assert calls == [(rt.InferStatus.READY, None)]
    assert request.status is rt.InferStatus.READY
    assert_matches(outputs, onnx_reference(inputs))
    assert all(request.outputs[name] is array for name, array in outputs.items())
    request.infer(list(inputs.values()), list(outputs.values()))  # a finished request runs again
    request.wait()
    assert len(calls) == 2


def test_queued_requests_run_in_order_and_one_is_cancelled(model, onnx_reference):
    """The first request's callback holds the worker thread, so the requests after it stay queued."""
    release, events = threading.Event(), []
    blocker = model.create_request()
    blocker.set_callback(lambda status, error: release.wait(30))
    inputs = [random_inputs(model, seed=s) for s in range(4)]
    blocker.infer(inputs[0])
    queued = [model.create_request() for _ in range(3)]
    for i, (request, x) in enumerate(zip(queued, inputs[1:])):
        request.set_callback(lambda status, error, i=i: events.append((i, status, error)))
        request.infer(x)
    assert all(r.status is rt.InferStatus.RUNNING for r in queued)
    assert queued[0].wait(timeout_us=1000) is False
    with pytest.raises(rt.RequestError, match="still running"):
        queued[0].infer(inputs[1])
    assert queued[1].cancel() is True
    assert queued[1].status is rt.InferStatus.CANCELLED
    assert events == [(1, rt.InferStatus.CANCELLED, None)]
    assert queued[1].wait() is True
    with pytest.raises(rt.RequestError, match="cancelled"):
        _ = queued[1].outputs
    release.set()
    for request in (blocker, queued[0], queued[2]):
        assert request.wait(timeout_us=30_000_000) is True
        assert request.status is rt.InferStatus.READY
    assert [e[:2] for e in events] == [
        (1, rt.InferStatus.CANCELLED),
        (0, rt.InferStatus.READY),
        (2, rt.InferStatus.READY),
    ]
    assert queued[0].cancel() is False  # finished
    assert_matches(queued[2].outputs, onnx_reference(inputs[3]))


def test_a_failed_inference_is_a_fault(variant_copy):
    """Metadata that lies about the input's shape passes the runtime's checks and fails in the VM."""

    def widen(metadata):
        metadata["inputs"][0]["shape"][-1] += 1

    with rt.load_model(variant_copy(widen)) as model:
        calls = []
        request = model.create_request()
        request.set_callback(lambda status, error: calls.append((status, error)))
        request.infer({t.name: np.zeros(t.shape, t.dtype) for t in model.inputs})
        with pytest.raises(rt.InferError, match="failed") as failure:
            request.wait()
        assert failure.value.__cause__ is not None
        assert request.status is rt.InferStatus.FAULT
        assert calls == [(rt.InferStatus.FAULT, failure.value)]
        with pytest.raises(rt.RequestError, match="failed"):
            _ = request.outputs
        with pytest.raises(rt.InferError):
            model.profile(repeat=1, warmup=0)


def test_threads_are_applied(variant, onnx_reference):
    for threads in (1, 2):
        with rt.load_model(variant, devices="cpu:0", threads=threads) as model:
            assert model.threads == threads
            inputs = random_inputs(model, seed=threads)
            assert_matches(model.run(inputs), onnx_reference(inputs))


def test_profile_times_the_model_and_its_layers(model):
    result = model.profile(repeat=5, warmup=1)
    assert result.model_name == model.name and result.device == "cpu:0"
    assert len(result.model_durations_ns) == 5 and all(ns > 0 for ns in result.model_durations_ns)
    assert result.layer_durations_ns
    assert all(len(ns) == 5 and min(ns) > 0 for ns in result.layer_durations_ns.values())
    summary = json.loads(json.dumps(result.as_json()))
    assert summary["repeat"] == 5 and summary["latency"]["median_ms"] > 0
    means = [layer["mean_us"] for layer in summary["layers"]]
    assert means == sorted(means, reverse=True)
    assert sum(layer["percent"] for layer in summary["layers"]) == pytest.approx(100.0)


def test_close_cancels_queued_requests_and_refuses_new_ones(variant):
    model = rt.load_model(variant)
    started, release = threading.Event(), threading.Event()
    zeros = {t.name: np.zeros(t.shape, t.dtype) for t in model.inputs}
    blocker, queued = model.create_request(), model.create_request()
    blocker.set_callback(lambda status, error: (started.set(), release.wait(30)))
    blocker.infer(zeros)
    queued.infer(zeros)
    # close only once the worker runs the blocker: a close() that comes first cancels the blocker itself (its callback then
    # blocks close() while the worker, free, runs the queued request), which is what failed this test on busy machines
    assert started.wait(30)
    closing = threading.Thread(target=model.close)
    closing.start()
    for _ in range(3000):
        if queued.status is rt.InferStatus.CANCELLED:
            break
        time.sleep(0.01)
    assert queued.status is rt.InferStatus.CANCELLED and closing.is_alive()  # close() waits for the running one
    release.set()
    closing.join(30)
    assert blocker.wait() and blocker.status is rt.InferStatus.READY
    with pytest.raises(rt.RequestError, match="closed"):
        model.run(zeros)


PORTABLE_IMPORTS = {"numpy"}
ENGINE_IMPORTS = {
    "model.py": {"tvm"},
    "ort_model.py": {"onnxruntime"},
    "openvino_model.py": {"openvino"},
    "hybrid_model.py": {"tvm", "onnxruntime"},
    "profiling.py": {"tvm"},  # TVM models' per-layer timing, imported inside the functions that need it
    "local_info.py": {"tvm"},  # LLVM's name for the CPU and the GPUs, where TVM is installed
}  # imported only when a model of that engine loads


def test_portable_modules_import_only_the_standard_library_numpy_and_their_engine():
    """The packages copy every module but `remote.py` into wheels that depend on numpy and their engine alone."""
    folder = Path(rt.__file__).parent
    for path in folder.glob("*.py"):
        if path.name == "remote.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                roots = [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                roots = [node.module.split(".")[0]]
            else:
                continue
            for root in roots:
                allowed = PORTABLE_IMPORTS | ENGINE_IMPORTS.get(path.name, set())
                assert root in sys.stdlib_module_names or root in allowed, f"{path.name} imports {root}"
    assert "remote" not in (folder / "__init__.py").read_text().split('"""')[-1]
