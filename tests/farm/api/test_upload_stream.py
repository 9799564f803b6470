"""Uploads received into one temporary file (no second copy), cut off at their deadline, and capped in number."""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
from urllib.parse import urlsplit

import httpx
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tests.farm.api.server import LiveServer
from tests.farm.api.test_token_gate import folder_bytes

WEIGHT = 8 * 1024 * 1024  # float32 values: a 32 MB model


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    server = LiveServer(str(tmp_path_factory.mktemp("data")), upload_deadline_s=2.0, max_concurrent_uploads=1)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def token(live) -> str:
    return live.user("up@farm.test")[1]


def start_upload(url: str, token: str, declared: int) -> socket.socket:
    """A multipart upload whose headers and file part's start are sent; the rest never comes."""
    parts = urlsplit(url)
    head = (
        f"POST /api/v1/models HTTP/1.1\r\nHost: {parts.netloc}\r\nAuthorization: Bearer {token}\r\n"
        f"Content-Type: multipart/form-data; boundary=b0undary\r\nContent-Length: {declared}\r\n\r\n"
    ).encode()
    body = b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="slow.onnx"\r\n\r\n' + b"\0" * 1000
    sock = socket.create_connection((parts.hostname, parts.port), timeout=30)
    sock.sendall(head + body)
    return sock


def answer(sock: socket.socket) -> bytes:
    got = b""
    try:
        while chunk := sock.recv(65536):
            got += chunk
    except ConnectionResetError:
        pass
    return got


def test_an_upload_is_written_once_to_the_temporary_folder(live, token, tmp_path, monkeypatch):
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    weight = numpy_helper.from_array(np.ones((WEIGHT,), dtype=np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])],
        "big",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [WEIGHT])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [WEIGHT])],
        [weight],
    )
    model = tmp_path / "big.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(model))
    size = os.path.getsize(model)
    peak, done = 0, threading.Event()

    def watch() -> None:  # the largest the temporary folder gets while the upload is received and checked
        nonlocal peak
        while not done.is_set():
            peak = max(peak, folder_bytes(str(spool)))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with open(model, "rb") as f:
            response = httpx.post(
                live.url + "/api/v1/models",
                headers={"Authorization": f"Bearer {token}"},
                files={"file": ("big.onnx", f)},
                timeout=120,
            )
    finally:
        done.set()
        watcher.join()
    assert response.status_code == 201, response.text
    assert size <= peak < 1.1 * size, (peak, size)  # one copy (FastAPI's spool and a route's copy made it two)
    assert folder_bytes(str(spool)) == 0


def test_an_upload_that_does_not_arrive_within_the_deadline_is_cut_off(live, token):
    stored, started = live.artifact_files(), time.monotonic()
    with start_upload(live.url, token, declared=10 << 20) as sock:
        got = answer(sock)
    assert got.startswith(b"HTTP/1.1 408"), got[:200]
    assert b"did not arrive whole within 2 s" in got and time.monotonic() - started < 10
    assert live.artifact_files() == stored


def test_uploads_beyond_the_cap_are_refused_while_the_slots_are_busy(live, token):
    slots = live.app.state.upload_slots
    with start_upload(live.url, token, declared=10 << 20) as sock:
        deadline = time.monotonic() + 10
        while slots.busy < 1:  # the first upload holds the one slot
            assert time.monotonic() < deadline, "the first upload never took its slot"
        refused = httpx.post(
            live.url + "/api/v1/models",
            headers={"Authorization": f"Bearer {token}"},
            files={"file": ("second.onnx", b"\0" * 100)},
            timeout=30,
        )
        assert refused.status_code == 503 and refused.headers["retry-after"] == "5"
        assert "uploads already" in refused.json()["detail"]
        assert answer(sock).startswith(b"HTTP/1.1 408")
    assert slots.busy == 0


def test_a_malformed_multipart_body_is_a_clear_400(live, token):
    """Found by the fuzz run: a part without headers made the parser raise, and the server answered 500."""
    body = b"--b0undary\r\nNone--b0undary--\r\n"
    response = httpx.post(
        live.url + "/api/v1/models",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "multipart/form-data; boundary=b0undary"},
        content=body,
    )
    assert response.status_code == 400 and "not a well-formed multipart body" in response.json()["detail"]
