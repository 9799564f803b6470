"""The graph-rewrite tests' models of convolutions, and what they inspect: functions by name, the kernels a model's fused
`main` calls, and the constants each one reads."""

from __future__ import annotations

import numpy as np
import onnx
import tvm
from onnx import TensorProto, helper, numpy_helper
from tvm import relax

from farm.models.onnx_import import OnnxModel
from farm.tuning.session import fused_module, relax_for


def conv_model(
    nodes: list[onnx.NodeProto], weights: dict[str, tuple[int, ...]], input_shape: list[int]
) -> onnx.ModelProto:
    """An opset-17 model of `nodes` from input `x` to output `y`, with random weights of the given shapes (seed 0)."""
    rng = np.random.default_rng(0)
    init = [numpy_helper.from_array(rng.standard_normal(s).astype(np.float32) * 0.2, n) for n, s in weights.items()]
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, input_shape)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    model = helper.make_model(
        helper.make_graph(nodes, "convolutions", [x], [y], initializer=init),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    model.ir_version = 10
    return onnx.shape_inference.infer_shapes(model)


def functions_named(mod: tvm.IRModule, prefix: str) -> list[str]:
    return [gv.name_hint for gv in mod.get_global_vars() if gv.name_hint.startswith(prefix)]


def kernel_calls(model: OnnxModel, target: tvm.target.Target) -> list[relax.Call]:
    """The `call_tir` calls of the model's `main`, lowered and fused as task extraction and compilation see it."""
    fused = fused_module(*relax_for(model, target), target)
    return [
        b.value
        for block in fused["main"].body.blocks
        for b in block.bindings
        if isinstance(b.value, relax.Call) and b.value.op.name == "relax.call_tir"
    ]


def constants_read(call: relax.Call) -> list[tvm.ir.expr.Constant]:
    return [a for a in call.args[1].fields if isinstance(a, tvm.ir.expr.Constant)]


def computes_on_constants_alone(call: relax.Call) -> bool:
    """Whether a kernel reads no variable: work that compilation should have folded."""
    return not any(isinstance(a, relax.Var) for a in call.args[1].fields)
