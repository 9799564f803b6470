"""What the graph rewrites (`fast_math`, `blocked_layout`, `winograd`) share: a mutator run over a module's Relax
functions, and the plain convolution the two convolution rewrites replace."""

from __future__ import annotations

import tvm
from tvm import relax
from tvm.relax import Call, PyExprMutator

CONV_TYPES = ("float32",)  # the convolutions the layout rewrites replace: their TOPI computes are written for float32


def mutate(mod: tvm.IRModule, mutator: PyExprMutator) -> tvm.IRModule:
    """`mod` with every Relax function passed through `mutator` (built on `mod`); other functions as they were."""
    for gv, func in mod.functions_items():
        if isinstance(func, relax.Function):
            mutator.builder_.update_func(gv, mutator.visit_expr(func))
    return mutator.builder_.get()


def plain_conv2d(call: Call) -> bool:
    """Whether `call` is a `relax.nn.conv2d` of one group, NCHW data, OIHW weights, float32, with static shapes."""
    if getattr(call.op, "name", "") != "relax.nn.conv2d":
        return False
    attrs = call.attrs
    data, weight = call.args
    return (
        attrs.groups == 1
        and attrs.data_layout == "NCHW"
        and attrs.kernel_layout == "OIHW"
        and attrs.out_layout == "NCHW"
        and getattr(call.ty, "dtype", None) in CONV_TYPES
        and data.ty.dtype == weight.ty.dtype == call.ty.dtype
        and all(isinstance(d, tvm.tirx.IntImm) for d in (*data.ty.shape, *weight.ty.shape))
    )
