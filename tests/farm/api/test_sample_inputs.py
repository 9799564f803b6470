"""A model's sample inputs over HTTP, the SDK and the CLI: checked against its inputs before they are stored, refused
clearly when they are not plain arrays of its shapes, kept by the garbage collector while a model names them, and
fetched by its workflows."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from farm.cli.main import app
from farm.client import Client
from farm.registry import catalog, gc, workflow_records
from farm.workflows.execute import _load

SHAPE = (3, 8, 8)  # the tiny model's input, `input`: 1x3x8x8


def npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def owner(server):
    _, token = server.user("samples-owner@farm.test")
    with httpx.Client(base_url=server.url + "/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=30) as c:
        yield c, token


@pytest.fixture(scope="module")
def model_id(owner, model_file) -> str:
    http, _ = owner
    with open(model_file, "rb") as f:
        created = http.post("/models", data={"name": "with-samples"}, files={"file": ("tiny.onnx", f)})
    assert created.status_code == 201, created.text
    return created.json()["id"]


def put(http: httpx.Client, model_id: str, body: bytes, name: str = "samples.npz") -> httpx.Response:
    return http.put(f"/models/{model_id}/sample-inputs", files={"file": (name, body)})


def test_sample_inputs_are_stored_counted_shown_and_removed(owner, model_id, server):
    http, _ = owner
    samples = np.random.default_rng(0).standard_normal((5, 1, *SHAPE)).astype(np.float32)
    stored = put(http, model_id, npz(input=samples))
    assert stored.status_code == 200, stored.text
    assert stored.json()["sample_inputs_count"] == 5 == http.get(f"/models/{model_id}").json()["sample_inputs_count"]
    with server.registry.session() as s:
        key = catalog.get_model(s, model_id).sample_inputs_key
    assert key in {f.key for f in server.registry.artifacts.listing()}
    assert key not in {f.key for f in gc.collect(server.registry, min_age=timedelta(0))["garbage"]}
    removed = http.delete(f"/models/{model_id}/sample-inputs")
    assert removed.status_code == 200 and removed.json()["sample_inputs_count"] is None


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (npz(other=np.zeros((2, 1, *SHAPE), np.float32)), "the model's inputs are ['input']"),
        (npz(input=np.zeros((2, 1, 3, 8, 9), np.float32)), "expected (samples, *[1, 3, 8, 8])"),
        (npz(input=np.zeros((2, 1, *SHAPE), np.complex64)), "of float32"),
        (npz(input=np.array([{"code": "print(1)"}] * 2, dtype=object)), "not an .npz of plain arrays"),
        (b"PK\x03\x04 not a zip at all", "not an .npz of plain arrays"),
    ],
)
def test_sample_inputs_that_do_not_fit_the_model_are_refused_naming_the_file(owner, model_id, body, says):
    http, _ = owner
    before = http.get(f"/models/{model_id}").json()["sample_inputs_count"]
    refused = put(http, model_id, body, name="mine.npz")
    assert refused.status_code == 400 and says in refused.json()["detail"] and "mine.npz" in refused.json()["detail"]
    assert http.get(f"/models/{model_id}").json()["sample_inputs_count"] == before


def test_only_members_who_optimize_give_sample_inputs_and_before_the_body_is_read(server, model_id):
    for name, roles in (("reader", {"read_only": True}), ("outsider", {})):
        _, token = server.user(f"samples-{name}@farm.test", **roles)
        refused = httpx.put(
            f"{server.url}/api/v1/models/{model_id}/sample-inputs",
            headers={"Authorization": f"Bearer {token}"},
            files={"file": ("big.npz", b"\0" * (8 << 20))},
            timeout=30,
        )
        assert refused.status_code == (403 if name == "reader" else 404), refused.text


def test_the_sdk_and_cli_give_sample_inputs_and_a_workflow_fetches_them(owner, model_id, server, tmp_path):
    _, token = owner
    path = tmp_path / "samples.npz"
    path.write_bytes(npz(input=np.ones((3, 1, *SHAPE), np.float32)))
    with Client(server.url, token) as client:
        model = client.model(model_id).set_sample_inputs(str(path))
        assert model.sample_inputs_count == 3
        assert client.model(model_id).set_sample_inputs(None).sample_inputs_count is None
    env = {"FARM_URL": server.url, "FARM_API_TOKEN": token}
    given = CliRunner().invoke(app, ["model", "samples", model_id, str(path)], env=env)
    assert given.exit_code == 0 and "agreement is measured on 3 samples" in " ".join(given.stdout.split()), given.stdout
    shown = CliRunner().invoke(app, ["model", "show", model_id, "--json"], env=env)
    assert json.loads(shown.stdout)["sample_inputs_count"] == 3
    with server.registry.session() as s:
        uploader = catalog.get_model(s, model_id).created_by
        workflow = workflow_records.create_workflow(s, model_id, targets=["x86-64"], options={}, created_by=uploader)
        workflow_records.start_workflow(s, workflow.id, "driver")  # as its driver takes it
    (tmp_path / "work").mkdir()
    run = _load(server.registry, workflow.id, str(tmp_path / "db"), str(tmp_path / "work"))
    with np.load(run.samples_path, allow_pickle=False) as fetched:
        assert fetched["input"].shape == (3, 1, *SHAPE)
