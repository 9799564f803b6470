"""The runtime a deployed application uses: load a model folder, run it (synchronously or through requests), profile it.

```python
from farm import runtime as rt

model = rt.load_model("variants/x86-64-v3", threads=4)
outputs = model.run({"input": x})                 # dict name -> numpy array
request = model.create_request()
request.infer([x]); request.wait()                # asynchronous, one model's requests in order
print(model.profile(repeat=50).as_json())
```

Only the standard library, numpy and TVM are needed (the packages copy this package into
their wheels), and ONNX Runtime for a variant whose engine is ONNX Runtime
(`OnnxRuntimeModel`, same interface) or `hybrid` (`HybridModel`: TVM and ONNX Runtime
segments); `farm.runtime.remote` runs models on the farm's
device nodes through Ray.
"""

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
from .hybrid_model import HybridModel
from .local_info import DeviceInfo, HostInfo, get_local_info
from .model import Model, load_model
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
