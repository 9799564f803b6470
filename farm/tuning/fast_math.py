"""Fast math on CPU: the model's transcendental operators as vectorizable polynomials instead of a libm call per element.

Lowered as they are, `exp`, `sigmoid`, `tanh`, `erf` and `softmax` become LLVM's `exp`
(and friends) intrinsics, which LLVM turns into one scalar `expf` call per vector lane: a
vectorized, parallel SiLU (`x * sigmoid(x)`) over YOLOv8n's first activation (16x160x160)
took 614 us on this 2-core AVX-512 machine, against 58 us with TOPI's `fast_exp` (a
range-reduced polynomial) and 20 us for a plain multiply-add, with the same largest error
from float64 (1.1e-6). Every convolution of YOLOv8 ends in a SiLU, and its best tuned
kernels ran 3-4x slower than ONNX Runtime's, whose activations are vectorized polynomials
too.

`rewrite` replaces those operators with TOPI's fast versions before legalization, the way
Relax's own `FastMathTransform` does for `exp`, `erf`, `tanh` and `softmax`, plus
`sigmoid` (which that pass leaves alone, and which SiLU and Swish are made of). It applies
to CPU targets only: on CUDA these functions already map to fast hardware intrinsics. The
variant is verified against ONNX Runtime like any other (`farm.engines.timing`), so an
approximation that disagreed would never be chosen.
"""

from __future__ import annotations

import tvm
from tvm import te, topi
from tvm.relax import Call, Expr, PyExprMutator, expr_functor

from .graph_rewrite import mutate


def _fast_sigmoid(x: te.Tensor) -> te.Tensor:
    return topi.divide(1.0, topi.add(topi.fast_exp(topi.negative(x)), 1.0))


FAST = {  # Relax operator -> the arguments of `call_te` that compute it fast: a TE function, then its inputs and attributes
    "relax.exp": lambda call: (topi.fast_exp, call.args[0]),
    "relax.sigmoid": lambda call: (_fast_sigmoid, call.args[0]),
    "relax.tanh": lambda call: (topi.fast_tanh, call.args[0]),
    "relax.erf": lambda call: (topi.fast_erf, call.args[0]),
    "relax.nn.softmax": lambda call: (topi.nn.fast_softmax, call.args[0], call.attrs.axis),
}
FLOAT_TYPES = ("float32",)  # TOPI's fast functions are written for float32 (others keep the exact operator)


@expr_functor.mutator
class _FastMath(PyExprMutator):
    def visit_call_(self, call: Call) -> Expr:
        make = FAST.get(getattr(call.op, "name", ""))
        exact = make is None or getattr(call.ty, "dtype", None) not in FLOAT_TYPES
        call = super().visit_call_(call)
        return call if exact else self.builder_.call_te(*make(call))


def applies_to(target: tvm.target.Target) -> bool:
    """Whether fast math is used for `target`: CPU (LLVM) targets."""
    return target.kind.name == "llvm"


def rewrite(mod: tvm.IRModule, target: tvm.target.Target) -> tvm.IRModule:
    """`mod` with its float32 transcendental operators replaced by fast ones where `target` gains from it; else `mod`."""
    if not applies_to(target):
        return mod
    return mutate(mod, _FastMath(mod))
