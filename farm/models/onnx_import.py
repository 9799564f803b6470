"""ONNX import: validate a model, infer its inputs, freeze dynamic shapes, fold shape subgraphs, import into Relax.

Every problem is a `ModelImportError` with a message a user can act on:
- a file that is not ONNX, or fails `onnx.checker`, or uses an opset too new;
- a dynamic dimension (`-1`, empty, or symbolic like `batch`) without a value given
  with `--input-shape NAME:D0,D1,…`: the error names the input and every dynamic
  dimension at once;
- operators the Relax ONNX frontend has no converter for (`LSTM`, `GRU`, `Loop`, …),
  all named at once, and a `Pad` whose pads are computed at run time, which it
  cannot convert.

Exported models often compute shapes at run time (`Shape→Cast→Slice→Concat→Reshape`),
which the Relax importer rejects; with the input shapes frozen, ONNX Runtime's basic
graph optimizations fold those subgraphs to constants, and the folded model imports.
"""

from __future__ import annotations

import functools
import os
import tempfile
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import helper

MAX_OPSET = 23


class ModelImportError(ValueError):
    """An ONNX model the farm cannot import, and why."""


@dataclass(frozen=True)
class TensorInfo:
    """A model input or output: name, NumPy dtype, and shape (ints; strings for dynamic dimensions)."""

    name: str
    dtype: str
    shape: tuple

    @property
    def dynamic_dims(self) -> list[int]:
        return [i for i, d in enumerate(self.shape) if not isinstance(d, int)]

    def as_json(self) -> dict:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}


@dataclass
class OnnxModel:
    """A validated ONNX model with static input shapes, ready for Relax."""

    proto: onnx.ModelProto
    inputs: list[TensorInfo]
    outputs: list[TensorInfo]
    opset: int
    source: str = ""
    op_types: list[str] = field(default_factory=list)

    @functools.cached_property
    def relax(self):
        """`to_relax(self)`, imported once however many device kinds the model is tuned for."""
        return to_relax(self)


def tensor_info(value: onnx.ValueInfoProto) -> TensorInfo:
    """A graph input's or output's name, dtype and shape (dynamic dimensions by their names)."""
    t = value.type.tensor_type
    dtype = np.dtype(helper.tensor_dtype_to_np_dtype(t.elem_type)).name if t.elem_type else "float32"
    dims = []
    for i, d in enumerate(t.shape.dim):
        if d.HasField("dim_value") and d.dim_value > 0:
            dims.append(int(d.dim_value))
        else:
            dims.append(d.dim_param or f"?{i}")
    return TensorInfo(value.name, dtype, tuple(dims))


def graph_inputs(model: onnx.ModelProto) -> list[TensorInfo]:
    """The inputs a caller feeds (graph inputs that are not initializers)."""
    weights = {init.name for init in model.graph.initializer}
    return [tensor_info(v) for v in model.graph.input if v.name not in weights]


def parse_input_shapes(specs: list[str]) -> dict[str, tuple[int, ...]]:
    """`["x:1,3,224,224", "mask:1,128"]` → `{"x": (1, 3, 224, 224), "mask": (1, 128)}`."""
    shapes = {}
    for spec in specs:
        name, sep, dims = spec.rpartition(":")
        try:
            if not sep or not name:
                raise ValueError
            shape = tuple(int(d) for d in dims.split(","))
            if any(d <= 0 for d in shape):
                raise ValueError
        except ValueError:
            raise ModelImportError(
                f"--input-shape {spec!r}: expected NAME:D0,D1,… with positive integers, e.g. x:1,3,224,224"
            ) from None
        shapes[name] = shape
    return shapes


