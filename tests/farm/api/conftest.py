"""Fixtures of the API tests: one live server per test module over a fresh data folder, and a tiny ONNX model."""

from __future__ import annotations

import pytest

from tests.farm.api.server import LiveServer, RecordingWorkflows, write_model


@pytest.fixture(scope="module")
def service() -> RecordingWorkflows:
    return RecordingWorkflows()


@pytest.fixture(scope="module")
def server(tmp_path_factory, service):
    live = LiveServer(str(tmp_path_factory.mktemp("farm-data")), workflows=service)
    yield live
    live.stop()


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("models") / "tiny.onnx")
    write_model(path)
    return path
