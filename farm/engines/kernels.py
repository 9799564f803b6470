"""A model's kernels as ONNX subgraphs: the units the hybrid engine assigns to TVM or to ONNX Runtime.

A kernel is one compute-heavy node (a convolution or a matrix product: `ANCHORS`) with
the light nodes that follow it in the graph's topological order up to the next heavy one
(bias, activation, residual add, pooling, reshapes). That is how both engines fuse: TVM's
FuseOps folds the elementwise tail into the convolution's task, ONNX Runtime folds it into
its Conv kernel, so a kernel's two timings compare like with like. Light nodes before the
first heavy node join the first kernel.

A contiguous run of kernels is cut out as an ONNX model of its own (`segment_model`):
its inputs are the tensors its nodes read that it does not produce (graph inputs or
earlier kernels' outputs), its outputs those it produces that a later node or the graph
reads, its weights the initializers it uses. Shapes come from ONNX shape inference on the
whole model (whose shapes the farm has frozen), so every cut is fully static.
"""

from __future__ import annotations

from dataclasses import dataclass

import onnx
from onnx import helper

ANCHORS = frozenset(
    {"Conv", "ConvTranspose", "ConvInteger", "QLinearConv", "MatMul", "MatMulInteger", "QLinearMatMul", "Gemm"}
)


@dataclass(frozen=True)
class Kernel:
    """Nodes `start` to `end - 1` of the graph, named after their first heavy node."""

    index: int
    start: int
    end: int
    name: str
    op_types: tuple[str, ...]

    def as_json(self) -> dict:
        return {
            "index": self.index,
            "name": self.name,
            "nodes": [self.start, self.end],
            "op_types": list(self.op_types),
        }


def split_kernels(model: onnx.ModelProto) -> list[Kernel]:
    """The kernels of `model`, in graph order (its nodes must be topologically sorted, as ONNX requires)."""
    nodes = list(model.graph.node)
    starts = [i for i, n in enumerate(nodes) if n.op_type in ANCHORS]
    if not starts:
        starts = [0] if nodes else []
    starts[0] = 0
    kernels = []
    for index, (start, end) in enumerate(zip(starts, [*starts[1:], len(nodes)])):
        anchor = next((n for n in nodes[start:end] if n.op_type in ANCHORS), nodes[start])
        name = anchor.name or f"{anchor.op_type}_{start}"
        kernels.append(Kernel(index, start, end, name, tuple(n.op_type for n in nodes[start:end])))
    return kernels


def _value_infos(model: onnx.ModelProto) -> dict[str, onnx.ValueInfoProto]:
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    graph = inferred.graph
    return {v.name: v for v in [*graph.input, *graph.value_info, *graph.output]}


class Segmenter:
    """Cuts contiguous runs of `model`'s kernels out as ONNX models (shape inference runs once, here)."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.model = model
        self.kernels = split_kernels(model)
        self.infos = _value_infos(model)
        self.initializers = {init.name: init for init in model.graph.initializer}
        self.graph_outputs = [o.name for o in model.graph.output]

    def io(self, first: int, last: int) -> tuple[list[str], list[str]]:
        """The input and output tensor names of kernels `first`..`last` (inclusive), in a stable order."""
        nodes = self.model.graph.node
        start, end = self.kernels[first].start, self.kernels[last].end
        produced: dict[str, None] = {}
        consumed: dict[str, None] = {}
        for node in nodes[start:end]:
            for name in node.input:
                if name and name not in produced and name not in self.initializers:
                    consumed[name] = None
            for name in node.output:
                if name:
                    produced[name] = None
        later = {name for node in nodes[end:] for name in node.input} | set(self.graph_outputs)
        return list(consumed), [name for name in produced if name in later]

    def segment_model(self, first: int, last: int) -> onnx.ModelProto:
        """Kernels `first`..`last` (inclusive) as an ONNX model of their own, with static shapes."""
        inputs, outputs = self.io(first, last)
        missing = [name for name in [*inputs, *outputs] if name not in self.infos]
        if missing:
            raise ValueError(
                f"ONNX shape inference gives no type for {', '.join(missing)}: the kernels cannot be cut out"
            )
        nodes = self.model.graph.node[self.kernels[first].start : self.kernels[last].end]
        used = {name for node in nodes for name in node.input}
        graph = helper.make_graph(
            list(nodes),
            f"{self.model.graph.name or 'model'}_k{first}_{last}",
            [self.infos[name] for name in inputs],
            [self.infos[name] for name in outputs],
            initializer=[init for name, init in self.initializers.items() if name in used],
        )
        segment = helper.make_model(graph, opset_imports=list(self.model.opset_import), producer_name="tuning-farm")
        segment.ir_version = self.model.ir_version
        return segment