def load_onnx(path: str) -> onnx.ModelProto:
    """Read and check an ONNX file."""
    if not os.path.isfile(path):
        raise ModelImportError(f"{path}: no such file")
    try:
        model = onnx.load(path)
    except MemoryError:  # not the file's fault as such: the caller's limit (`farm.models.onnx_check`) says
        raise
    except Exception as e:  # noqa: BLE001 - protobuf raises many kinds of decode errors
        raise ModelImportError(f"{path} is not a readable ONNX model: {e}") from None
    if not model.graph.node:
        raise ModelImportError(f"{path} is not a readable ONNX model: its graph has no nodes")
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as e:
        raise ModelImportError(f"{path} fails ONNX validation: {str(e).splitlines()[0]}") from None
    opset = default_opset(model)
    if opset > MAX_OPSET:
        raise ModelImportError(f"{path} uses ONNX opset {opset}; the importer supports up to {MAX_OPSET}")
    return model


def default_opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 1)


def freeze_shapes(model: onnx.ModelProto, shapes: dict[str, tuple[int, ...]]) -> onnx.ModelProto:
    """A copy of `model` whose inputs have the static shapes given or declared; errors name every dynamic dimension left."""
    inputs = {i.name: i for i in graph_inputs(model)}
    unknown = sorted(set(shapes) - set(inputs))
    if unknown:
        raise ModelImportError(
            f"--input-shape names no input of the model: {', '.join(unknown)} (inputs: {', '.join(inputs)})"
        )
    missing = []
    for name, info in inputs.items():
        if name in shapes:
            given = shapes[name]
            if len(given) != len(info.shape) or any(isinstance(d, int) and d != g for d, g in zip(info.shape, given)):
                raise ModelImportError(
                    f"--input-shape {name}:{','.join(map(str, given))} does not fit the model's shape {list(info.shape)}"
                )
        elif info.dynamic_dims:
            dims = ", ".join(f"dimension {i} ({info.shape[i]!r})" for i in info.dynamic_dims)
            example = ",".join(str(d) if isinstance(d, int) else "N" for d in info.shape)
            missing.append(f"input {name!r} has dynamic {dims}; give it with --input-shape {name}:{example}")
    if missing:
        raise ModelImportError("; ".join(missing))
    frozen = onnx.ModelProto()
    frozen.CopyFrom(model)
    for value in frozen.graph.input:
        if value.name in shapes:
            for dim, size in zip(value.type.tensor_type.shape.dim, shapes[value.name]):
                dim.Clear()
                dim.dim_value = size
    _infer_output_shapes(frozen)
    return frozen


def _infer_output_shapes(model: onnx.ModelProto) -> None:
    """Outputs declared with symbolic dimensions (`batch`) get the static shapes the frozen inputs imply, in place."""
    symbolic = [v for v in model.graph.output if any(not d.HasField("dim_value") for d in v.type.tensor_type.shape.dim)]
    if not symbolic:
        return
    for value in symbolic:
        value.type.tensor_type.ClearField("shape")
    inferred = {v.name: v.type.tensor_type for v in onnx.shape_inference.infer_shapes(model).graph.output}
    for value in symbolic:
        if value.name in inferred and inferred[value.name].HasField("shape"):
            value.type.tensor_type.shape.CopyFrom(inferred[value.name].shape)


