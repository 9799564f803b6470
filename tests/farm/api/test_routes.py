"""The API's resources end to end over HTTP: users, projects, models, workflows, benchmarks, targets, errors."""

from __future__ import annotations

import httpx
import pytest

from farm.registry import catalog, workflow_records


@pytest.fixture(scope="module")
def admin(server):
    _, token = server.user("root@farm.test", admin=True)
    with httpx.Client(
        base_url=server.url + "/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as client:
        yield client


def _upload(http: httpx.Client, model_file: str, name: str, **fields: str) -> dict:
    with open(model_file, "rb") as f:
        response = http.post("/models", data={"name": name, **fields}, files={"file": ("model.onnx", f)})
    assert response.status_code == 201, response.text
    return response.json()


def test_openapi_and_health(server):
    spec = httpx.get(server.url + "/openapi.json").json()
    assert {
        "/api/v1/models",
        "/api/v1/workflows/{workflow_id}/cancel",
        "/api/v1/variants/{variant_id}/download",
    } <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


def test_users_are_created_listed_and_their_roles_changed(admin):
    created = admin.post("/users", json={"email": "Ana@Farm.test", "read_only": True})
    assert created.status_code == 201
    ana = created.json()
    assert ana["email"] == "ana@farm.test" and ana["read_only"] and not ana["can_optimize"]
    assert admin.post("/users", json={"email": "ana@farm.test"}).status_code == 409
    assert admin.post("/users", json={"email": "not an email"}).status_code == 422

    promoted = admin.patch(
        f"/users/{ana['id']}", json={"read_only": False, "webhook_url": "https://hooks.test/ana"}
    ).json()
    assert (
        promoted["can_optimize"] and not promoted["read_only"] and promoted["webhook_url"] == "https://hooks.test/ana"
    )
    assert admin.patch(f"/users/{ana['id']}", json={"read_only": True, "admin": True}).status_code == 422
    demoted = admin.patch(f"/users/{ana['id']}", json={"read_only": True, "is_active": False}).json()
    assert demoted["read_only"] and not demoted["is_active"]
    assert {u["email"] for u in admin.get("/users").json()} >= {"root@farm.test", "ana@farm.test"}
    assert admin.patch(f"/users/{'0' * 32}", json={}).status_code == 404


def test_projects_crud(admin, server, model_file):
    project = admin.post("/projects", json={"name": "speech", "description": "asr"}).json()
    assert (
        admin.post("/projects", json={"name": "speech"}).json()["detail"] == "a project named 'speech' already exists"
    )
    renamed = admin.patch(f"/projects/{project['id']}", json={"name": "audio"}).json()
    assert renamed["name"] == "audio" and renamed["description"] == "asr"
    assert admin.get(f"/projects/{project['id']}").json()["name"] == "audio"
    page = admin.get("/projects", params={"limit": 1}).json()
    assert page["limit"] == 1 and page["offset"] == 0 and len(page["items"]) == 1 and page["total"] >= 1

    model = _upload(admin, model_file, "held", project_id=project["id"])
    refused = admin.delete(f"/projects/{project['id']}")
    assert refused.status_code == 409 and "still holds models (held)" in refused.json()["detail"]
    assert admin.delete(f"/models/{model['id']}").status_code == 204
    assert admin.delete(f"/projects/{project['id']}").status_code == 204
    assert admin.get(f"/projects/{project['id']}").status_code == 404


def test_models_filter_page_edit_and_move(admin, model_file):
    project = admin.post("/projects", json={"name": "zoo"}).json()
    _upload(admin, model_file, "a", labels="cnn,edge", project_id=project["id"])
    b = _upload(admin, model_file, "b", labels="cnn")
    c = _upload(admin, model_file, "c", labels="edge", project_id=project["id"])

    def names(**params) -> list[str]:
        return [m["name"] for m in admin.get("/models", params=params).json()["items"]]

    assert names(project_id=project["id"]) == ["a", "c"]
    assert names(labels="cnn,edge") == ["a"]
    assert "b" in names(detached="true") and "a" not in names(detached="true")
    first, second = (
        admin.get("/models", params={"labels": "cnn", "limit": 1}).json(),
        admin.get("/models", params={"labels": "cnn", "offset": 1, "limit": 1}).json(),
    )
    assert first["total"] == second["total"] == 2 and [first["items"][0]["name"], second["items"][0]["name"]] == [
        "a",
        "b",
    ]
    assert admin.get("/models", params={"limit": 0}).status_code == 422

    edited = admin.patch(f"/models/{b['id']}", json={"description": "second", "labels": ["rnn"]}).json()
    assert edited["description"] == "second" and edited["labels"] == ["rnn"]
    moved = admin.post(f"/models/{b['id']}/move", json={"project_id": project["id"]})
    assert moved.status_code == 200 and moved.json()["project_id"] == project["id"]
    clash = _upload(admin, model_file, "a")
    refused = admin.post(f"/models/{clash['id']}/move", json={"project_id": project["id"]})
    assert (
        refused.status_code == 409 and refused.json()["detail"] == "a model named 'a' already exists in project 'zoo'"
    )
    detached = admin.post(f"/models/{c['id']}/move", json={"project_id": None}).json()
    assert detached["project_id"] is None
    assert admin.get(f"/models/{'f' * 32}").json() == {"detail": f"model {'f' * 32} not found"}


def test_workflows_are_recorded_submitted_listed_and_cancelled(admin, server, service, model_file):
    model = _upload(admin, model_file, "wf")
    created = admin.post(
        "/workflows",
        json={
            "model_id": model["id"],
            "targets": ["x86-64-v3", "znver4"],
            "trials": 16,
            "input_shapes": {"input": [1, 3, 8, 8]},
            "stages": {"package": False},
        },
    )
    assert created.status_code == 201, created.text
    workflow = created.json()
    assert workflow["state"] == "pending" and workflow["targets"] == ["x86-64-v3", "znver4"]
    assert workflow["options"] == {
        "trials": 16,
        "trials_per_task": None,
        "input_shapes": {"input": [1, 3, 8, 8]},
        "stages": {"autotune": True, "benchmark": True, "package": False},
        "benchmark": {"warmup": 5, "repeat": 50, "batch_sizes": [], "sla_ms": None},
        "precision": "exact",
        "tolerance": None,
        "priorities": None,
        "offer_id": None,
    }
    assert workflow["progress"]["znver4"]["stage"] == "pending"
    assert service.submitted[-1] == workflow["id"]

    assert admin.post("/workflows", json={"model_id": model["id"], "targets": []}).status_code == 422
    assert admin.post("/workflows", json={"model_id": "0" * 32, "targets": ["x86-64"]}).status_code == 404
    other = admin.post("/workflows", json={"model_id": model["id"], "targets": ["x86-64"]}).json()
    with server.registry.session() as s:
        workflow_records.start_workflow(s, other["id"], driver="test")

    def ids(**params) -> list[str]:
        return [w["id"] for w in admin.get("/workflows", params=params).json()["items"]]

    assert ids(model_id=model["id"]) == [other["id"], workflow["id"]]
    assert ids(model_id=model["id"], state="running") == [other["id"]]
    assert admin.get("/workflows", params={"state": "sleeping"}).status_code == 422

    cancelled = admin.post(f"/workflows/{workflow['id']}/cancel").json()
    assert cancelled["state"] == "cancelled" and cancelled["finished_at"] and service.cancelled == [workflow["id"]]
    again = admin.post(f"/workflows/{workflow['id']}/cancel")
    assert again.status_code == 409 and service.cancelled == [workflow["id"]]
    assert admin.get(f"/workflows/{workflow['id']}").json()["state"] == "cancelled"


def test_benchmarks_filter_and_targets(admin, server, model_file):
    model = _upload(admin, model_file, "bench")
    with server.registry.session() as s:
        original = catalog.list_variants(s, model["id"])[0]
        catalog.add_benchmark(s, original.id, kind="x86-64-v3", results={"tvm": {"mean_ms": 1.5}})
    (result,) = admin.get("/benchmarks", params={"model_id": model["id"]}).json()
    assert result["variant_id"] == original.id and result["results"] == {"tvm": {"mean_ms": 1.5}}
    # a filter naming a record that does not exist (or that the user may not see) is a 404, not an empty list
    missing = admin.get("/benchmarks", params={"variant_id": "0" * 32})
    assert missing.status_code == 404 and missing.json()["detail"] == f"variant {'0' * 32} not found"
    assert admin.get("/targets").json() == [
        {"name": "x86-64-v3", "platform": "cpu", "target": {"kind": "llvm", "mcpu": "haswell"}, "nodes": 2}
    ]


def test_prices_are_set_listed_and_removed_by_admins(admin):
    assert admin.put("/prices/x86-64-v3", json={"usd_per_hour": 0.34}).json()["usd_per_hour"] == 0.34
    assert admin.put("/prices/x86-64-v3", json={"usd_per_hour": 0.5}).status_code == 200
    assert {p["kind"]: p["usd_per_hour"] for p in admin.get("/prices").json()}["x86-64-v3"] == 0.5
    assert admin.put("/prices/x86-64", json={"usd_per_hour": -1}).status_code == 422
    assert admin.put("/prices/x86-64", json={}).status_code == 422
    assert admin.delete("/prices/x86-64-v3").status_code == 204
    missing = admin.delete("/prices/x86-64-v3")
    assert missing.status_code == 404 and "x86-64-v3" in missing.json()["detail"]


def test_packages_are_listed_by_format_and_downloaded(admin, server, model_file, tmp_path):
    model = _upload(admin, model_file, "packaged")
    with server.registry.session() as s:
        variant = catalog.list_variants(s, model["id"])[0]
        key = server.registry.artifacts.put_file(model_file)
        package = catalog.add_package(
            s,
            variant.id,
            format="wheel",
            artifact_key=key,
            artifact_name="packaged-1.0.0-py3-none-linux_x86_64.whl",
            size_bytes=server.registry.artifacts.size(key),
        )
    listed = admin.get("/packages", params={"model_id": model["id"], "format": "wheel"}).json()
    assert [p["id"] for p in listed] == [package.id] and listed[0]["artifact_name"].endswith(".whl")
    assert admin.get("/packages", params={"model_id": model["id"], "format": "zip"}).json() == []
    download = admin.get(f"/packages/{package.id}/download")
    with open(model_file, "rb") as f:
        assert download.status_code == 200 and download.content == f.read()
    assert "packaged-1.0.0-py3-none-linux_x86_64.whl" in download.headers["content-disposition"]
    assert admin.get("/packages/" + "0" * 32).status_code == 404
