"""`farm tune` end to end on a two-kind Ray cluster: a short real tune, a re-run that measures nothing, a sibling model that measures only its new layers."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import onnx
import pytest

from farm.models.examples import resnet_cnn
from farm.tuning.fidelity import QUIET
from tuning_db import TuningDatabase

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

TINY = {"size": 8, "width": 4, "blocks": 0}  # two convolutions and a classifier: 5 tuning tasks (9 with a block)


def farm(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["farm", *args], capture_output=True, text=True, timeout=900, check=False)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, farm_cluster):
    root = tmp_path_factory.mktemp("tune")
    onnx.save(resnet_cnn(**TINY), str(root / "tiny.onnx"))
    onnx.save(resnet_cnn(**TINY, classes=5, seed=1), str(root / "sibling.onnx"))
    return root, farm_cluster.cluster.address


def tune(workspace, model: str, kinds: str, out: str) -> dict:
    root, address = workspace
    proc = farm(
        "tune",
        str(root / model),
        "--target",
        kinds,
        "--trials",
        "64",
        "--trials-per-task",
        "3",
        "--done-after",
        "1",
        "--address",
        address,
        "--db",
        str(root / "db"),
        "--out",
        str(root / out),
        "--json",
    )
    return json.loads(proc.stdout)["targets"]


def test_a_short_real_tune_gives_a_verified_variant(workspace):
    # one kind: `farm tune` of two kinds is the variants fixture's (tests/farm/conftest.py), searching two the workflows'
    targets = tune(workspace, "tiny.onnx", "x86-64-v3", "first")
    assert list(targets) == ["x86-64-v3"]
    for kind, t in targets.items():
        assert t["tasks"] > 0 and t["tasks_tuned"] == t["tasks"] and 0 < t["trials_measured"] <= 3 * t["tasks"]
        assert t["agrees"] and t["max_abs_diff"] < 1e-3 and t["tvm_latency_ms"] > 0 and t["ort_latency_ms"] > 0
        meta = json.loads(Path(t["variant_dir"], "metadata.json").read_text())
        assert meta["kind"] == kind and meta["target"]["mcpu"] == kind and meta["inputs"][0]["shape"] == [1, 3, 8, 8]
        assert os.path.getsize(os.path.join(t["variant_dir"], "model.so")) > 0
        profile = t["profile"]
        assert profile["wall_seconds"] > 0 and profile["build_seconds"] > 0
        assert profile["search_seconds"] > 0 and profile["cost_model_seconds"] > 0
        # measurements are collected as they return: the search waits on one only if it asks before it is over (or never)
        assert profile["measure_seconds"] < profile["wall_seconds"]
        assert 0 < t["cost_model"]["saved"]["samples"] <= t["trials_measured"]
        hybrid = t["hybrid"]  # every kernel timed in both engines on a node of the kind, and planned on the faster
        assert "error" not in hybrid, hybrid["error"]
        assert hybrid["kernels"] and all(k["tvm_us"] > 0 and k["onnxruntime_us"] > 0 for k in hybrid["kernels"])
        assert hybrid["kernels_per_engine"]["tvm"] + hybrid["kernels_per_engine"]["onnxruntime"] == len(
            hybrid["kernels"]
        )
        assert (
            ("hybrid" in t["engines"])
            == hybrid["built"]
            == (os.path.exists(os.path.join(t["variant_dir"], "hybrid.zip")))
        )
        assert meta["hybrid"] == hybrid and t["engine"] in t["engines"]
        fidelity = t["fidelity"]  # the best of each task measured again on a quiet device, committed with their origin
        assert (
            0 < fidelity["tasks"] <= t["tasks_tuned"]
            and 2 * fidelity["tasks"] <= fidelity["measured"] <= 3 * fidelity["tasks"]
        )
        # a new pick is strictly faster, but its figures are rounded (to 0.01 µs and a ratio to 3 places), so they can tie
        assert all(c["gain"] >= 1 and c["new_pick_us"] <= c["search_pick_us"] for c in fidelity["changes"])
        assert fidelity["pick_changed"] == len(fidelity["changes"])
        records = TuningDatabase(str(workspace[0] / "db")).view(t["target_key"]).records()
        quiet = [r for r in records if r.measure_json and json.loads(r.measure_json).get("fidelity")]
        assert len(quiet) == fidelity["measured"] and all(
            json.loads(r.measure_json)["settings"] == QUIET.as_json() for r in quiet
        )


def test_a_second_tune_of_the_same_model_measures_nothing(workspace):
    t = tune(workspace, "tiny.onnx", "x86-64-v3", "again")["x86-64-v3"]
    assert t["trials_measured"] == 0 and t["tasks_tuned"] == 0 and t["trials_reused"] >= t["tasks"]
    assert t["agrees"]


def test_a_sibling_model_measures_only_its_new_layers_with_the_cost_model_of_the_first(workspace):
    t = tune(workspace, "sibling.onnx", "x86-64-v3", "sibling")["x86-64-v3"]
    assert 0 < t["tasks_tuned"] < t["tasks"]
    assert t["trials_measured"] <= 3 * t["tasks_tuned"]
    assert t["cost_model"]["seeded_from_similar"] >= 1, "the new classifier layer starts from the first model's"
    pretrain = t["cost_model"]["pretrain"]
    assert pretrain["loaded_from"] and pretrain["loaded_samples"] > 0, (
        "the saved model of the first tune is the starting point"
    )
    assert pretrain["samples"] < t["cost_model"]["saved"]["samples"] <= pretrain["samples"] + t["trials_measured"]


def test_bad_models_fail_before_any_tuning(tmp_path):
    onnx.save(resnet_cnn(**TINY, dynamic_batch=True), str(tmp_path / "dynamic.onnx"))
    out = farm("tune", str(tmp_path / "dynamic.onnx"), "--db", str(tmp_path / "db"), check=False)
    assert out.returncode == 2 and "--input-shape input:N,3,8,8" in out.stderr
    (tmp_path / "corrupt.onnx").write_bytes(b"\x00not onnx")
    out = farm("tune", str(tmp_path / "corrupt.onnx"), "--db", str(tmp_path / "db"), check=False)
    assert out.returncode == 2 and "not a readable ONNX model" in out.stderr
