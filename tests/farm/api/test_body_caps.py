"""Bodies bounded by route before they are read: the dashboard's forms take a small body, JSON routes a medium one and
only the upload routes the upload limit; an oversized declared body is answered 413 before any of it is sent (a
stranger's sign-in form, a read-only token's JSON), and a chunked one is cut off once it passes its route's cap."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import httpx
import pytest

from farm.api.settings import Settings

DECLARED = 400 << 20  # far over every cap but an upload's; never sent


def send_head(url: str, request_line: str, headers: dict[str, str]) -> bytes:
    """Send a request's head alone (its body is never sent) and read what the server answers."""
    parts = urlsplit(url)
    head = f"{request_line} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head.encode())
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


@pytest.fixture(scope="module")
def reader(server) -> str:
    return server.user("caps-reader@farm.test", read_only=True)[1]


@pytest.mark.parametrize(
    ("request_line", "content_type", "cap"),
    [
        ("POST /ui/login", "application/x-www-form-urlencoded", Settings().max_form_body_bytes),
        ("POST /api/v1/projects", "application/json", Settings().max_json_body_bytes),
    ],
    ids=["a-form-without-a-session", "json-with-a-read-only-token"],
)
def test_a_declared_oversize_is_refused_before_its_body_is_sent(server, reader, request_line, content_type, cap):
    headers = {"Content-Type": content_type, "Content-Length": str(DECLARED)}
    if request_line.startswith("POST /api"):
        headers["Authorization"] = f"Bearer {reader}"
    answer = send_head(server.url, request_line, headers)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:300]
    assert f"accepts up to {cap:,} bytes".encode() in answer


def test_a_chunked_json_body_is_cut_off_past_its_cap_and_one_within_it_goes_on(server, reader):
    cap = Settings().max_json_body_bytes
    auth = {"Authorization": f"Bearer {reader}", "Content-Type": "application/json"}

    def chunked(size: int):
        yield b'{"name": "'
        yield b"x" * size
        yield b'"}'

    over = httpx.post(f"{server.url}/api/v1/projects", content=chunked(cap + 1), headers=auth)
    assert over.status_code == 413 and f"accepts up to {cap:,} bytes" in over.json()["detail"]
    within = httpx.post(f"{server.url}/api/v1/projects", content=chunked(100), headers=auth)
    assert within.status_code == 403, "within the cap, the read-only token meets its role check as before"
