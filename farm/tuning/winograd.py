"""Winograd 3x3 convolutions on CPU: F(4x4, 3x3), its weights transformed once at compile time.

A 3x3 convolution computed directly costs 9 multiply-adds per output and input channel;
Winograd's F(4x4, 3x3) computes each 4x4 output tile from a 6x6 input tile with 36
(2.25x fewer), as a batch of 36 matrix products between the transformed input and the
transformed weights, plus cheap transforms in and out. TVM ships the compute (TOPI's
`conv2d_winograd_nchw`) and MetaSchedule's CPU rules for its transforms
(`s_tir.meta_schedule.cpu.conv2d_nchw_winograd_data_pack` and `_inverse`), but Relax's
default legalization never uses them.

On its 3x3 kernels it wins, end to end it did not, so it is off by default
(`FARM_GRAPH_REWRITES=fast_math,winograd` turns it on). SqueezeNet 1.0 at 300 trials, one
run each on this 2-core AVX-512 machine (`scripts/bench_vs_ort.py --models squeezenet
--budgets 300 --rewrites fast_math`, then `fast_math,winograd`): its eight 3x3 expand
convolutions (each with its ReLU and concat) ran 3.04x ONNX Runtime's time (geometric
mean, per kernel, timed on the device) and 2.10x with Winograd (from 2.13x to 1.01x on
the best one, 1.7-2.4x better on five of eight, 14-22 % worse on three); the model's TVM
variant went from 0.330 to 0.358 of ONNX Runtime's speed in the same runs, within this
machine's noise, while the search slowed from 51.2 to 25.3 trials per minute (a Winograd
task's design space schedules five stages), so other tasks got fewer good schedules in
the same time.

`rewrite` replaces every eligible `relax.nn.conv2d` (`graph_rewrite.plain_conv2d`: one
group, NCHW, OIHW, float32, static shapes; and 3x3, stride 1, no dilation, at least
`MIN_CHANNELS` input channels, so not an image model's first convolution) by TOPI's
Winograd compute on weights transformed by a separate call on the bound constant, which
`FoldConstant` computes at compile time. TOPI marks those weights layout-free, which
makes MetaSchedule's `RewriteLayout` copy them into a tiled layout inside the kernel on
every call (the farm's compilation does not split such copies out); the mark is dropped,
so the tuned schedule reads them as they are stored. CPU (LLVM) targets only.
"""

from __future__ import annotations

import tvm
from tvm import te, topi
from tvm.relax import Call, Expr, PyExprMutator, expr_functor

from .graph_rewrite import mutate, plain_conv2d

TILE = 4  # output tile edge: TOPI's public Winograd compute uses F(4x4, 3x3)
MIN_CHANNELS = 8
FUNCTION = "conv2d_winograd"  # the name of the rewritten convolutions' TIR functions
LAYOUT_FREE = "layout_free_buffers"


def applies_to(target: tvm.target.Target) -> bool:
    """Whether 3x3 convolutions are computed with Winograd for `target`: CPU (LLVM) targets."""
    return target.kind.name == "llvm"


def _eligible(call: Call) -> bool:
    if not plain_conv2d(call):
        return False
    attrs, (data, weight) = call.attrs, call.args
    return (
        [int(d) for d in list(weight.ty.shape)[2:]] == [3, 3]
        and [int(s) for s in attrs.strides] == [1, 1]
        and [int(d) for d in attrs.dilation] == [1, 1]
        and int(data.ty.shape[1]) >= MIN_CHANNELS
    )


def _transformed_weights(weight: te.Tensor) -> te.Tensor:
    """OIHW weights -> G w G^T per output and input channel, in the (6, 6, in, out) layout TOPI's Winograd compute reads.

    (TOPI's own `conv2d_winograd_weight_transform` fails in this TVM: it hands the tensor's dtype object to a memoized
    function that takes only strings.)"""
    _, _, g = topi.nn.winograd_transform_matrices(TILE, 3, str(weight.dtype))
    out_channels, in_channels = weight.shape[0], weight.shape[1]
    rh, rw = te.reduce_axis((0, 3), name="rh"), te.reduce_axis((0, 3), name="rw")
    return te.compute(
        (TILE + 2, TILE + 2, in_channels, out_channels),
        lambda eps, nu, ci, co: te.sum(weight[co, ci, rh, rw] * g[eps, rh] * g[nu, rw], axis=[rh, rw]),
        name="winograd_weights",
    )


def _conv2d(data: te.Tensor, weights: te.Tensor, padding: list[int]) -> te.Tensor:
    """The convolution over whole tiles: TOPI's compute reads past its padded input where the output's height or width
    is not a multiple of the tile, so the input gets zeros below and right up to whole tiles, and the output is cut back."""
    top, left, bottom, right = padding
    height, width = (int(d) + a + b - 2 for d, a, b in zip(data.shape[2:], (top, left), (bottom, right)))
    extra_h, extra_w = -height % TILE, -width % TILE
    padded = [top, left, bottom + extra_h, right + extra_w]
    out = topi.nn.conv2d_winograd_nchw(data, weights, 1, padded, 1, str(data.dtype), pre_computed=True)
    if not extra_h and not extra_w:
        return out
    return te.compute((*out.shape[:2], height, width), lambda n, c, h, w: out[n, c, h, w], name="conv2d_winograd_crop")


@expr_functor.mutator
class _Winograd(PyExprMutator):
    def visit_call_(self, call: Call) -> Expr:
        call = super().visit_call_(call)
        if not _eligible(call):
            return call
        emit = self.builder_
        weights = emit.emit(emit.call_te(_transformed_weights, call.args[1], primfunc_name_hint="winograd_weights"))
        padding = [int(p) for p in call.attrs.padding]
        return emit.call_te(_conv2d, call.args[0], weights, padding, primfunc_name_hint=FUNCTION)


def rewrite(mod: tvm.IRModule, target: tvm.target.Target) -> tvm.IRModule:
    """`mod` with its eligible 3x3 convolutions computed with Winograd where `target` is a CPU; else `mod`."""
    if not applies_to(target):
        return mod
    out = mutate(mod, _Winograd(mod))
    for gv, func in out.functions_items():
        if gv.name_hint.startswith(FUNCTION) and isinstance(func, tvm.tirx.PrimFunc) and LAYOUT_FREE in func.attrs:
            out[gv] = func.without_attr(LAYOUT_FREE)
    return out
