"""Winograd convolutions: a CPU variant computes its 3x3 stride-1 convolutions with F(4x4, 3x3), weights transformed at
compile time, agreeing with ONNX Runtime; MetaSchedule's CPU rules schedule them."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import tvm
from onnx import helper
from tvm import relax
from tvm.s_tir.meta_schedule import TuneContext
from tvm.s_tir.meta_schedule.relax_integration import extract_tasks

from cluster.devices import detect_kinds, kind_named
from cluster.tvm_intrinsics import import_tensor_intrinsics
from farm.models.onnx_import import from_proto, random_inputs
from farm.tuning.session import fused_module, relax_for
from farm.tuning.winograd import FUNCTION, LAYOUT_FREE, rewrite
from tests.conftest import ort_session
from tests.farm.rewrites import computes_on_constants_alone, constants_read, conv_model, functions_named, kernel_calls

import_tensor_intrinsics()  # the fast way, before MetaSchedule's design spaces ask for them under pytest's deep stack


def convolutions() -> onnx.ModelProto:
    """3 -> 8 (stays: 3 channels), 8 -> 16 (Winograd), 16 -> 16 strided (stays), 16 -> 16 1x1 (stays),
    16 -> 8 with asymmetric padding, a bias and ReLU (Winograd), over an odd-sized image (partial tiles)."""
    weights = {
        "w1": (8, 3, 3, 3),
        "w2": (16, 8, 3, 3),
        "w3": (16, 16, 3, 3),
        "w4": (16, 16, 1, 1),
        "w5": (8, 16, 3, 3),
        "b5": (8,),
    }
    nodes = [
        helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["c1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["c2", "w3"], ["c3"], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("Conv", ["c3", "w4"], ["c4"]),
        helper.make_node("Conv", ["c4", "w5", "b5"], ["c5"], pads=[0, 1, 2, 0]),
        helper.make_node("Relu", ["c5"], ["y"]),
    ]
    return conv_model(nodes, weights, [1, 3, 21, 19])


@pytest.fixture(scope="module")
def model():
    return from_proto(convolutions())


@pytest.fixture
def winograd_on(monkeypatch):
    """Off by default; turned on as `FARM_GRAPH_REWRITES` does."""
    monkeypatch.setenv("FARM_GRAPH_REWRITES", "fast_math,winograd")


def test_it_is_off_by_default(model):
    target = tvm.target.Target(kind_named("x86-64-v3", 2).target)
    assert not functions_named(relax_for(model, target)[0], FUNCTION)


def test_only_3x3_stride_1_convolutions_past_the_first_are_rewritten_on_cpu_only(model):
    mod, _ = model.relax
    target = tvm.target.Target(kind_named("x86-64-v3", 2).target)
    rewritten = rewrite(mod, target)
    assert len(functions_named(rewritten, FUNCTION)) == 2, "the 8 -> 16 and 16 -> 8 convolutions"
    assert rewritten["main"].script().count("R.nn.conv2d(") == 3, "the 3-channel, strided and 1x1 ones stay"
    assert all(LAYOUT_FREE not in rewritten[name].attrs for name in functions_named(rewritten, FUNCTION)), (
        "the weights are read as stored, not copied into another layout on every call"
    )
    gpu = tvm.target.Target(kind_named("cuda-sm80", 1).target)
    assert rewrite(mod, gpu) is mod


def test_weights_are_transformed_at_compile_time(model, winograd_on):
    calls = kernel_calls(model, tvm.target.Target(kind_named("x86-64-v3", 2).target))
    transformed = [c for c in calls if any([int(d) for d in list(a.ty.shape)[:2]] == [6, 6] for a in constants_read(c))]
    assert len(transformed) == 2, "each Winograd convolution reads its weights already transformed (6x6 per tile)"
    assert not any(map(computes_on_constants_alone, calls)), "no kernel computes on constants alone at run time"


def test_the_winograd_variant_agrees_with_onnx_runtime(model, winograd_on):
    kind = [k for k in detect_kinds() if k.platform == "cpu"][-1]
    target = tvm.target.Target(kind.target)
    mod, named = relax_for(model, target)
    assert functions_named(mod, FUNCTION)
    executable = relax.build(relax.transform.BindParams("main", named)(mod), target=target)
    inputs = random_inputs(model.inputs)
    got = relax.VirtualMachine(executable, tvm.cpu())["main"](tvm.runtime.tensor(inputs["x"])).numpy()
    (want,) = ort_session(model.proto.SerializeToString()).run(None, inputs)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_metaschedule_schedules_its_transforms_with_the_cpu_rules(model, winograd_on):
    target = tvm.target.Target(kind_named("x86-64-v3", 2).target)
    tasks = [
        t for t in extract_tasks(fused_module(*relax_for(model, target), target), target) if "winograd" in t.task_name
    ]
    assert len(tasks) == 2
    for task in tasks:
        context = TuneContext(mod=task.dispatched[0], target=target, space_generator="post-order-apply", num_threads=1)
        (space, *_) = context.generate_design_space()
        trace = str(space.trace)
        assert "data_pack" in trace and "inverse" in trace and "bgemm" in trace
