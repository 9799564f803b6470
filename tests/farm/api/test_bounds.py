"""Bounded inputs (issue 12 item 6): every number a user sends has an upper bound (a 422 naming the field and the bound), and workflows per user too."""

from __future__ import annotations

import httpx
import pytest

from farm.workflow_options import (
    MAX_BATCH,
    MAX_INPUT_ELEMENTS,
    MAX_KINDS,
    MAX_REPEAT,
    MAX_SLA_MS,
    MAX_TRIALS,
    MAX_WARMUP,
)
from tests.farm.api.server import LiveServer, RecordingWorkflows

OVER = [
    ({"trials": MAX_TRIALS + 1}, ["trials"], f"{MAX_TRIALS}"),
    ({"trials_per_task": 10**12}, ["trials_per_task"], f"{MAX_TRIALS}"),
    ({"targets": ["x86-64"] * (MAX_KINDS + 1)}, ["targets"], f"{MAX_KINDS}"),
    ({"input_shapes": {"x": [1 << 15, 1 << 15, 2]}}, ["input_shapes"], f"{MAX_INPUT_ELEMENTS:,}"),
    ({"input_shapes": {"x": [10**30]}}, ["input_shapes"], f"{MAX_INPUT_ELEMENTS:,}"),
    ({"benchmark": {"repeat": MAX_REPEAT + 1}}, ["benchmark", "repeat"], f"{MAX_REPEAT}"),
    ({"benchmark": {"warmup": MAX_WARMUP + 1}}, ["benchmark", "warmup"], f"{MAX_WARMUP}"),
    ({"benchmark": {"batch_sizes": [MAX_BATCH + 1]}}, ["benchmark", "batch_sizes", 0], f"{MAX_BATCH}"),
    ({"benchmark": {"sla_ms": 1e300}}, ["benchmark", "sla_ms"], f"{MAX_SLA_MS:.0f}"),
]


@pytest.fixture(scope="module")
def optimizer(server):
    _, token = server.user("opt@bounds.test", can_optimize=True)
    return httpx.Client(base_url=server.url + "/api/v1", headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize(("fields", "where", "bound"), OVER)
def test_an_oversized_value_is_a_422_naming_the_field_and_its_bound(optimizer, service, fields, where, bound):
    answer = optimizer.post("/workflows", json={"model_id": "m" * 32, "targets": ["x86-64"], **fields})
    assert answer.status_code == 422, answer.text
    (error,) = answer.json()["detail"]
    assert error["loc"][1 : 1 + len(where)] == where
    assert bound in error["msg"], error
    assert not service.submitted, "nothing was queued"


def test_a_user_may_have_only_so_many_workflows_pending_or_running(tmp_path, model_file):
    limited = LiveServer(str(tmp_path / "farm-data"), workflows=RecordingWorkflows(), max_workflows_per_user=2)
    try:
        _, token = limited.user("eager@bounds.test", can_optimize=True)
        _, admin_token = limited.user("root@bounds.test", admin=True)
        user = httpx.Client(base_url=limited.url + "/api/v1", headers={"Authorization": f"Bearer {token}"})
        admin = httpx.Client(base_url=limited.url + "/api/v1", headers={"Authorization": f"Bearer {admin_token}"})
        with open(model_file, "rb") as f:
            model_id = user.post("/models", files={"file": ("m.onnx", f.read())}, data={"name": "m"}).json()["id"]
        body = {"model_id": model_id, "targets": ["x86-64"]}
        first, _ = [user.post("/workflows", json=body).json() for _ in range(2)]
        refused = user.post("/workflows", json=body)
        assert refused.status_code == 409 and "--max-workflows-per-user 2" in refused.json()["detail"]
        assert admin.post("/workflows", json=body).status_code == 201, "admins are not limited"
        assert user.post(f"/workflows/{first['id']}/cancel").status_code == 200
        assert user.post("/workflows", json=body).status_code == 201, "an ended workflow frees its place"
    finally:
        limited.stop()
