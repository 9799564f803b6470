"""Fixtures of the registry tests: a registry on SQLite and on PostgreSQL in a temporary data folder, tiny ONNX files,
a user."""

from __future__ import annotations

import onnx
import pytest
from onnx import TensorProto, helper

from farm.registry import Registry
from farm.registry.accounts import create_user


def tiny_onnx(path, batch: int | str = 1, width: int = 4, name: str = "tiny") -> str:
    """A valid one-node ONNX model (`x` → Relu → `y`) saved at `path`; returns the path as a string."""
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        name,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, width])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    onnx.save(model, str(path))
    return str(path)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def registry(request, tmp_path, monkeypatch):
    """A fresh registry in a temporary data folder: on SQLite (the default), then on the loopback PostgreSQL server."""
    monkeypatch.delenv("FARM_ARTIFACTS_URI", raising=False)
    if request.param == "sqlite":
        monkeypatch.delenv("FARM_REGISTRY_URL", raising=False)
    else:
        monkeypatch.setenv("FARM_REGISTRY_URL", request.getfixturevalue("postgres_server").new_database())
    reg = Registry.for_data_dir(str(tmp_path / "data"))
    yield reg
    reg.close()


@pytest.fixture
def onnx_file(tmp_path) -> str:
    return tiny_onnx(tmp_path / "tiny.onnx")


@pytest.fixture
def user_id(registry) -> str:
    with registry.session() as s:
        return create_user(s, "owner@example.com").id
