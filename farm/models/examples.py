"""Example ONNX models the farm generates itself, with realistic structure and random weights.

- `resnet_cnn`: a ResNet-style CNN (stem conv, residual blocks of conv-relu-conv + skip,
  global average pool, classifier);
- `mobilenet_cnn`: a MobileNet-style CNN (depthwise-separable blocks: grouped 3×3 conv,
  1×1 pointwise conv, ReLU6 as Clip);
- `transformer_block`: a transformer encoder (multi-head self-attention, residuals,
  layer norms, a GELU feed-forward), input `(batch, seq, dim)`.

The CNNs take `input` of shape `(batch, 3, size, size)`; `batch` is a symbolic dimension
when `dynamic_batch` is set, so the import must be given a shape. Models are saved with
ONNX IR version 10 (ONNX Runtime here reads ≤ 13) and opset 17.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 10


class _Graph:
    """A tiny builder of ONNX graphs with random float32 weights."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.weights: list[onnx.TensorProto] = []
        self.count = 0

    def name(self, kind: str) -> str:
        self.count += 1
        return f"{kind}{self.count}"

    def weight(self, shape: tuple[int, ...], scale: float) -> str:
        name = self.name("w")
        self.weights.append(numpy_helper.from_array((self.rng.standard_normal(shape) * scale).astype(np.float32), name))
        return name

    def constant(self, value: float) -> str:
        name = self.name("c")
        self.weights.append(numpy_helper.from_array(np.array(value, dtype=np.float32), name))
        return name

    def node(self, op: str, inputs: list[str], **attrs) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def conv(self, x: str, cin: int, cout: int, k: int, stride: int = 1, group: int = 1) -> str:
        w = self.weight((cout, cin // group, k, k), (2.0 / (cin // group * k * k)) ** 0.5)
        b = self.weight((cout,), 0.01)
        return self.node(
            "Conv", [x, w, b], kernel_shape=[k, k], strides=[stride, stride], pads=[k // 2] * 4, group=group
        )

    def shape(self, dims: list[int]) -> str:
        name = self.name("shape")
        self.weights.append(numpy_helper.from_array(np.array(dims, dtype=np.int64), name))
        return name

    def model(self, x: str, out: str, batch: int | str, size: int, classes: int, name: str) -> onnx.ModelProto:
        return self.finish(x, [batch, 3, size, size], out, [batch, classes], name)

    def finish(self, x: str, in_shape: list, out: str, out_shape: list, name: str) -> onnx.ModelProto:
        graph = helper.make_graph(
            self.nodes,
            name,
            [helper.make_tensor_value_info(x, TensorProto.FLOAT, in_shape)],
            [helper.make_tensor_value_info(out, TensorProto.FLOAT, out_shape)],
            initializer=self.weights,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="tuning-farm")
        model.ir_version = IR_VERSION
        onnx.checker.check_model(model)
        return model

    def head(self, x: str, channels: int, classes: int) -> str:
        pooled = self.node("Flatten", [self.node("GlobalAveragePool", [x])], axis=1)
        return self.node(
            "Gemm", [pooled, self.weight((classes, channels), channels**-0.5), self.weight((classes,), 0.01)], transB=1
        )


def resnet_cnn(
    size: int = 32, width: int = 16, blocks: int = 2, classes: int = 10, dynamic_batch: bool = False, seed: int = 0
) -> onnx.ModelProto:
    """A ResNet-style CNN: stem, `blocks` residual blocks per stage, two stages, classifier."""
    g = _Graph(seed)
    x = g.node("Relu", [g.conv("input", 3, width, 3)])
    channels = width
    for stage in range(2):
        if stage:
            x = g.node("Relu", [g.conv(x, channels, channels * 2, 3, stride=2)])
            channels *= 2
        for _ in range(blocks):
            y = g.conv(g.node("Relu", [g.conv(x, channels, channels, 3)]), channels, channels, 3)
            x = g.node("Relu", [g.node("Add", [x, y])])
    return g.model("input", g.head(x, channels, classes), "batch" if dynamic_batch else 1, size, classes, "resnet_cnn")


def mobilenet_cnn(
    size: int = 32, width: int = 16, blocks: int = 3, classes: int = 10, dynamic_batch: bool = False, seed: int = 0
) -> onnx.ModelProto:
    """A MobileNet-style CNN of depthwise-separable blocks."""
    g = _Graph(seed)

    def relu6(v: str) -> str:
        return g.node("Clip", [v, g.constant(0.0), g.constant(6.0)])

    x = relu6(g.conv("input", 3, width, 3, stride=2))
    channels = width
    for i in range(blocks):
        x = relu6(g.conv(x, channels, channels, 3, stride=2 if i == 1 else 1, group=channels))
        x = relu6(g.conv(x, channels, channels * 2, 1))
        channels *= 2
    return g.model(
        "input", g.head(x, channels, classes), "batch" if dynamic_batch else 1, size, classes, "mobilenet_cnn"
    )


def transformer_block(
    seq: int = 32,
    dim: int = 64,
    heads: int = 4,
    ff: int = 256,
    layers: int = 1,
    dynamic_batch: bool = False,
    seed: int = 0,
) -> onnx.ModelProto:
    """A transformer encoder: per layer, multi-head self-attention and a GELU feed-forward, each with residual and layer norm."""
    g = _Graph(seed)
    head_dim = dim // heads

    def linear(v: str, cin: int, cout: int) -> str:
        return g.node("Add", [g.node("MatMul", [v, g.weight((cin, cout), cin**-0.5)]), g.weight((cout,), 0.01)])

    def norm(v: str) -> str:
        return g.node("LayerNormalization", [v, g.weight((dim,), 0.1), g.weight((dim,), 0.01)], axis=-1, epsilon=1e-5)

    def split_heads(v: str) -> str:
        return g.node("Transpose", [g.node("Reshape", [v, g.shape([0, seq, heads, head_dim])])], perm=[0, 2, 1, 3])

    def gelu(v: str) -> str:
        erf = g.node("Erf", [g.node("Mul", [v, g.constant(2**-0.5)])])
        return g.node("Mul", [g.node("Mul", [v, g.constant(0.5)]), g.node("Add", [erf, g.constant(1.0)])])

    x = "input"
    for _ in range(layers):
        q, k, v = (split_heads(linear(x, dim, dim)) for _ in range(3))
        scores = g.node(
            "Mul", [g.node("MatMul", [q, g.node("Transpose", [k], perm=[0, 1, 3, 2])]), g.constant(head_dim**-0.5)]
        )
        attended = g.node("MatMul", [g.node("Softmax", [scores], axis=-1), v])
        merged = g.node("Reshape", [g.node("Transpose", [attended], perm=[0, 2, 1, 3]), g.shape([0, seq, dim])])
        x = norm(g.node("Add", [x, linear(merged, dim, dim)]))
        x = norm(g.node("Add", [x, linear(gelu(linear(x, dim, ff)), ff, dim)]))
    batch = "batch" if dynamic_batch else 1
    return g.finish("input", [batch, seq, dim], x, [batch, seq, dim], "transformer_block")


EXAMPLES = {"resnet": resnet_cnn, "mobilenet": mobilenet_cnn, "transformer": transformer_block}
