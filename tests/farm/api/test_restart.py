"""A restarted server (a new app over the same data folder) keeps users, projects, models, artifacts and workflows."""

from __future__ import annotations

import httpx

from tests.farm.api.server import LiveServer, RecordingWorkflows


def test_a_restart_keeps_everything(tmp_path, model_file):
    data_dir = str(tmp_path / "data")
    first = LiveServer(data_dir)
    try:
        _, token = first.user("keeper@farm.test")
        headers = {"Authorization": f"Bearer {token}"}
        with httpx.Client(base_url=first.url + "/api/v1", headers=headers) as http:
            project = http.post("/projects", json={"name": "kept"}).json()
            with open(model_file, "rb") as f:
                model = http.post(
                    "/models", data={"name": "m", "project_id": project["id"]}, files={"file": ("m.onnx", f)}
                ).json()
            workflow = http.post("/workflows", json={"model_id": model["id"], "targets": ["x86-64"]}).json()
            variant = http.get(f"/models/{model['id']}/variants").json()[0]
    finally:
        first.stop()

    service = RecordingWorkflows()
    second = LiveServer(data_dir, workflows=service)
    try:
        assert service.recovered == 1
        with httpx.Client(base_url=second.url + "/api/v1", headers=headers) as http:
            assert http.get(f"/projects/{project['id']}").json() == project
            assert http.get(f"/models/{model['id']}").json() == model
            assert http.get(f"/workflows/{workflow['id']}").json() == workflow
            with open(model_file, "rb") as f:
                assert http.get(f"/variants/{variant['id']}/download").content == f.read()
    finally:
        second.stop()
