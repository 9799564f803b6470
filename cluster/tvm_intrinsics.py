"""Importing TVM's tensor intrinsics in 4 s instead of 14-25 s, in every process that builds or searches.

`tvm.s_tir.tensor_intrin` (imported by MetaSchedule's `TuneContext` and `default_build`)
parses 124 TVMScript functions at import time, and each `T.prim_func` decoration calls
`inspect.stack()`, which resolves the source file and module of every frame on the
stack: for frames without a file on disk (`<frozen importlib._bootstrap>`) that is a
scan of all of `sys.modules`, each time. That, not the parsing, is most of the import,
and every fresh build worker, search worker and cost-model server pays it.

`import_tensor_intrinsics()` imports the package with `inspect.stack` answering from the
frames and `linecache` alone: the same frames, file names, line numbers and code
context the parser reads (it looks at the decorator's source line, and at the frames'
locals), without the module lookups. The intrinsics registered are the same (checked
by `tests/cluster/test_tvm_intrinsics.py`).
"""

from __future__ import annotations

import inspect
import linecache
import sys
import threading

_LOCK = threading.Lock()


def _frame_stack(context: int = 1) -> list[inspect.FrameInfo]:
    """`inspect.stack()` of the caller, with at most one line of code context per frame and no module lookups."""
    stack = []
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        line = linecache.getline(code.co_filename, frame.f_lineno, frame.f_globals) if context > 0 else ""
        stack.append(
            inspect.FrameInfo(
                frame, code.co_filename, frame.f_lineno, code.co_name, [line] if line else None, 0 if line else None
            )
        )
        frame = frame.f_back
    return stack


def import_tensor_intrinsics() -> None:
    """Import `tvm.s_tir.tensor_intrin` (registering TVM's tensor intrinsics) if this process has not yet."""
    with _LOCK:  # a module is in sys.modules while it is being imported: check under the lock
        if "tvm.s_tir.tensor_intrin" in sys.modules:
            return
        stack, inspect.stack = inspect.stack, _frame_stack
        try:
            import tvm.s_tir.tensor_intrin  # noqa: F401 - importing registers the intrinsics
        finally:
            inspect.stack = stack
