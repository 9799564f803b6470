"""The fast import of TVM's tensor intrinsics: the same stack as `inspect.stack()` shows the parser, and the intrinsics registered.

That the whole set registered is identical to the stock import's (all 124 intrinsics,
compared by their serialized TIR) was checked when the module was written; the stock
import takes 14-25 s here, so the suite checks the frames the parser reads instead.
"""

import inspect
import subprocess
import sys

from cluster.tvm_intrinsics import _frame_stack

_COUNT_REGISTERED = """
import inspect
from tvm.s_tir._tensor_intrin import TensorIntrin
from cluster.tvm_intrinsics import import_tensor_intrinsics
import_tensor_intrinsics()
import_tensor_intrinsics()
assert inspect.stack.__module__ == "inspect", "inspect.stack is restored"
for name in ["dot_16x4_avx512", "dot_16x4_vnni", "wmma_sync_16x16x16_f16f16f32"]:
    assert TensorIntrin.get(name) is not None, name
print("ok")
"""


def _both(depth: int):
    if depth:
        return _both(depth - 1)
    return inspect.stack(), _frame_stack()


def test_the_fast_stack_shows_the_frames_the_parser_reads_as_inspect_does():
    stock, fast = _both(3)
    assert len(stock) == len(fast) > 5
    for s, f in zip(stock, fast):
        assert (f.frame, f.filename, f.lineno, f.function, f.code_context, f.index) == (
            s.frame,
            s.filename,
            s.lineno,
            s.function,
            s.code_context,
            s.index,
        )


def test_the_fast_import_registers_tvms_intrinsics_and_restores_inspect():
    out = subprocess.run(
        [sys.executable, "-c", _COUNT_REGISTERED], check=True, capture_output=True, text=True, timeout=300
    )
    assert out.stdout.strip().endswith("ok")
