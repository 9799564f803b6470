"""ONNX import: the example models import into Relax; bad, dynamic and unsupported models get errors a user can act on."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from farm.models.examples import EXAMPLES, resnet_cnn
from farm.models.onnx_import import ModelImportError, parse_input_shapes, prepare, random_inputs, to_relax
from tests.conftest import ort_session


def save(model: onnx.ModelProto, tmp_path, name: str = "model.onnx") -> str:
    path = str(tmp_path / name)
    onnx.save(model, path)
    return path


@pytest.mark.parametrize(
    "name,in_shape,out_shape",
    [
        ("resnet", (1, 3, 32, 32), (1, 10)),
        ("mobilenet", (1, 3, 32, 32), (1, 10)),
        ("transformer", (1, 32, 64), (1, 32, 64)),
    ],
)
def test_example_models_import_into_relax_with_their_weights(name, in_shape, out_shape, tmp_path):
    assert sorted(EXAMPLES) == ["mobilenet", "resnet", "transformer"]
    model = prepare(save(EXAMPLES[name](), tmp_path))
    assert [(i.name, i.shape) for i in model.inputs] == [("input", in_shape)]
    assert model.outputs[0].shape == out_shape
    mod, params = to_relax(model)
    assert "main" in [gv.name_hint for gv in mod.get_global_vars()]
    assert len(params["main"]) == len(model.proto.graph.initializer)
    session = ort_session(model.proto.SerializeToString())
    (out,) = session.run(None, random_inputs(model.inputs))
    assert out.shape == out_shape and np.isfinite(out).all()


def test_a_dynamic_dimension_needs_a_shape_and_the_error_says_which(tmp_path):
    path = save(resnet_cnn(dynamic_batch=True), tmp_path)
    with pytest.raises(
        ModelImportError,
        match=r"input 'input' has dynamic dimension 0 \('batch'\); give it with --input-shape input:N,3,32,32",
    ):
        prepare(path)
    assert prepare(path, parse_input_shapes(["input:4,3,32,32"])).inputs[0].shape == (4, 3, 32, 32)
    with pytest.raises(ModelImportError, match="does not fit"):
        prepare(path, parse_input_shapes(["input:4,3,16,16"]))
    with pytest.raises(ModelImportError, match="names no input"):
        prepare(path, parse_input_shapes(["image:1,3,32,32"]))
    with pytest.raises(ModelImportError, match="NAME:D0,D1"):
        parse_input_shapes(["input=1,3"])


def test_corrupt_and_missing_files_are_refused_clearly(tmp_path):
    (tmp_path / "bad.onnx").write_bytes(b"\x08\x07garbage that is not protobuf")
    with pytest.raises(ModelImportError, match="not a readable ONNX model"):
        prepare(str(tmp_path / "bad.onnx"))
    with pytest.raises(ModelImportError, match="no such file"):
        prepare(str(tmp_path / "missing.onnx"))


def test_unsupported_operators_are_all_named_at_once(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 4, 3])
    w = helper.make_tensor("w", TensorProto.FLOAT, [1, 12, 8], np.zeros(96, np.float32))
    r = helper.make_tensor("r", TensorProto.FLOAT, [1, 12, 3], np.zeros(36, np.float32))
    nodes = [
        helper.make_node("LSTM", ["x", "w", "r"], ["h"], hidden_size=3),
        helper.make_node("Celu", ["h"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=[w, r])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    with pytest.raises(
        ModelImportError,
        match=r"operators the TVM importer cannot handle: Celu \(no Relax converter\), LSTM \(no Relax converter\)",
    ):
        prepare(save(model, tmp_path))


def test_a_dynamic_input_and_an_unsupported_operator_are_reported_together(tmp_path):
    """Issue 14 item 8: once the user gave the missing shape, they must not learn only then that the model cannot import."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])
    model = helper.make_model(
        helper.make_graph([helper.make_node("Celu", ["x"], ["y"])], "g", [x], [y]),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    model.ir_version = 10
    path = save(model, tmp_path)
    with pytest.raises(
        ModelImportError,
        match=r"input 'x' has dynamic dimension 0 .*; .*operators the TVM importer cannot handle: Celu",
    ):
        prepare(path)
    with pytest.raises(ModelImportError, match=r"cannot handle: Celu") as given:
        prepare(path, parse_input_shapes(["x:2,4"]))
    assert "--input-shape" not in str(given.value)


def test_shape_computing_subgraphs_are_folded_before_import(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 12])
    starts = helper.make_tensor("starts", TensorProto.INT64, [1], [0])
    ends = helper.make_tensor("ends", TensorProto.INT64, [1], [1])
    minus1 = helper.make_tensor("minus1", TensorProto.INT64, [1], [-1])
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"]),
        helper.make_node("Slice", ["shape", "starts", "ends"], ["batch"]),
        helper.make_node("Concat", ["batch", "minus1"], ["new_shape"], axis=0),
        helper.make_node("Reshape", ["x", "new_shape"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=[starts, ends, minus1])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    prepared = prepare(save(model, tmp_path), parse_input_shapes(["x:2,3,4"]))
    assert "Shape" not in prepared.op_types
    to_relax(prepared)


def test_an_ir3_model_whose_weights_are_graph_inputs_has_only_its_real_input(tmp_path):
    """Model-zoo exports before IR 4 list every weight as a graph input too (some built by ConstantOfShape)."""
    model = resnet_cnn(size=8, width=4, blocks=1)
    shape_name = "conv_w_shape"
    model.graph.initializer.append(onnx.numpy_helper.from_array(np.array([4, 3, 3, 3], dtype=np.int64), shape_name))
    first_conv = next(n for n in model.graph.node if n.op_type == "Conv")
    generated = helper.make_node(
        "ConstantOfShape", [shape_name], ["generated_w"], value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.1])
    )
    model.graph.node.insert(0, generated)
    first_conv.input[1] = "generated_w"
    for init in model.graph.initializer:
        model.graph.input.append(helper.make_tensor_value_info(init.name, init.data_type, list(init.dims)))
    model.ir_version = 3
    prepared = prepare(save(model, tmp_path))
    assert [i.name for i in prepared.inputs] == ["input"]
    mod, _params = prepared.relax
    assert [p.name for p in mod["main"].params][:1] == ["input"]
