"""The runtime loads a variant on the engine the farm chose for it, or on any other it carries, behind one interface."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from farm import runtime as rt

from .conftest import assert_matches, random_inputs

MODEL_CLASSES = {
    "tvm": "Model",
    "onnxruntime": "OnnxRuntimeModel",
    "hybrid": "HybridModel",
    "openvino": "OpenVinoModel",
}


def test_a_variant_loads_on_the_engine_the_farm_chose_with_the_settings_it_measured(chosen_variant, onnx_reference):
    metadata = json.loads((chosen_variant / "metadata.json").read_text())
    assert metadata["engine"] in metadata["engines"] and {"tvm", "onnxruntime"} <= set(metadata["engines"]) <= set(
        MODEL_CLASSES
    )
    chosen = metadata["engines"][metadata["engine"]]
    assert all(chosen["latency_ms"] <= e["latency_ms"] for e in metadata["engines"].values() if e["agrees"])
    with rt.load_model(chosen_variant) as model:
        assert type(model).__name__ == MODEL_CLASSES[metadata["engine"]]
        inputs = random_inputs(model)
        assert_matches(model.run(inputs), onnx_reference(inputs))


def test_an_application_runs_the_engine_the_farm_chose_at_the_threads_it_measured(chosen_variant):
    """In a fresh process (TVM sizes a process's thread pools once, so an earlier test's pool would cap it)."""
    metadata = json.loads((chosen_variant / "metadata.json").read_text())
    code = "import sys, farm.runtime as rt; m = rt.load_model(sys.argv[1]); print(type(m).__name__, m.threads)"
    env = {k: v for k, v in os.environ.items() if k != "TVM_NUM_THREADS"}
    proc = subprocess.run(
        [sys.executable, "-c", code, str(chosen_variant)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    name, threads = proc.stdout.split()
    assert name == MODEL_CLASSES[metadata["engine"]]
    chosen = metadata["engines"][metadata["engine"]]["threads"]
    assert int(threads) == (chosen or int(threads)), (proc.stdout, metadata["engines"])


@pytest.mark.parametrize("engine", ["onnxruntime", "tvm"])
def test_every_engine_of_a_variant_runs_requests_and_profiles_behind_one_interface(
    chosen_variant, onnx_reference, engine
):
    with rt.load_model(chosen_variant, engine=engine, threads=1) as model:
        assert model.threads == 1 and model.input_names and model.output_names
        inputs = random_inputs(model, seed=3)
        request = model.create_request()
        request.infer(inputs)
        assert request.wait() and request.status == rt.InferStatus.READY
        assert_matches(request.outputs, onnx_reference(inputs))
        profile = model.profile(repeat=3, warmup=1).as_json()
        assert profile["repeat"] == 3 and profile["latency"]["median_ms"] > 0 and profile["threads"] == 1


def test_a_corrupt_onnx_model_or_an_unknown_engine_is_refused_clearly(variant_copy):
    folder = variant_copy()
    (folder / "model.onnx").write_bytes(b"not a model")
    with pytest.raises(rt.ContainerError, match="model.onnx is corrupt"):
        rt.load_model(folder, engine="onnxruntime")
    with pytest.raises(rt.InvalidArgumentError, match="engine must be one of tvm, onnxruntime"):
        rt.load_model(folder, engine="tensorrt")
    with pytest.raises(rt.ContainerError, match="engine must be one of"):
        rt.load_model(variant_copy(lambda m: m.update(engine="tensorrt")))
    without = variant_copy(lambda m: m.pop("onnx_model"))
    with pytest.raises(rt.ContainerError, match="holds no onnx_model"):
        rt.load_model(without, engine="onnxruntime")


def test_a_hybrid_variant_loads_runs_requests_and_profiles_behind_the_same_interface(hybrid_variant, onnx_reference):
    metadata = json.loads((hybrid_variant / "metadata.json").read_text())
    assert metadata["engine"] == "hybrid" and metadata["hybrid"]["built"]
    assert {k["engine"] for k in metadata["hybrid"]["kernels"]} == {"tvm", "onnxruntime"}
    with rt.load_model(hybrid_variant) as model:
        assert isinstance(model, rt.HybridModel) and model.threads == 1
        inputs = random_inputs(model, seed=5)
        assert_matches(model.run(inputs), onnx_reference(inputs))
        request = model.create_request()
        request.infer(inputs)
        assert request.wait() and request.status == rt.InferStatus.READY
        assert_matches(request.outputs, onnx_reference(inputs))
        assert model.profile(repeat=3, warmup=1).as_json()["repeat"] == 3


def test_a_corrupt_hybrid_plan_is_refused_clearly(hybrid_variant, tmp_path):
    import shutil

    folder = tmp_path / "hybrid"
    shutil.copytree(hybrid_variant, folder)
    (folder / "hybrid.zip").write_bytes(b"not a plan")
    with pytest.raises(rt.ContainerError, match="hybrid.zip is corrupt"):
        rt.load_model(folder)
    assert isinstance(rt.load_model(folder, engine="onnxruntime"), rt.OnnxRuntimeModel)
