"""Completion and failure notifications: the workflow's JSON POSTed to a webhook URL, only where it may go.

A workflow notifies its own webhook URL if it has one, else its creator's (e-mail is out
of reach of a self-hosted farm; a webhook reaches chat tools and CI alike). A webhook
that fails is logged and never fails the workflow.

A webhook URL is chosen by a user, and the farm's server and drivers sit inside the
cluster, next to Ray's job server and dashboard (no auth on loopback), cloud metadata
endpoints and private services. So a URL is checked when it is set and again at each
delivery, after DNS resolution: every address its host resolves to must be global
(`WebhookPolicy.allow_private` lifts that, for an admin's own receivers), and the
request goes to the address that was checked, with the host name kept for the `Host`
header and TLS (so a DNS answer that changes between check and connect cannot redirect
it). A delivery has one deadline for the whole call (a receiver that drips its answer
is cut off), is retried a few times with backoff, and runs off the request path
(`WebhookSender`'s queue). Each body is signed with its creator's secret:
`X-Farm-Signature: sha256=<HMAC-SHA256 of the body, hex>`.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import queue
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from farm.registry.errors import InvalidInput

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Farm-Signature"


@dataclass(frozen=True)
class WebhookPolicy:
    """Where webhooks may go and how hard the farm tries."""

    allow_private: bool = (
        False  # loopback, private, link-local, ... destinations (`farm serve --allow-private-webhooks`)
    )
    deadline_s: float = 10.0  # for one whole delivery: resolve, connect, send, read the answer
    attempts: int = 3
    backoff_s: float = 1.0  # before the second attempt; doubled before each next one


DEFAULT_WEBHOOKS = WebhookPolicy()


class WebhookRefused(InvalidInput):
    """A webhook URL whose destination the farm may not reach."""


class WebhookUnresolved(WebhookRefused):
    """A webhook URL whose host does not resolve (now)."""


@dataclass(frozen=True)
class Destination:
    scheme: str
    host: str
    port: int
    path: str
    address: str  # the checked address the request goes to


def _forbidden(address: str) -> str | None:
    """Why `address` is not a place for webhooks, or None when it is global."""
    ip = ipaddress.ip_address(address.split("%")[0])
    mapped = getattr(ip, "ipv4_mapped", None) or getattr(ip, "sixtofour", None)
    if mapped is not None:
        return _forbidden(str(mapped))
    for what in ("loopback", "private", "link_local", "multicast", "unspecified", "reserved"):
        if getattr(ip, f"is_{what}"):
            return what.replace("_", "-")
    return None if ip.is_global else "not global"


def resolve(url: str, policy: WebhookPolicy) -> Destination:
    """The destination of `url`, every address of its host checked against `policy`; `WebhookRefused` if it may not go there."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRefused(f"webhook URL {url!r} must be an http:// or https:// URL with a host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (ValueError, OSError) as e:
        raise WebhookUnresolved(f"webhook URL {url!r}: its host does not resolve ({e})") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not policy.allow_private:
        for address in addresses:
            if reason := _forbidden(address):
                raise WebhookRefused(
                    f"webhook URL {url!r} leads to {address}, a {reason} address; webhooks go to public addresses "
                    "unless the server runs with --allow-private-webhooks"
                )
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Destination(parts.scheme, parts.hostname, port, path, addresses[0])


def check_webhook_destination(url: str | None, policy: WebhookPolicy) -> None:
    """Refuse, when it is set, a webhook URL that `policy` does not let the farm reach (`WebhookRefused`, a 422).

    A host that does not resolve from the server is let through (it may resolve where and
    when the delivery runs, and is checked again there).
    """
    if url:
        try:
            resolve(url, policy)
        except WebhookUnresolved:
            pass


