"""Fast math: a CPU variant computes sigmoid, exp, tanh, erf and softmax with TOPI's fast functions, agreeing with ONNX Runtime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import tvm
from onnx import TensorProto, helper
from tvm import relax

from cluster.devices import detect_kinds, kind_named
from farm.models.onnx_import import from_proto, random_inputs
from farm.tuning.fast_math import rewrite
from farm.tuning.session import relax_for
from tests.conftest import ort_session

SHAPE = [1, 8, 64]
OPS = ("Sigmoid", "Exp", "Tanh", "Erf", "Softmax")


def activations() -> onnx.ModelProto:
    """x -> every op of OPS in a chain (SiLU first, as YOLOv8 has it), each reading the last one's output scaled into range."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, SHAPE)
    tenth = helper.make_tensor("tenth", TensorProto.FLOAT, [], [0.1])
    nodes = [helper.make_node("Sigmoid", ["x"], ["s"]), helper.make_node("Mul", ["x", "s"], ["silu"])]
    last = "silu"
    for op in OPS[1:]:
        nodes += [
            helper.make_node("Mul", [last, "tenth"], [f"{op}_in"]),
            helper.make_node(op, [f"{op}_in"], [f"{op}_out"]),
        ]
        last = f"{op}_out"
    nodes.append(helper.make_node("Identity", [last], ["y"]))
    model = helper.make_model(
        helper.make_graph(nodes, "activations", [x], [y], initializer=[tenth]),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    model.ir_version = 10
    return model


def calls(mod: tvm.IRModule) -> str:
    return mod["main"].script()


@pytest.fixture(scope="module")
def model():
    return from_proto(activations())


def test_cpu_targets_get_fast_functions_and_gpu_targets_keep_the_exact_ones(model):
    mod, _ = model.relax
    assert all(f"R.{op}" in calls(mod) for op in ("sigmoid", "exp", "tanh", "erf", "nn.softmax"))
    cpu = tvm.target.Target(kind_named("x86-64-v3", 2).target)
    fast = rewrite(mod, cpu)
    assert not any(f"R.{op}(" in calls(fast) for op in ("sigmoid", "exp", "tanh", "erf", "nn.softmax"))
    assert [gv.name_hint for gv in fast.get_global_vars() if "fast" in gv.name_hint], (
        "the fast functions are TIR functions"
    )
    gpu = tvm.target.Target(kind_named("cuda-sm80", 1).target)
    assert rewrite(mod, gpu) is mod


def test_the_fast_variant_agrees_with_onnx_runtime(model):
    kind = [k for k in detect_kinds() if k.platform == "cpu"][-1]
    target = tvm.target.Target(kind.target)
    mod, named = relax_for(model, target)
    assert "R.sigmoid(" not in calls(mod)
    executable = relax.build(relax.transform.BindParams("main", named)(mod), target=target)
    inputs = random_inputs(model.inputs)
    inputs["x"] = (inputs["x"] - 0.5) * 40  # sigmoid and exp far into both tails
    vm = relax.VirtualMachine(executable, tvm.cpu())
    got = vm["main"](tvm.runtime.tensor(inputs["x"])).numpy()
    (want,) = ort_session(model.proto.SerializeToString()).run(None, inputs)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
