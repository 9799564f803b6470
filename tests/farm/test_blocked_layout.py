"""Blocked convolutions: a CPU variant computes its plain convolutions in NCHW[x]c with weights packed at compile time, agreeing with ONNX Runtime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import tvm
from onnx import helper
from tvm import relax

from cluster.devices import detect_kinds, kind_named
from farm.models.onnx_import import from_proto, random_inputs
from farm.tuning.blocked_layout import block_size, rewrite
from farm.tuning.session import relax_for
from tests.conftest import ort_session
from tests.farm.rewrites import computes_on_constants_alone, constants_read, conv_model, functions_named, kernel_calls


def convolutions() -> onnx.ModelProto:
    """3 -> 16 (stays: 3 channels), 16 -> 32 strided with asymmetric padding (blocked), depthwise 32 (stays),
    32 -> 16 dilated with a bias and SiLU (blocked), over an odd-sized image."""
    weights = {"w1": (16, 3, 3, 3), "w2": (32, 16, 3, 3), "w3": (32, 1, 3, 3), "w4": (16, 32, 3, 3), "b4": (16,)}
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["c1", "w2"], ["c2"], strides=[2, 2], pads=[0, 1, 1, 0]),
        helper.make_node("Conv", ["c2", "w3"], ["c3"], group=32, pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["c3", "w4", "b4"], ["c4"], dilations=[2, 2], pads=[2, 2, 2, 2]),
        helper.make_node("Sigmoid", ["c4"], ["s4"]),
        helper.make_node("Mul", ["c4", "s4"], ["y"]),
    ]
    return conv_model(nodes, weights, [1, 3, 37, 29])


@pytest.fixture(scope="module")
def model():
    return from_proto(convolutions())


@pytest.fixture
def blocked_on(monkeypatch):
    """The rewrite is off by default (it did not win end to end); turned on as `FARM_GRAPH_REWRITES` does."""
    monkeypatch.setenv("FARM_GRAPH_REWRITES", "fast_math,blocked_layout")


def test_it_is_off_by_default_and_named_rewrites_are_checked(model, monkeypatch):
    target = tvm.target.Target(kind_named("x86-64-v3", 2).target)
    assert not functions_named(relax_for(model, target)[0], "_conv2d_nchwc")
    monkeypatch.setenv("FARM_GRAPH_REWRITES", "blocked_layout,nonsense")
    with pytest.raises(ValueError, match="nonsense"):
        relax_for(model, target)


def test_plain_convolutions_are_blocked_by_the_vector_width_on_cpu_only(model):
    mod, _ = model.relax
    avx2 = tvm.target.Target(kind_named("x86-64-v3", 2).target)
    avx512 = tvm.target.Target(kind_named("x86-64-v4", 2).target)
    assert (block_size(avx2), block_size(avx512)) == (8, 16)
    for target in (avx2, avx512):
        blocked = rewrite(mod, target)
        assert len(functions_named(blocked, "_conv2d_nchwc")) == 2, "the 16 -> 32 and 32 -> 16 convolutions"
        assert blocked["main"].script().count("R.nn.conv2d(") == 2, "the 3-channel and the depthwise convolutions stay"
    gpu = tvm.target.Target(kind_named("cuda-sm80", 1).target)
    assert rewrite(mod, gpu) is mod


def test_weights_are_packed_at_compile_time(model, blocked_on):
    calls = kernel_calls(model, tvm.target.Target(kind_named("x86-64-v3", 2).target))
    packed = [c for c in calls if any(len(a.ty.shape) == 6 for a in constants_read(c))]
    assert len(packed) == 2, "each blocked convolution reads its weights already packed (OIHW8i8o)"
    assert not any(map(computes_on_constants_alone, calls)), "no kernel computes on constants alone at run time"


def test_the_blocked_variant_agrees_with_onnx_runtime(model, blocked_on):
    kind = [k for k in detect_kinds() if k.platform == "cpu"][-1]
    target = tvm.target.Target(kind.target)
    mod, named = relax_for(model, target)
    assert functions_named(mod, "_conv2d_nchwc")
    executable = relax.build(relax.transform.BindParams("main", named)(mod), target=target)
    inputs = random_inputs(model.inputs)
    vm = relax.VirtualMachine(executable, tvm.cpu())
    got = vm["main"](tvm.runtime.tensor(inputs["x"])).numpy()
    (want,) = ort_session(model.proto.SerializeToString()).run(None, inputs)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
