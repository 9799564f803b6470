"""The fast import of TVM's tensor intrinsics registers exactly what the stock import does."""

import json
import subprocess
import sys

_REGISTERED = """
import hashlib, json, sys
import tvm
from tvm.s_tir._tensor_intrin import TensorIntrin
registered = {}
register = TensorIntrin.register
def recording(name, desc, impl, override=False):
    registered[name] = hashlib.sha256((tvm.ir.save_json(desc) + tvm.ir.save_json(impl)).encode()).hexdigest()
    return register(name, desc, impl, override)
TensorIntrin.register = staticmethod(recording)
if sys.argv[1] == "fast":
    from cluster.tvm_intrinsics import import_tensor_intrinsics
    import_tensor_intrinsics()
    import_tensor_intrinsics()
else:
    import tvm.s_tir.tensor_intrin
import inspect
assert inspect.stack.__module__ == "inspect"
print(json.dumps(registered))
"""


def _registered(mode: str) -> dict[str, str]:
    out = subprocess.run([sys.executable, "-c", _REGISTERED, mode], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_fast_import_registers_the_same_intrinsics_as_the_stock_import():
    fast, stock = _registered("fast"), _registered("stock")
    assert len(stock) > 100
    assert fast == stock
