"""The Python SDK end to end against a live API server: projects, upload, listing, moving, downloading, workflows."""

from __future__ import annotations

from datetime import datetime

import pytest

from farm.client import Client, FarmAPIError, Model, WorkflowFailed
from farm.registry import catalog, workflow_records
from tests.farm.api.server import LiveServer, RecordingWorkflows, write_model


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = LiveServer(str(tmp_path_factory.mktemp("farm-data")), workflows=RecordingWorkflows())
    yield live
    live.stop()


@pytest.fixture(scope="module")
def client(server):
    _, token = server.user("sdk@farm.test")
    with Client(server.url, token) as farm:
        yield farm


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> tuple[str, bytes]:
    path = str(tmp_path_factory.mktemp("models") / "resnet.onnx")
    return path, write_model(path)


def test_upload_list_move_and_download(client, model_path, tmp_path):
    path, content = model_path
    vision = client.create_project("vision", "image models")
    assert [p.name for p in client.projects()] == ["vision"] and isinstance(vision.created_at, datetime)

    model = client.upload_model(path, project="vision", labels=["cnn"], description="tiny")
    assert isinstance(model, Model) and model.name == "resnet" and model.project_id == vision.id
    assert [t.model_dump() for t in model.inputs] == [{"name": "input", "dtype": "float32", "shape": [1, 3, 8, 8]}]
    assert [m.id for m in client.models(project=vision, labels=["cnn"])] == [model.id]
    assert client.models(labels=["cnn", "gpu"]) == []
    assert client.model(model.id) == model

    audio = client.create_project("audio")
    assert model.move("audio").project_id == audio.id
    assert [m.id for m in client.models(project=audio.id)] == [model.id]
    assert model.move(None).project_id is None

    (original,) = model.variants()
    assert original.kind == "original" and original.artifact_name == "resnet.onnx"
    saved = original.download(str(tmp_path))
    assert saved == str(tmp_path / "resnet.onnx")
    with open(saved, "rb") as f:
        assert f.read() == content
    assert client.variant(original.id).download(str(tmp_path / "copy.onnx")) == str(tmp_path / "copy.onnx")


def test_optimize_wait_metrics_and_variants(client, server, model_path):
    model = client.upload_model(model_path[0], name="tuned")
    workflow = model.optimize(targets=["x86-64-v3"], trials=8, stages={"package": False})
    assert workflow.state == "pending" and workflow.options["stages"]["package"] is False
    # the SDK's records are the API's response models: every field the API documents, e.g. the variant it starts from
    assert workflow.input_variant_id == model.variants()[0].id and workflow.webhook_url is None
    assert [w.id for w in client.workflows(model_id=model.id)] == [workflow.id]
    assert client.targets()[0]["name"] == "x86-64-v3"

    with server.registry.session() as s:
        workflow_records.start_workflow(s, workflow.id, driver="test")
        workflow_records.update_progress(
            s, workflow.id, {"x86-64-v3": {"stage": "autotune", "trials": 8, "total": 8, "best_latency_ms": 0.5}}
        )
        original = catalog.list_variants(s, model.id)[0]
        tuned = catalog.add_variant(
            s,
            model.id,
            kind="x86-64-v3",
            artifact_key=original.artifact_key,
            artifact_name="tuned-x86-64-v3.tar.gz",
            size_bytes=original.size_bytes,
            parent_id=original.id,
            workflow_id=workflow.id,
        )
        catalog.add_benchmark(s, tuned.id, kind="x86-64-v3", results={"tvm": {"mean_ms": 0.5}}, workflow_id=workflow.id)
    assert workflow.status() == "running" and workflow.progress["x86-64-v3"]["trials"] == 8
    with pytest.raises(TimeoutError, match="still running"):
        workflow.wait(timeout=0.1, poll=0.02)

    with server.registry.session() as s:
        workflow_records.complete_workflow(s, workflow.id, {"x86-64-v3": {"variant_id": tuned.id}})
    seen = []
    assert workflow.wait(timeout=10, poll=0.02, on_progress=lambda w: seen.append(w.state)) is workflow
    assert workflow.state == "completed" and seen[-1] == "completed" and workflow.finished_at is not None
    assert [v.id for v in workflow.variants()] == [tuned.id]
    assert [m["results"] for m in workflow.metrics()] == [{"tvm": {"mean_ms": 0.5}}]


def test_cancel_and_errors(client, model_path):
    model = client.upload_model(model_path[0], name="cancelled")
    workflow = model.optimize(targets=["x86-64"])
    assert workflow.cancel().state == "cancelled"
    with pytest.raises(WorkflowFailed, match="cancelled") as failed:
        workflow.wait(poll=0.02)
    assert failed.value.workflow.id == workflow.id

    with pytest.raises(FarmAPIError) as missing:
        client.model("0" * 32)
    assert missing.value.status == 404 and missing.value.detail == f"model {'0' * 32} not found"
    with pytest.raises(FarmAPIError, match="no project with id or name 'nowhere'"):
        client.upload_model(model_path[0], project="nowhere")
    with pytest.raises(FarmAPIError) as invalid:
        client.create_workflow(model.id, [])
    assert invalid.value.status == 422 and invalid.value.detail.startswith("targets:")


def test_url_and_token_come_from_the_environment(server, monkeypatch):
    monkeypatch.setenv("FARM_URL", server.url)
    monkeypatch.setenv("FARM_API_TOKEN", "farm_nope")
    with Client() as anonymous, pytest.raises(FarmAPIError) as refused:
        anonymous.projects()
    assert refused.value.status == 401 and "unknown API token" in refused.value.detail
