"""Tenancy across users: a user sees only the projects they belong to and the detached models they uploaded; others'
records are missing (404, with the very message of an id that does not exist) on every route; roles within a project
(viewer, member, owner) decide who changes what; a workflow's webhook is shown only to its creator and admins."""

from __future__ import annotations

import uuid

import httpx
import pytest

from farm.registry import access, catalog, workflow_records

MISSING = "0" * 32


@pytest.fixture(scope="module")
def world(server, model_file):
    """Alice owns a project with a model, its variant, a workflow (with a webhook), a benchmark and a package, and a
    detached model; Bob owns a project of his own; Carol views Alice's project and Dave is a member of it."""
    tokens, ids = {}, {}
    for name in ("alice", "bob", "carol", "dave"):
        ids[name], tokens[name] = server.user(f"{name}@farm.test")
    ids["admin"], tokens["admin"] = server.user("root@farm.test", admin=True)
    with server.registry.session() as s:
        ids["project"] = catalog.create_project(s, "alice-vision", owner_id=ids["alice"]).id
        ids["bob_project"] = catalog.create_project(s, "bob-audio", owner_id=ids["bob"]).id
        access.set_member(s, ids["project"], ids["carol"], "viewer")
        access.set_member(s, ids["project"], ids["dave"], "member")
        store = server.registry.artifacts
        model = catalog.upload_model(
            s, store, model_file, name="tiny", project_id=ids["project"], created_by=ids["alice"]
        )
        ids["model"] = model.id
        ids["detached"] = catalog.upload_model(s, store, model_file, name="alice-own", created_by=ids["alice"]).id
        ids["bob_model"] = catalog.upload_model(
            s, store, model_file, name="bob-own", project_id=ids["bob_project"], created_by=ids["bob"]
        ).id
        ids["variant"] = catalog.list_variants(s, model.id)[0].id
        ids["workflow"] = workflow_records.create_workflow(
            s,
            model.id,
            targets=["x86-64"],
            options={},
            created_by=ids["alice"],
            webhook_url="https://hooks.example.com/alice",
        ).id
        catalog.add_benchmark(s, ids["variant"], kind="x86-64", results={"ms": 1.0}, workflow_id=ids["workflow"])
        key = store.put_file(model_file)
        ids["package"] = catalog.add_package(
            s, ids["variant"], format="tarball", artifact_key=key, artifact_name="t.tar.gz", size_bytes=store.size(key)
        ).id
    with open(model_file, "rb") as f:
        onnx_bytes = f.read()
    return {"tokens": tokens, "ids": ids, "onnx": onnx_bytes}


def call(server, world, who: str, method: str, path: str, **kwargs) -> httpx.Response:
    headers = {"Authorization": f"Bearer {world['tokens'][who]}"}
    url = server.url + "/api/v1" + path.format(**world["ids"])
    return httpx.request(method, url, headers=headers, timeout=30, **kwargs)


def _upload(world, project: str) -> dict:
    name = f"m-{uuid.uuid4().hex[:8]}"
    return {"data": {"name": name, "project_id": project}, "files": {"file": ("m.onnx", world["onnx"])}}


# (method, path, request keywords, the record whose id the answer must treat as missing): every route addressing a
# record of Alice's, as Bob (an optimizer, so no account role stands in the way) calls it.
ALICES = [
    ("GET", "/projects/{project}", {}, "project"),
    ("PATCH", "/projects/{project}", {"json": {"description": "mine now"}}, "project"),
    ("DELETE", "/projects/{project}", {}, "project"),
    ("GET", "/projects/{project}/members", {}, "project"),
    ("PUT", "/projects/{project}/members/{bob}", {"json": {"role": "owner"}}, "project"),
    ("DELETE", "/projects/{project}/members/{alice}", {}, "project"),
    ("GET", "/models?project_id={project}", {}, "project"),
    ("POST", "/models", "upload", "project"),
    ("GET", "/models/{model}", {}, "model"),
    ("GET", "/models/{detached}", {}, "detached"),
    ("PATCH", "/models/{model}", {"json": {"labels": ["taken"]}}, "model"),
    ("DELETE", "/models/{detached}", {}, "detached"),
    ("POST", "/models/{model}/move", {"json": {"project_id": None}}, "model"),
    ("POST", "/models/{bob_model}/move", "into", "project"),
    ("GET", "/models/{model}/variants", {}, "model"),
    ("GET", "/variants/{variant}", {}, "variant"),
    ("GET", "/variants/{variant}/download", {}, "variant"),
    ("POST", "/workflows", "optimize", "model"),
    ("GET", "/workflows?model_id={model}", {}, "model"),
    ("GET", "/workflows/{workflow}", {}, "workflow"),
    ("POST", "/workflows/{workflow}/cancel", {}, "workflow"),
    ("GET", "/benchmarks?model_id={model}", {}, "model"),
    ("GET", "/benchmarks?variant_id={variant}", {}, "variant"),
    ("GET", "/benchmarks?workflow_id={workflow}", {}, "workflow"),
    ("GET", "/packages?model_id={model}", {}, "model"),
    ("GET", "/packages?workflow_id={workflow}", {}, "workflow"),
    ("GET", "/packages/{package}", {}, "package"),
    ("GET", "/packages/{package}/download", {}, "package"),
]
LABELS = {"project": "project", "model": "model", "detached": "model", "variant": "variant"}


