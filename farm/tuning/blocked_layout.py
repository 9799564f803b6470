"""Blocked convolutions on CPU: each plain 2-D convolution computed in NCHW[x]c layout, its weights packed once at compile time.

In NCHW a convolution's innermost axis is the image width, so the vectorized loop of a
tuned schedule walks a row of pixels while the reduction strides over channels. Blocking
the channels by the vector width puts 16 output channels in one AVX-512 register, the
layout x86 kernel libraries (MLAS, oneDNN) and TVM's old x86 schedules compute in. On
this 2-core Zen 4, after 64 MetaSchedule trials each, YOLOv8n's heaviest convolution
with its SiLU (64 channels, 3x3, 40x40; weight 4 in the model) took 1036 us in NCHW,
1147 us in NHWC and 728 us blocked; the next one (weight 8) 286 us against 195 us.

End to end it did not win, so it is off by default (`FARM_GRAPH_REWRITES=fast_math,blocked_layout`
turns it on). YOLOv8n at 1,000 trials, two runs back to back (`scripts/bench_vs_ort.py
--models nudenet --budgets 1000 --rewrites fast_math`, then `fast_math,blocked_layout`): TVM 27.47 ->
26.06 ms while ONNX Runtime read 15.78 -> 14.66 ms in the same runs (TVM/ORT 0.575 ->
0.563), and the search slowed from 64 to 49 trials/min (blocked schedules have more
loops to mutate). Per kernel it won on the large early convolutions (model.1: 2528 ->
1637 us) and lost on others (model.21.m.0.cv2: 590 -> 913 us): at this budget the larger
search space costs about what the layout gains.

`rewrite` replaces every eligible `relax.nn.conv2d` (NCHW data, OIHW weights, one group,
input and output channels multiples of the block, float32) by one TE function: the input
blocked to NCHW[x]c, TOPI's `conv2d_NCHWc`, the output back to NCHW. The operators
around it are untouched, so nothing propagates and no extra kernel appears: the
function's pattern is a convolution's (`FuseOps` fuses the bias and activation after
it, as before), MetaSchedule inlines the input transform into the padded read and the
output one into the epilogue, and the model keeps its task count. (Blocking the tensors
between convolutions instead split each epilogue into a kernel of its own: YOLOv8n went
from 60 tasks to 81, and the convolutions alone ran 615 us and 172 us above.) The
weights' transform is a separate call on the bound constant, which `FoldConstant` packs
at compile time, so the variant stores them packed. The block is the target's fp32
vector width: 16 with AVX-512, else 8. Depthwise and grouped convolutions, and the first
one of an image model (3 input channels), stay as they were. CPU (LLVM) targets only.
"""

from __future__ import annotations

import tvm
from tvm import te, topi
from tvm.relax import Call, Expr, PyExprMutator, expr_functor
from tvm.target import codegen

from .graph_rewrite import mutate, plain_conv2d


def block_size(target: tvm.target.Target) -> int:
    """Channels per block: the target's fp32 vector width."""
    return 16 if codegen.llvm_cpu_has_features("avx512f", target) else 8


def applies_to(target: tvm.target.Target) -> bool:
    """Whether convolutions are blocked for `target`: CPU (LLVM) targets."""
    return target.kind.name == "llvm"


def _conv2d_nchwc(
    data: te.Tensor, weight: te.Tensor, strides: list[int], padding: list[int], dilation: list[int], layout: str
) -> te.Tensor:
    """NCHW data and packed weights in, NCHW out; blocked in between."""
    blocked = topi.layout_transform(data, "NCHW", layout)
    out = topi.nn.conv2d_NCHWc(blocked, weight, strides, padding, dilation, layout, layout, data.dtype)
    return topi.layout_transform(out, layout, "NCHW")


def _eligible(call: Call, block: int) -> bool:
    return (
        plain_conv2d(call) and int(call.args[0].ty.shape[1]) % block == 0 and int(call.args[1].ty.shape[0]) % block == 0
    )


@expr_functor.mutator
class _Blocked(PyExprMutator):
    def __init__(self, mod: tvm.IRModule, block: int) -> None:
        super().__init__(mod)
        self.block = block

    def visit_call_(self, call: Call) -> Expr:
        call = super().visit_call_(call)
        if not _eligible(call, self.block):
            return call
        b, attrs, emit = self.block, call.attrs, self.builder_
        weight = emit.emit(emit.call_te(topi.layout_transform, call.args[1], "OIHW", f"OIHW{b}i{b}o"))
        return emit.call_te(
            _conv2d_nchwc,
            call.args[0],
            weight,
            [int(s) for s in attrs.strides],
            [int(p) for p in attrs.padding],
            [int(d) for d in attrs.dilation],
            f"NCHW{b}c",
        )


def rewrite(mod: tvm.IRModule, target: tvm.target.Target) -> tvm.IRModule:
    """`mod` with its eligible convolutions blocked where `target` gains from it; else `mod`."""
    if not applies_to(target):
        return mod
    mutator = _Blocked(mod, block_size(target))
    with target:  # TOPI's conv2d_NCHWc asks for the current target
        return mutate(mod, mutator)