def sign(body: bytes, secret: str) -> str:
    """The `X-Farm-Signature` value of `body` under `secret`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to a checked address, with the URL's host name for SNI and certificate verification."""

    def __init__(self, destination: Destination, timeout: float) -> None:
        self.tls = ssl.create_default_context()
        super().__init__(destination.address, destination.port, timeout=timeout, context=self.tls)
        self.server_name = destination.host

    def connect(self) -> None:
        http.client.HTTPConnection.connect(self)
        self.sock = self.tls.wrap_socket(self.sock, server_hostname=self.server_name)


def _cut(connection: http.client.HTTPConnection) -> None:
    if connection.sock is not None:
        try:
            connection.sock.shutdown(socket.SHUT_RDWR)  # wakes a read blocked on a dripping receiver
        except OSError:
            pass


def deliver(url: str, payload: dict, secret: str | None, policy: WebhookPolicy) -> str | None:
    """One attempt to POST `payload` to `url` within `policy.deadline_s`; None on a 2xx answer, else what went wrong."""
    start = time.monotonic()
    try:
        destination = resolve(url, policy)
    except WebhookRefused as e:
        return e.message
    body = json.dumps(payload).encode()
    host = destination.host if ":" not in destination.host else f"[{destination.host}]"
    default_port = destination.port == (443 if destination.scheme == "https" else 80)
    headers = {
        "Host": host if default_port else f"{host}:{destination.port}",
        "Content-Type": "application/json",
        "User-Agent": "farm-webhook",
    }
    if secret:
        headers[SIGNATURE_HEADER] = sign(body, secret)
    remaining = max(0.1, policy.deadline_s - (time.monotonic() - start))
    connection = (
        _PinnedHTTPS(destination, remaining)
        if destination.scheme == "https"
        else http.client.HTTPConnection(destination.address, destination.port, timeout=remaining)
    )
    watchdog = threading.Timer(remaining, _cut, args=(connection,))
    watchdog.start()
    try:
        connection.request("POST", destination.path, body=body, headers=headers)
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException) as e:
        late = time.monotonic() - start >= policy.deadline_s
        return f"no answer within {policy.deadline_s:g} s" if late else f"{type(e).__name__}: {e}"
    finally:
        watchdog.cancel()
        connection.close()
    return None if 200 <= status < 300 else f"answered {status}"


def redacted(url: str) -> str:
    """The URL as logs show it: scheme, host and port, never the path or query, where receivers put their secrets."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}/…"


def post_webhook(
    url: str, payload: dict, secret: str | None, policy: WebhookPolicy, *, stop: threading.Event | None = None
) -> bool:
    """Deliver with up to `policy.attempts` tries and backoff (cut short by `stop`); whether the receiver took it."""
    pause = stop or threading.Event()
    for attempt in range(policy.attempts):
        error = deliver(url, payload, secret, policy)
        if error is None:
            return True
        log.warning("webhook %s, attempt %d of %d: %s", redacted(url), attempt + 1, policy.attempts, error)
        if attempt + 1 == policy.attempts or pause.wait(policy.backoff_s * 2**attempt):
            break
    return False


class WebhookSender:
    """A delivery queue with one worker thread, so no request waits for a receiver."""

    def __init__(self, policy: WebhookPolicy) -> None:
        self.policy = policy
        self._queue: queue.Queue[tuple[str, dict, str | None] | None] = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhook-sender", daemon=True)
        self._thread.start()

    def send(self, url: str, payload: dict, secret: str | None) -> None:
        """Queue one delivery; returns at once."""
        self._queue.put((url, payload, secret))

    def _run(self) -> None:
        while (job := self._queue.get()) is not None:
            if not self._stop.is_set():
                post_webhook(*job, self.policy, stop=self._stop)
            self._queue.task_done()
        self._queue.task_done()

    def join(self) -> None:
        """Wait until every queued delivery has ended (delivered, refused or out of attempts)."""
        self._queue.join()

    def close(self) -> None:
        """Stop after the attempt in progress; what is still queued is dropped."""
        self._stop.set()
        self._queue.put(None)
        self._thread.join(timeout=self.policy.deadline_s + 1)
