"""A real farm API server on a free loopback port (uvicorn in a thread), users with tokens, and a tiny ONNX model."""

from __future__ import annotations

import os
import socket
import threading
import time

import onnx
import uvicorn

from farm.api import create_app
from farm.api.settings import Settings
from farm.models.examples import resnet_cnn
from farm.registry import Registry, accounts


class RecordingWorkflows:
    """A workflow service that records what the API tells it; the API is under test, not the service."""

    def __init__(self) -> None:
        self.submitted: list[str] = []
        self.cancelled: list[str] = []
        self.recovered = 0
        self.offer_checks: list[float] = []

    def submit(self, workflow_id: str) -> None:
        self.submitted.append(workflow_id)

    def cancel(self, workflow_id: str) -> None:
        self.cancelled.append(workflow_id)

    def targets(self) -> list[dict]:
        return [{"name": "x86-64-v3", "platform": "cpu", "target": {"kind": "llvm", "mcpu": "haswell"}, "nodes": 2}]

    def cluster(self) -> dict:
        return {"nodes": [], "ray_dashboard": None}

    def check_offers(self, threshold: float) -> list[str]:
        self.offer_checks.append(threshold)
        return []

    def tuning_database(self) -> dict:
        return {
            "uri": "memory",
            "version": 0,
            "records": 0,
            "workloads": 0,
            "files": 0,
            "bytes": 0,
            "targets": {},
            "largest": [
                {
                    "workload_key": "a" * 64,
                    "task_name": "fused_conv2d_add_relu",
                    "flops": 1.0e9,
                    "records": 3,
                    "first_model": "another-tenants-model",
                }
            ],
        }

    def recover(self) -> None:
        self.recovered += 1


class LiveServer:
    """`create_app` over the registry of `data_dir` under `Settings(**settings)`, served by uvicorn on 127.0.0.1 until
    `stop()`."""

    def __init__(self, data_dir: str, workflows=None, **settings) -> None:
        self.data_dir = data_dir
        self.registry = Registry.for_data_dir(data_dir)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        self.app = create_app(self.registry, Settings(data_dir=data_dir, **settings), workflows=workflows)
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert self.thread.is_alive() and time.monotonic() < deadline, "the API server did not start"
            time.sleep(0.02)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.registry.close()

    def user(self, email: str, **roles) -> tuple[str, str]:
        """A new user of the given roles and a token for them: `(user_id, token)`."""
        with self.registry.session() as s:
            user = accounts.create_user(s, email, **roles)
            _, token = accounts.create_token(s, user.id)
            return user.id, token

    def artifact_files(self) -> set[str]:
        root = os.path.join(self.data_dir, "artifacts")
        return {os.path.join(d, f) for d, _, files in os.walk(root) for f in files}


def write_model(path: str) -> bytes:
    """A tiny ResNet-style ONNX model (input `input`: 1×3×8×8) written to `path`; returns its bytes."""
    onnx.save(resnet_cnn(size=8, width=4, blocks=1), path)
    with open(path, "rb") as f:
        return f.read()