def _request(world, kwargs) -> dict:
    ids = world["ids"]
    if kwargs == "upload":
        return _upload(world, ids["project"])
    if kwargs == "into":
        return {"json": {"project_id": ids["project"]}}
    if kwargs == "optimize":
        return {"json": {"model_id": ids["model"], "targets": ["x86-64"], "trials": 8}}
    return kwargs


@pytest.mark.parametrize(("method", "path", "kwargs", "record"), ALICES, ids=[f"{m} {p}" for m, p, _, _ in ALICES])
def test_another_users_records_are_missing_on_every_route(server, world, method, path, kwargs, record):
    response = call(server, world, "bob", method, path, **_request(world, kwargs))
    label = LABELS.get(record, record)
    record_id = world["ids"][record]
    assert response.status_code == 404, response.text
    assert response.json()["detail"] == f"{label} {record_id} not found"
    # exactly what an id that does not exist gets: the answer tells Bob nothing about what Alice has
    missing = call(server, world, "alice", "GET", f"/{label}s/{MISSING}")
    assert missing.status_code == 404 and missing.json()["detail"] == f"{label} {MISSING} not found"
    # and nothing of Alice's changed
    assert call(server, world, "alice", "GET", "/models/{model}").json()["labels"] == []
    assert call(server, world, "alice", "GET", "/workflows/{workflow}").json()["state"] == "pending"


def test_listings_hold_only_what_the_user_may_see(server, world):
    ids = world["ids"]

    def listed(who: str, path: str) -> set[str]:
        body = call(server, world, who, "GET", path).json()
        return {r["id"] for r in (body["items"] if isinstance(body, dict) else body)}

    assert listed("bob", "/projects") == {ids["bob_project"]}
    assert listed("bob", "/models") == {ids["bob_model"]}
    assert listed("bob", "/workflows") == set() and listed("bob", "/benchmarks") == set()
    assert listed("bob", "/packages") == set()
    assert {ids["project"], ids["bob_project"]} <= listed("admin", "/projects")
    assert listed("carol", "/projects") == {ids["project"]}
    assert ids["model"] in listed("carol", "/models") and ids["detached"] not in listed("carol", "/models")
    assert {ids["model"], ids["detached"]} <= listed("alice", "/models")
    assert listed("carol", "/workflows") == {ids["workflow"]} and len(listed("carol", "/packages")) == 1


def test_a_viewer_sees_and_downloads_but_changes_nothing(server, world):
    for path in ("/models/{model}", "/variants/{variant}/download", "/packages/{package}/download", "/workflows"):
        assert call(server, world, "carol", "GET", path).status_code == 200
    for method, path, kwargs in (
        ("PATCH", "/models/{model}", {"json": {"labels": ["x"]}}),
        ("POST", "/models", _upload(world, world["ids"]["project"])),
        ("POST", "/workflows", {"json": {"model_id": world["ids"]["model"], "targets": ["x86-64"]}}),
        ("POST", "/workflows/{workflow}/cancel", {}),
        ("PUT", "/projects/{project}/members/{bob}", {"json": {"role": "viewer"}}),
    ):
        response = call(server, world, "carol", method, path, **kwargs)
        assert response.status_code == 403, (path, response.text)
    detail = call(server, world, "carol", "PATCH", "/models/{model}", json={"labels": ["x"]}).json()["detail"]
    assert "is viewer: this needs member" in detail


