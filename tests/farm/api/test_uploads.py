"""Model uploads: what a good one stores and serves back, and bad ones refused with a clear 4xx and nothing stored."""

from __future__ import annotations

import httpx
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from farm.api.app import FORM_ROOM_BYTES
from farm.registry import catalog
from tests.farm.api.server import LiveServer

LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = LiveServer(str(tmp_path_factory.mktemp("farm-data")), max_upload_bytes=LIMIT)
    yield live
    live.stop()


@pytest.fixture(scope="module")
def http(server):
    _, token = server.user("uploader@farm.test")
    with httpx.Client(
        base_url=server.url + "/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=60
    ) as client:
        yield client


def _upload(http: httpx.Client, filename: str, content: bytes, **fields: str) -> httpx.Response:
    return http.post("/models", data=fields, files={"file": (filename, content, "application/octet-stream")})


def test_upload_infers_inputs_and_serves_the_same_bytes(http, model_file):
    with open(model_file, "rb") as f:
        content = f.read()
    project = http.post("/projects", json={"name": "vision"}).json()
    created = _upload(
        http, "tiny.onnx", content, labels="cnn, small", project_id=project["id"], description="a tiny resnet"
    )
    assert created.status_code == 201, created.text
    model = created.json()
    assert model["name"] == "tiny" and model["labels"] == ["cnn", "small"] and model["project_id"] == project["id"]
    assert model["inputs"] == [{"name": "input", "dtype": "float32", "shape": [1, 3, 8, 8]}]
    assert model["outputs"][0]["shape"] == [1, 10]

    (variant,) = http.get(f"/models/{model['id']}/variants").json()
    assert (
        variant["kind"] == "original"
        and variant["artifact_name"] == "tiny.onnx"
        and variant["size_bytes"] == len(content)
    )
    download = http.get(f"/variants/{variant['id']}/download")
    assert download.status_code == 200 and download.content == content
    assert download.headers["content-disposition"] == 'attachment; filename="tiny.onnx"'


def _refused(server, http, status: int, *upload_args, **fields) -> str:
    before = (server.artifact_files(), _model_count(server))
    response = _upload(http, *upload_args, **fields)
    assert response.status_code == status, response.text
    assert (server.artifact_files(), _model_count(server)) == before
    return response.json()["detail"]


def _model_count(server) -> int:
    with server.registry.session() as s:
        return catalog.list_models(s)[1]


def test_a_file_that_is_not_onnx_is_refused(server, http):
    detail = _refused(server, http, 400, "notes.onnx", b"these are my notes, not a model")
    assert detail.startswith("notes.onnx is not a readable ONNX model")


def test_a_truncated_onnx_file_is_refused(server, http, model_file):
    with open(model_file, "rb") as f:
        content = f.read()
    detail = _refused(server, http, 400, "cut.onnx", content[: len(content) // 2])
    assert "cut.onnx" in detail and "/tmp" not in detail


@pytest.mark.parametrize("name", ["../escape", "a/b", "a\\b"])
def test_a_name_with_path_separators_is_refused(server, http, model_file, name):
    with open(model_file, "rb") as f:
        detail = _refused(server, http, 400, "tiny.onnx", f.read(), name=name)
    assert detail.startswith(f"model name {name!r} must not contain")


TOO_LARGE = f"the upload is too large: this server accepts models of up to {LIMIT:,} bytes"


@pytest.mark.parametrize(
    "size", [LIMIT + 1, LIMIT + FORM_ROOM_BYTES + 1], ids=["just-over", "declared-over-the-body-limit"]
)
def test_an_oversized_file_is_refused(server, http, size):
    assert _refused(server, http, 413, "big.onnx", b"\0" * size) == TOO_LARGE


def test_an_oversized_chunked_upload_is_cut_off_while_it_is_read(server, http):
    form = http.build_request("POST", "/models", files={"file": ("big.onnx", b"\0" * (LIMIT + FORM_ROOM_BYTES + 1))})
    body = form.read()
    chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))
    before = (server.artifact_files(), _model_count(server))
    response = http.post("/models", content=chunks, headers={"Content-Type": form.headers["Content-Type"]})
    assert response.status_code == 413 and response.json()["detail"] == TOO_LARGE
    assert (server.artifact_files(), _model_count(server)) == before


def test_an_upload_into_a_missing_project_is_a_404(server, http, model_file):
    with open(model_file, "rb") as f:
        detail = _refused(server, http, 404, "tiny.onnx", f.read(), project_id="0" * 32)
    assert detail == f"project {'0' * 32} not found"


def test_a_model_whose_parse_exceeds_the_memory_limit_is_refused_and_the_server_stays_up(tmp_path):
    """A 160 MB weight, read and checked under a 256 MiB address space (the server's `max_parse_memory_bytes`)."""
    weight = numpy_helper.from_array(np.zeros((40 * 1024 * 1024,), dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "heavy",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [40 * 1024 * 1024])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [40 * 1024 * 1024])],
        [weight],
    )
    path = tmp_path / "heavy.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    live = LiveServer(str(tmp_path / "data"), max_upload_bytes=512 << 20, max_parse_memory_bytes=256 << 20)
    try:
        _, token = live.user("heavy@farm.test")
        headers = {"Authorization": f"Bearer {token}"}
        with open(path, "rb") as f:
            response = httpx.post(
                live.url + "/api/v1/models", headers=headers, files={"file": ("heavy.onnx", f)}, timeout=120
            )
        assert response.status_code == 400, response.text
        assert response.json()["detail"] == "heavy.onnx could not be read within 0.25 GiB of memory"
        assert httpx.get(live.url + "/api/v1/health").json()["status"] == "ok"
        assert live.artifact_files() == set()
        assert httpx.get(live.url + "/api/v1/models", headers=headers).json()["total"] == 0
    finally:
        live.stop()
