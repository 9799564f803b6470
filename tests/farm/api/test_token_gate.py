"""Authentication before the body (issue 12 item 2): an upload without a valid token is refused before the server reads or spools it."""

from __future__ import annotations

import os
import socket
import tempfile
from urllib.parse import urlsplit

import pytest

DECLARED = 200 * 1000 * 1000  # a 200 MB upload, as declared
SENT = (
    64 << 10
)  # what the client sends before it waits for the answer: without the gate the server would wait for the rest


def folder_bytes(path: str) -> int:
    """Bytes of the files under `path`; a file removed while it is being counted counts as empty (a watcher reads the
    folder while the server writes and removes its spool files)."""
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.path.getsize(os.path.join(folder, name))
            except FileNotFoundError:
                pass
    return total


def upload_without_waiting(url: str, authorization: str | None) -> bytes:
    """POST a multipart model upload declaring 200 MB, send its first 64 KB, and read what the server answers."""
    parts = urlsplit(url)
    auth = f"Authorization: {authorization}\r\n" if authorization else ""
    head = (
        f"POST /api/v1/models HTTP/1.1\r\nHost: {parts.netloc}\r\n{auth}"
        f"Content-Type: multipart/form-data; boundary=b0undary\r\nContent-Length: {DECLARED}\r\n\r\n"
    ).encode()
    body = b'--b0undary\r\nContent-Disposition: form-data; name="file"; filename="big.onnx"\r\n\r\n' + b"\0" * SENT
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(head + body)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except ConnectionResetError:  # the server closed with the unread rest of the body in its buffer
            pass
    return answer


@pytest.mark.parametrize("authorization", [None, "Bearer not-a-token", "Basic dXNlcjpwYXNz"])
def test_an_upload_without_a_valid_token_is_refused_before_its_body_is_read(
    server, monkeypatch, tmp_path, authorization
):
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))  # where the multipart parser would spool the upload
    answer = upload_without_waiting(server.url, authorization)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    assert b"Bearer" in answer and (b"missing API token" in answer or b"token" in answer.lower())
    assert folder_bytes(str(spool)) < 1 << 20
    assert not server.artifact_files()