def test_a_member_uploads_and_optimizes_but_only_owners_manage_the_project(server, world):
    uploaded = call(server, world, "dave", "POST", "/models", **_upload(world, world["ids"]["project"]))
    assert uploaded.status_code == 201, uploaded.text
    started = call(
        server, world, "dave", "POST", "/workflows", json={"model_id": uploaded.json()["id"], "targets": ["x86-64"]}
    )
    assert started.status_code == 201, started.text
    # Dave did not start Alice's workflow, and only owners cancel others' workflows
    assert call(server, world, "dave", "POST", "/workflows/{workflow}/cancel").status_code == 403
    assert (
        call(server, world, "dave", "PUT", "/projects/{project}/members/{bob}", json={"role": "viewer"}).status_code
        == 403
    )
    assert call(server, world, "dave", "DELETE", "/projects/{project}").status_code == 403
    assert call(server, world, "dave", "PATCH", "/projects/{project}", json={"description": "x"}).status_code == 403


def test_owners_share_and_a_project_keeps_an_owner(server, world):
    ids = world["ids"]
    created = call(server, world, "bob", "POST", "/projects", json={"name": f"shared-{uuid.uuid4().hex[:6]}"}).json()
    project = created["id"]
    members = call(server, world, "bob", "GET", f"/projects/{project}/members").json()
    assert [(m["email"], m["role"]) for m in members] == [("bob@farm.test", "owner")]
    # the last owner can neither leave nor step down
    assert call(server, world, "bob", "DELETE", f"/projects/{project}/members/{ids['bob']}").status_code == 409
    step_down = call(server, world, "bob", "PUT", f"/projects/{project}/members/bob@farm.test", json={"role": "member"})
    assert step_down.status_code == 409 and "at least one owner" in step_down.json()["detail"]
    # shared by email: Carol sees it; a bad role is a 422; an unknown user a 404
    shared = call(server, world, "bob", "PUT", f"/projects/{project}/members/carol@farm.test", json={"role": "viewer"})
    assert shared.status_code == 200 and shared.json()["user_id"] == ids["carol"]
    assert call(server, world, "carol", "GET", f"/projects/{project}").status_code == 200
    bad = call(server, world, "bob", "PUT", f"/projects/{project}/members/{ids['carol']}", json={"role": "god"})
    assert bad.status_code == 422
    assert (
        call(
            server, world, "bob", "PUT", f"/projects/{project}/members/nobody@farm.test", json={"role": "viewer"}
        ).status_code
        == 404
    )
    # Carol leaves on her own, and the project is gone for her
    assert call(server, world, "carol", "DELETE", f"/projects/{project}/members/carol@farm.test").status_code == 204
    assert call(server, world, "carol", "GET", f"/projects/{project}").status_code == 404


def test_a_workflows_webhook_is_shown_to_its_creator_and_admins_only(server, world):
    def webhook(who: str) -> str | None:
        one = call(server, world, who, "GET", "/workflows/{workflow}").json()["webhook_url"]
        listed = call(server, world, who, "GET", "/workflows?model_id={model}").json()["items"]
        assert [w["webhook_url"] for w in listed if w["id"] == world["ids"]["workflow"]] == [one]
        return one

    assert webhook("alice") == webhook("admin") == "https://hooks.example.com/alice"
    assert webhook("carol") is None and webhook("dave") is None


def test_a_detached_model_is_its_uploaders_until_moved_into_a_project(server, world):
    mine = call(server, world, "dave", "POST", "/models", **_upload(world, "")).json()
    assert mine["project_id"] is None
    assert call(server, world, "alice", "GET", f"/models/{mine['id']}").status_code == 404
    moved = call(
        server, world, "dave", "POST", f"/models/{mine['id']}/move", json={"project_id": world["ids"]["project"]}
    )
    assert moved.status_code == 200 and moved.json()["project_id"] == world["ids"]["project"]
    assert call(server, world, "carol", "GET", f"/models/{mine['id']}").status_code == 200
    # into a project where Dave is not a member: that project does not exist for him
    refused = call(
        server, world, "dave", "POST", f"/models/{mine['id']}/move", json={"project_id": world["ids"]["bob_project"]}
    )
    assert refused.status_code == 404
