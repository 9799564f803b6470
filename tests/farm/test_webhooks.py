"""Webhooks: refused inside the network unless allowed, pinned to the checked address, signed, one deadline per delivery, off the request path."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import time

import httpx
import pytest

from farm.workflows.notify import (
    SIGNATURE_HEADER,
    WebhookPolicy,
    WebhookRefused,
    WebhookSender,
    deliver,
    post_webhook,
    resolve,
)
from tests.farm.api.server import LiveServer
from tests.farm.receivers import Receiver, Tarpit

INSIDE = [
    "http://127.0.0.1:8265/",  # Ray's job server
    "http://[::1]/",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://localhost:8000/hook",  # a name that resolves to loopback
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped IPv6
    "http://10.1.2.3/",
    "http://192.168.0.1/",
    "http://0.0.0.0/",
    "http://224.0.0.1/",
]
QUICK = WebhookPolicy(allow_private=True, deadline_s=1.5, attempts=3, backoff_s=0.05)


@pytest.mark.parametrize("url", INSIDE)
def test_destinations_inside_the_network_are_refused_unless_allowed(url):
    with pytest.raises(WebhookRefused, match="--allow-private-webhooks"):
        resolve(url, WebhookPolicy())
    assert resolve(url, WebhookPolicy(allow_private=True)).address


def test_the_request_goes_to_the_checked_address_with_the_host_name_kept():
    destination = resolve("http://localhost:9/a/b?c=1", WebhookPolicy(allow_private=True))
    assert destination.address in ("127.0.0.1", "::1") and destination.host == "localhost"
    assert (destination.port, destination.path) == (9, "/a/b?c=1")


def test_a_delivery_is_signed_with_the_secret_and_retried_after_failures():
    receiver = Receiver(statuses=(500, 503, 204))
    try:
        assert post_webhook(receiver.url, {"state": "completed"}, "s3cret", QUICK)
        assert len(receiver.got) == 3
        headers, body = receiver.got[-1]
        assert json.loads(body) == {"state": "completed"}
        assert headers[SIGNATURE_HEADER] == "sha256=" + hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
        assert headers["Host"] == f"127.0.0.1:{receiver.server.server_port}"
    finally:
        receiver.close()


def test_a_receiver_that_drips_its_answer_is_cut_off_at_the_deadline():
    tarpit = Tarpit()
    try:
        start = time.monotonic()
        error = deliver(tarpit.url, {"state": "failed"}, None, QUICK)
        took = time.monotonic() - start
        assert error == "no answer within 1.5 s"
        assert took < QUICK.deadline_s + 0.5
    finally:
        tarpit.close()


def test_the_sender_queues_deliveries_without_blocking_its_caller():
    tarpit, receiver = Tarpit(), Receiver()
    sender = WebhookSender(WebhookPolicy(allow_private=True, deadline_s=1.0, attempts=1))
    try:
        start = time.monotonic()
        sender.send(tarpit.url, {"n": 1}, None)
        sender.send(receiver.url, {"n": 2}, "k")
        assert time.monotonic() - start < 0.1
        sender.join()
        assert [json.loads(body) for _, body in receiver.got] == [{"n": 2}]
    finally:
        sender.close()
        tarpit.close()
        receiver.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = LiveServer(str(tmp_path_factory.mktemp("farm-data")))
    yield live
    live.stop()


def test_the_api_refuses_webhook_urls_inside_the_network(server):
    admin_id, admin_token = server.user("root@farm.test", admin=True)
    admin = httpx.Client(base_url=server.url + "/api/v1", headers={"Authorization": f"Bearer {admin_token}"})
    for url in INSIDE:
        answer = admin.patch(f"/users/{admin_id}", json={"webhook_url": url})
        assert answer.status_code == 422 and "--allow-private-webhooks" in answer.json()["detail"], url
        answer = admin.post("/workflows", json={"model_id": "0" * 32, "targets": ["x86-64"], "webhook_url": url})
        assert answer.status_code == 422 and "--allow-private-webhooks" in answer.json()["detail"], url
    assert admin.patch(f"/users/{admin_id}", json={"webhook_url": "https://hooks.example.com/farm"}).status_code == 200
    me = admin.get("/users/me").json()
    assert me["webhook_url"] == "https://hooks.example.com/farm" and len(me["webhook_secret"]) == 64
    assert "webhook_secret" not in admin.get("/users").json()[0], "only its user sees a secret"


def test_a_failed_delivery_is_logged_without_the_urls_path_or_query():
    """Receivers put their secrets in the path (`/hooks/T0/B0/XXXX`) or the query: the log names the host only."""
    with socket.socket() as closed:  # a loopback port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hooks/T0/s3cret-path?token=s3cret-query"
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("farm.workflows.notify")
    logger.addHandler(handler)
    try:
        assert not post_webhook(url, {"event": "test"}, None, WebhookPolicy(allow_private=True, attempts=1))
    finally:
        logger.removeHandler(handler)
    logged = " ".join(r.getMessage() for r in records)
    assert f"127.0.0.1:{port}" in logged and "s3cret" not in logged
