"""The runtime a deployed application uses: load a model folder, run it (synchronously or through requests), profile it.

```python
from farm import runtime as rt

model = rt.load_model("variants/x86-64-v3", threads=4)
outputs = model.run({"input": x})                 # dict name -> numpy array
request = model.create_request()
request.infer([x]); request.wait()                # asynchronous, one model's requests in order
print(model.profile(repeat=50).as_json())
```

Only the standard library, numpy and the variant's engine are needed (the packages copy
this package into their wheels): `load_model` opens a folder through the runtime's engine
table (`farm.runtime.engines`), whose entries import their engine only when a variant of
it loads: TVM for `Model`, ONNX Runtime for `OnnxRuntimeModel`, both for `HybridModel`
(same interface). `farm.runtime.remote` runs models on the farm's device nodes through Ray.
"""

import importlib

from .errors import (
    ContainerError,
    DeviceError,
    InferError,
    InvalidArgumentError,
    ModelError,
    RemoteError,
    RequestError,
    RuntimeApiError,
    ShapeError,
    TypeMismatchError,
)
from .loading import load_model
from .local_info import DeviceInfo, HostInfo, get_local_info
from .ort_model import OnnxRuntimeModel
from .profiling import ProfileResult
from .request import InferRequest, InferStatus
from .tensors import TensorInfo

__all__ = [
    "ContainerError",
    "DeviceError",
    "DeviceInfo",
    "HostInfo",
    "HybridModel",
    "InferError",
    "InferRequest",
    "InferStatus",
    "InvalidArgumentError",
    "Model",
    "ModelError",
    "OnnxRuntimeModel",
    "ProfileResult",
    "RemoteError",
    "RequestError",
    "RuntimeApiError",
    "ShapeError",
    "TensorInfo",
    "TypeMismatchError",
    "get_local_info",
    "load_model",
]

_LAZY = {"HybridModel": ".hybrid_model", "Model": ".model"}  # the names whose module imports TVM


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
