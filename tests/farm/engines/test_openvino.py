"""The OpenVINO engine: timed beside ONNX Runtime in f32, chosen, packaged without TVM, and run by the runtime with requests
and per-layer profiling, like every engine."""

from __future__ import annotations

import json
import shutil
import zipfile
from email.parser import Parser
from pathlib import Path

import numpy as np
import pytest

from farm import runtime as rt
from farm.engines import engine_named
from farm.engines.timing import time_engines
from farm.engines.variant import record_engines
from farm.packaging import build_wheel, candidate_from_folder, rank
from tests.conftest import ort_session

pytest.importorskip("openvino")

OLD_VARIANT = Path(__file__).parents[2] / "data" / "variant_3242147"


@pytest.fixture(scope="module")
def timed():
    onnx_model = (OLD_VARIANT / "model.onnx").read_bytes()
    session = ort_session(onnx_model)
    rng = np.random.default_rng(5)
    inputs = {i.name: rng.standard_normal(i.shape).astype(np.float32) for i in session.get_inputs()}
    samples = [inputs, {k: rng.standard_normal(v.shape).astype(np.float32) for k, v in inputs.items()}]
    check = time_engines(
        {"model.onnx": onnx_model},
        inputs,
        cores=2,
        engines=["onnxruntime", "openvino"],
        samples=samples,
        warmup=2,
        repeat=6,
        rounds=2,
        out_of_reach=None,  # OpenVINO's call costs more than ONNX Runtime's on a model this small: time it whatever
    )
    return check, inputs, session.run(None, inputs)


def test_openvino_is_timed_at_each_thread_count_in_explicit_f32_and_agrees(timed):
    check, _, _ = timed
    configs = [c for c in check.configs if c.engine == "openvino"]
    assert [c.label for c in configs] == [c.label for c in engine_named("openvino").configs(2)]
    assert {c.threads for c in configs} == {1, 2}
    assert all(c.settings["properties"]["INFERENCE_PRECISION_HINT"] == "f32" for c in configs)
    assert all(c.agrees and c.max_abs_diff < 1e-3 and c.stats.median_ms > 0 for c in configs), configs
    assert check.run["samples"] == 2 and check.precision == "exact"  # agreement measured on both samples


def test_an_openvino_variant_is_packaged_without_tvm_and_runs_in_the_runtime(timed, tmp_path):
    check, inputs, expected = timed
    folder = tmp_path / "x86-64"
    shutil.copytree(OLD_VARIANT, folder)
    record_engines(str(folder), check.with_engine("openvino"), {})
    (entry,) = rank([candidate_from_folder(str(folder), variant_id="v")])
    settings = entry["model_config"]["config"]["inference_settings"]
    assert entry["model_config"]["type"] == "OpenVINOModel" and settings["engine"] == "openvino"
    assert settings["properties"]["INFERENCE_PRECISION_HINT"] == "f32"

    with zipfile.ZipFile(build_wheel(str(folder), str(tmp_path / "wheel"))) as zf:
        info = Parser().parsestr(zf.read(next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))).decode())
        packaged = json.loads(zf.read(next(n for n in zf.namelist() if n.endswith("/model/metadata.json"))))
    assert [r.split("==")[0] for r in info.get_all("Requires-Dist")] == ["openvino", "numpy"]
    assert packaged["engine"] == "openvino" and "library" not in packaged

    with rt.load_model(folder) as model:
        assert type(model).__name__ == "OpenVinoModel" and model.threads == check.engines["openvino"].threads
        outputs = model.run(inputs)
        request = model.create_request()
        request.infer(list(inputs.values()))
        request.wait()
        profile = model.profile(repeat=3, warmup=1)
    for got in (list(outputs.values()), list(request.outputs.values())):
        assert all(np.allclose(a, b, atol=1e-4) for a, b in zip(got, expected))
    assert len(profile.model_durations_ns) == 3 and profile.layer_durations_ns
    assert all(len(ns) == 3 for ns in profile.layer_durations_ns.values())
