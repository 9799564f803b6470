"""Remote mode on a real Ray cluster (x86-64 ×2, x86-64-v3): models loaded on device nodes, run and profiled there."""

from __future__ import annotations

import numpy as np
import pytest

from farm import runtime as rt
from farm.runtime import remote
from tests.farm.runtime.conftest import assert_matches, random_inputs


@pytest.fixture(scope="module")
def session(farm_cluster):
    return remote.connect()


@pytest.fixture(scope="module")
def v3_model(session, tuned_variants):
    model = session.load_model(
        tuned_variants["kinds"]["x86-64-v3"], "x86-64-v3", engine="tvm"
    )  # per-layer profiles are TVM's
    yield model
    model.close()


def test_kinds_are_those_the_nodes_serve(session):
    assert {"x86-64", "x86-64-v3"} <= set(session.kinds())


def test_remote_model_runs_on_a_node_of_its_kind(v3_model, farm_cluster, tuned_variants, onnx_reference):
    assert v3_model.node_id in farm_cluster.node_ids("x86-64-v3")
    assert v3_model.input_names == ["input"] and v3_model.get_tensor("input").shape == (1, 3, 8, 8)
    assert v3_model.device.platform == "cpu" and v3_model.threads >= 1
    inputs = random_inputs(v3_model, seed=3)
    assert_matches(v3_model.run(inputs), onnx_reference(inputs))
    assert_matches(v3_model.run(list(inputs.values())), onnx_reference(inputs))


def test_remote_profile_is_measured_on_the_device_node(v3_model, farm_cluster):
    result = v3_model.profile(repeat=3, warmup=1)
    assert result.node_id in farm_cluster.node_ids("x86-64-v3")
    assert len(result.model_durations_ns) == 3 and result.layer_durations_ns
    assert result.as_json()["node_id"] == result.node_id


def test_remote_errors_keep_their_types(v3_model):
    with pytest.raises(rt.TypeMismatchError, match="float64"):
        v3_model.run({"input": np.zeros((1, 3, 8, 8), np.float64)})  # checked here
    with pytest.raises(rt.InvalidArgumentError, match="repeat must be"):
        v3_model.profile(repeat=0)  # raised on the device node


def test_a_kind_no_node_serves_is_a_device_error(session, tuned_variants):
    with pytest.raises(rt.DeviceError, match="'x86-64-v4'.*kinds served: x86-64, x86-64-v3"):
        session.load_model(tuned_variants["kinds"]["x86-64-v3"], "x86-64-v4")


def test_a_failed_remote_load_and_a_closed_model(session, tuned_variants):
    with pytest.raises(rt.InvalidArgumentError, match="threads"):
        session.load_model(tuned_variants["kinds"]["x86-64"], "x86-64", threads=0)
    model = session.load_model(tuned_variants["kinds"]["x86-64"], "x86-64", threads=1)
    assert model.threads == 1 and model.node_id
    model.close()
    model.close()  # a second close does nothing
    with pytest.raises(rt.RemoteError, match="closed"):
        model.run({"input": np.zeros((1, 3, 8, 8), np.float32)})
