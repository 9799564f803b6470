"""An engine is one module on each side of the wheel line: a toy engine, registered in the two tables and nowhere else,
is timed, ranked, packaged as a wheel that does not require TVM, and loaded by the runtime."""

from __future__ import annotations

import json
import shutil
import tarfile
import zipfile
from email.parser import Parser
from pathlib import Path

import cloudpickle
import numpy as np
import pytest

from farm import runtime as rt
from farm.engines import ENGINES
from farm.engines.timing import time_engines
from farm.engines.variant import record_engines
from farm.packaging import build_tarball, build_wheel, candidate_from_folder, rank
from farm.runtime.container import read_model_folder
from farm.runtime.engines import RUNTIME_ENGINES, RuntimeEngine
from tests.conftest import ort_session

from . import toy_engine

OLD_VARIANT = Path(__file__).parents[2] / "data" / "variant_3242147"  # a folder written by main at 3242147


@pytest.fixture()
def toy(monkeypatch):
    """The toy engine in the farm's engine table and the runtime's, for this test only."""
    monkeypatch.setitem(ENGINES, toy_engine.NAME, toy_engine.ToyEngine)
    monkeypatch.setitem(
        RUNTIME_ENGINES, toy_engine.NAME, RuntimeEngine(toy_engine.__name__, "onnx_model", "model.onnx")
    )
    cloudpickle.register_pickle_by_value(toy_engine)  # its timing worker gets the class itself
    yield toy_engine.ToyEngine()
    cloudpickle.unregister_pickle_by_value(toy_engine)


def test_a_toy_engine_is_timed_ranked_packaged_without_tvm_and_loaded(toy, tmp_path):
    folder = tmp_path / "x86-64"
    shutil.copytree(OLD_VARIANT, folder)
    onnx_model = (folder / "model.onnx").read_bytes()
    session = ort_session(onnx_model)
    rng = np.random.default_rng(3)
    inputs = {i.name: rng.standard_normal(i.shape).astype(np.float32) for i in session.get_inputs()}

    check = time_engines(
        {toy.artifact: onnx_model},
        inputs,
        cores=2,
        engines=["onnxruntime", "toy"],
        warmup=1,
        repeat=4,
        rounds=2,
        out_of_reach=None,  # the reference evaluator is far slower than ONNX Runtime: timed all the same
    )
    assert set(check.engines) == {"onnxruntime", "toy"} and check.engines["toy"].agrees
    assert [c.label for c in check.configs if c.engine == "toy"] == ["toy-reference"]
    check = check.with_engine("toy")  # as the farm records a choice (the reference evaluator is rarely the fastest)
    metadata = record_engines(str(folder), check, {"toy": onnx_model})
    assert metadata["engine"] == "toy" and metadata["engines"]["toy"]["config"] == "toy-reference"

    (entry,) = rank([candidate_from_folder(str(folder), variant_id="v")])
    assert entry["model_config"]["type"] == toy.model_type
    settings = entry["model_config"]["config"]["inference_settings"]
    assert settings["engine"] == "toy" and settings["evaluator"] == "reference"
    assert entry["model_config"]["config"]["model_path"].endswith("/model/model.onnx")

    wheel = Path(build_wheel(str(folder), str(tmp_path / "wheel")))
    with zipfile.ZipFile(wheel) as zf:
        info = Parser().parsestr(zf.read(next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))).decode())
        model_files = {n.rsplit("/", 1)[1] for n in zf.namelist() if "/model/" in n}
        packaged = json.loads(zf.read(next(n for n in zf.namelist() if n.endswith("/model/metadata.json"))))
    assert info.get_all("Requires-Dist") == [*toy.requirements(), "numpy"]
    assert model_files == {"metadata.json", "benchmark.json", "model.onnx"} and packaged["engine"] == "toy"
    assert "library" not in packaged

    with rt.load_model(folder) as model:
        assert isinstance(model, toy_engine.ToyModel)
        outputs = model.run(inputs)
    expected = session.run(None, inputs)
    assert list(outputs) == [o.name for o in session.get_outputs()]
    assert all(np.allclose(a, b, atol=1e-5) for a, b in zip(outputs.values(), expected))

    with tarfile.open(build_tarball(str(folder), str(tmp_path / "tar"))) as tar:
        names = tar.getnames()
    assert not any(n.endswith("model.so") for n in names) and any(n.endswith("/runtime/engines.py") for n in names)


def test_a_folder_written_by_the_previous_main_still_loads_packages_and_ranks(tmp_path):
    folder = tmp_path / "znver3"
    shutil.copytree(OLD_VARIANT, folder)
    metadata = json.loads((folder / "metadata.json").read_text())
    assert metadata["engine"] == "tvm" and {"library", "onnx_model"} <= set(metadata)
    session = ort_session(str(folder / "model.onnx"))
    inputs = {i.name: np.ones(i.shape, np.float32) for i in session.get_inputs()}
    with rt.load_model(folder, engine="onnxruntime") as model:  # portable: the TVM library is built for znver3
        outputs = model.run(inputs)
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(outputs.values(), session.run(None, inputs)))

    checked = read_model_folder(folder)
    assert checked.engine == "tvm" and checked.library.endswith("model.so")
    typed = checked.variant  # the typed metadata reads the old layout and writes it back unchanged, precision added
    again = typed.as_json()
    assert {k: v for k, v in again.items() if k != "engines"} == {k: v for k, v in metadata.items() if k != "engines"}
    assert again["engines"] == {n: {**e, "precision": "exact"} for n, e in metadata["engines"].items()}
    assert (
        checked.figures("tvm").threads == metadata["engines"]["tvm"]["threads"]
        and checked.figures("nope").threads is None
    )
    (entry,) = rank([candidate_from_folder(str(folder), variant_id="old")])
    assert entry["model_config"]["type"] == "TVMRelaxExecutable" and entry["metrics"]["agrees"]["value"] is True
    with zipfile.ZipFile(build_wheel(str(folder), str(tmp_path / "wheel"))) as zf:
        assert any(n.endswith("/model/model.so") for n in zf.namelist())
        assert not any(n.endswith("/model/model.onnx") for n in zf.namelist())