def fold_constants(model: onnx.ModelProto) -> onnx.ModelProto:
    """ONNX Runtime's basic graph optimizations (constant folding, shape subgraphs) applied to a static-shape model."""
    import onnxruntime as ort

    from ..runtime.ort_model import session_options

    with tempfile.TemporaryDirectory(prefix="farm-import-") as folder:
        src, out = os.path.join(folder, "in.onnx"), os.path.join(folder, "folded.onnx")
        onnx.save(model, src)
        options = session_options({})  # on the process's shared pool when a hybrid model made one
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = out
        try:
            ort.InferenceSession(src, options, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - ORT's errors are its own classes
            raise ModelImportError(f"ONNX Runtime cannot load the model: {e}") from None
        folded = onnx.load(out)
    # Before IR 4 every weight was also a graph input; ONNX Runtime drops the weights it folds
    # away but keeps their graph inputs. Only the inputs a caller feeds stay inputs (the
    # Relax importer would make a weight listed twice two parameters of one name).
    fed = {i.name for i in graph_inputs(model)}
    kept = [v for v in folded.graph.input if v.name in fed]
    del folded.graph.input[:]
    folded.graph.input.extend(kept)
    folded.ir_version = max(folded.ir_version, 4)
    return folded


def unsupported_operators(model: onnx.ModelProto, folded: bool = True) -> list[str]:
    """Every operator of the model the Relax frontend cannot convert, each with its reason.

    Whether a `Pad`'s pads are constants can only be told once shape subgraphs are folded
    (`folded`); the other checks need no shapes.
    """
    # TVM has no public list of the operators its ONNX importer converts: its own converter table is the truth
    from tvm.relax.frontend.onnx.onnx_frontend import _get_convert_map

    known = _get_convert_map()
    constants = {init.name for init in model.graph.initializer} | {
        o for n in model.graph.node if n.op_type == "Constant" for o in n.output
    }
    problems = set()
    for node in model.graph.node:
        if node.domain not in ("", "ai.onnx"):
            problems.add(f"{node.domain}.{node.op_type} (custom domain)")
        elif node.op_type not in known:
            problems.add(f"{node.op_type} (no Relax converter)")
        elif folded and node.op_type == "Pad" and len(node.input) > 1 and node.input[1] not in constants:
            problems.add("Pad (pads computed at run time)")
    return sorted(problems)


def prepare(path: str, input_shapes: dict[str, tuple[int, ...]] | None = None) -> OnnxModel:
    """Load, validate, freeze and fold an ONNX model; every error is a `ModelImportError`."""
    model = load_onnx(path)
    try:
        frozen = freeze_shapes(model, input_shapes or {})
    except ModelImportError as e:  # every problem at once: the operators can be checked without the shapes
        problems = unsupported_operators(model, folded=False)
        raise ModelImportError(f"{e}; {_operators_message(path, problems)}" if problems else str(e)) from None
    folded = fold_constants(frozen)
    problems = unsupported_operators(folded)
    if problems:
        raise ModelImportError(_operators_message(path, problems))
    return from_proto(folded, os.path.abspath(path))


def _operators_message(path: str, problems: list[str]) -> str:
    return f"{path}: operators the TVM importer cannot handle: {', '.join(problems)}"


def from_proto(proto: onnx.ModelProto, source: str = "") -> OnnxModel:
    """An `OnnxModel` of a proto whose shapes are static and whose operators TVM imports (a prepared model or a part of one)."""
    return OnnxModel(
        proto=proto,
        inputs=graph_inputs(proto),
        outputs=[tensor_info(v) for v in proto.graph.output],
        opset=default_opset(proto),
        source=source,
        op_types=sorted({n.op_type for n in proto.graph.node}),
    )


def to_relax(model: OnnxModel):
    """The model as a Relax IRModule with its weights detached: `(mod, params)` as `tune_relax` and `relax.build` take them."""
    from tvm import relax
    from tvm.relax.frontend.onnx import from_onnx

    shape_dict = {i.name: list(i.shape) for i in model.inputs}
    dtype_dict = {i.name: i.dtype for i in model.inputs}
    try:
        mod = from_onnx(
            model.proto, shape_dict=shape_dict, dtype_dict=dtype_dict, opset=model.opset, keep_params_in_input=True
        )
    except Exception as e:  # noqa: BLE001 - the frontend raises TVMError, ValueError, KeyError…
        raise ModelImportError(f"the Relax ONNX importer failed: {str(e).strip().splitlines()[-1]}") from None
    return relax.frontend.detach_params(mod)


def random_inputs(inputs: list[TensorInfo], seed: int = 0) -> dict[str, np.ndarray]:
    """Reproducible random input data for every input (uniform [0, 1) floats, small non-negative ints)."""
    rng = np.random.default_rng(seed)
    data = {}
    for info in inputs:
        if np.issubdtype(np.dtype(info.dtype), np.floating):
            data[info.name] = rng.random(info.shape, dtype=np.float64).astype(info.dtype)
        else:
            data[info.name] = rng.integers(0, 4, size=info.shape).astype(info.dtype)
    return data
