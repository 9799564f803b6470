"""Who may do what: every mutating route (and the admin's listing of users) against admin, optimizer, read-only,
no token, revoked token and deactivated user; reads for read-only users; tokens managed by their owners."""

from __future__ import annotations

import uuid

import httpx
import pytest

from farm.registry import access, accounts, catalog, prices, workflow_records

ROLES = ("admin", "optimizer", "reader", "none", "revoked", "deactivated")


@pytest.fixture(scope="module")
def world(server, model_file):
    """Users of every role with their tokens, and records the routes act on."""
    tokens = {"none": None}
    ids = {}
    ids["admin"], tokens["admin"] = server.user("admin@farm.test", admin=True)
    ids["optimizer"], tokens["optimizer"] = server.user("opt@farm.test")
    ids["reader"], tokens["reader"] = server.user("reader@farm.test", read_only=True)
    ids["revoked"], tokens["revoked"] = server.user("revoked@farm.test")
    ids["deactivated"], tokens["deactivated"] = server.user("gone@farm.test")
    ids["spare"], _ = server.user("spare@farm.test")
    with server.registry.session() as s:
        accounts.revoke_token(s, accounts.list_tokens(s, ids["revoked"])[0].id)
        accounts.update_user(s, ids["deactivated"], is_active=False)
        # the optimizer owns the projects, which the read-only user may view (tenancy itself: test_tenancy.py)
        ids["project"] = catalog.create_project(s, "vision", owner_id=ids["optimizer"]).id
        ids["empty_project"] = catalog.create_project(s, "empty", owner_id=ids["optimizer"]).id
        access.set_member(s, ids["project"], ids["reader"], "viewer")
        model = catalog.upload_model(
            s,
            server.registry.artifacts,
            model_file,
            name="tiny",
            project_id=ids["project"],
            created_by=ids["optimizer"],
        )
        ids["model"] = model.id
        ids["doomed_model"] = catalog.upload_model(
            s, server.registry.artifacts, model_file, name="doomed", project_id=ids["project"]
        ).id
        ids["variant"] = catalog.list_variants(s, model.id)[0].id
        ids["workflow"] = workflow_records.create_workflow(
            s, model.id, targets=["x86-64"], options={}, created_by=ids["optimizer"]
        ).id
        key = server.registry.artifacts.put_file(model_file)
        ids["package"] = catalog.add_package(
            s,
            ids["variant"],
            format="tarball",
            artifact_key=key,
            artifact_name="tiny.tar.gz",
            size_bytes=server.registry.artifacts.size(key),
        ).id
        prices.set_price(s, "x86-64-v2", 0.1)
    with open(model_file, "rb") as f:
        onnx_bytes = f.read()
    return {"tokens": tokens, "ids": ids, "onnx": onnx_bytes}


def _unique() -> str:
    return uuid.uuid4().hex[:8]


# (role needed, method, path, request keywords); ids and fresh names are filled in per call.
GUARDED = [
    ("user", "POST", "/tokens", lambda w: {"json": {"name": _unique()}}),
    ("user", "DELETE", "/tokens/" + "0" * 32, lambda w: {}),
    ("admin", "POST", "/users", lambda w: {"json": {"email": f"{_unique()}@farm.test"}}),
    ("admin", "PATCH", "/users/{spare}", lambda w: {"json": {"webhook_url": "https://hooks.test/farm"}}),
    ("admin", "GET", "/users", lambda w: {}),
    ("optimizer", "POST", "/projects", lambda w: {"json": {"name": f"p-{_unique()}"}}),
    ("optimizer", "PATCH", "/projects/{project}", lambda w: {"json": {"description": _unique()}}),
    ("optimizer", "DELETE", "/projects/{empty_project}", lambda w: {}),
    (
        "optimizer",
        "POST",
        "/models",
        lambda w: {"data": {"name": f"m-{_unique()}"}, "files": {"file": ("m.onnx", w["onnx"])}},
    ),
    ("optimizer", "PATCH", "/models/{model}", lambda w: {"json": {"labels": [_unique()]}}),
    ("optimizer", "POST", "/models/{model}/move", lambda w: {"json": {"project_id": w["ids"]["project"]}}),
    ("optimizer", "DELETE", "/models/{doomed_model}", lambda w: {}),
    (
        "optimizer",
        "POST",
        "/workflows",
        lambda w: {"json": {"model_id": w["ids"]["model"], "targets": ["x86-64"], "trials": 8}},
    ),
    ("optimizer", "POST", "/workflows/{workflow}/cancel", lambda w: {}),
    ("admin", "PUT", "/prices/x86-64", lambda w: {"json": {"usd_per_hour": 0.25}}),
    ("admin", "DELETE", "/prices/x86-64-v2", lambda w: {}),
]


def _call(server, world, role: str, method: str, path: str, kwargs: dict) -> httpx.Response:
    token = world["tokens"][role]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.request(
        method, server.url + "/api/v1" + path.format(**world["ids"]), headers=headers, timeout=30, **kwargs
    )


def _expected(role: str, needs: str) -> int | None:
    """401 or 403 when the role may not call the route, None when it may (whatever the route then answers)."""
    if role in ("none", "revoked", "deactivated"):
        return 401
    if role == "admin" or needs == "user" or (role == "optimizer" and needs == "optimizer"):
        return None
    return 403


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("needs", "method", "path", "build"), GUARDED, ids=[f"{m} {p}" for _, m, p, _ in GUARDED])
def test_mutating_routes_need_their_role(server, world, role, needs, method, path, build):
    response = _call(server, world, role, method, path, build(world))
    expected = _expected(role, needs)
    if expected is None:
        assert response.status_code not in (401, 403), response.text
        assert response.status_code < 500, response.text
    else:
        assert response.status_code == expected, response.text
        assert isinstance(response.json()["detail"], str) and response.json()["detail"]


READS = [
    "/users/me",
    "/projects",
    "/projects/{project}",
    "/models",
    "/models/{model}",
    "/models/{model}/variants",
    "/variants/{variant}",
    "/variants/{variant}/download",
    "/workflows",
    "/workflows/{workflow}",
    "/benchmarks",
    "/targets",
    "/prices",
    "/packages",
    "/packages/{package}",
    "/packages/{package}/download",
]


@pytest.mark.parametrize("path", READS)
def test_read_only_users_may_list_show_and_download(server, world, path):
    assert _call(server, world, "reader", "GET", path, {}).status_code == 200
    assert _call(server, world, "none", "GET", path, {}).status_code == 401


def test_authentication_failures_say_which(server, world):
    def detail(token: str | None) -> str:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = httpx.get(server.url + "/api/v1/projects", headers=headers)
        assert response.status_code == 401 and response.headers["www-authenticate"] == "Bearer"
        return response.json()["detail"]

    assert "missing API token" in detail(None)
    assert "unknown API token" in detail("farm_not-a-real-token")
    assert "revoked" in detail(world["tokens"]["revoked"])
    assert "gone@farm.test is deactivated" in detail(world["tokens"]["deactivated"])
    assert httpx.get(server.url + "/api/v1/health").json()["status"] == "ok"


def test_roles_are_named_in_403s(server, world):
    reader = _call(server, world, "reader", "POST", "/projects", {"json": {"name": "nope"}})
    assert reader.status_code == 403 and "reader@farm.test is read-only" in reader.json()["detail"]
    optimizer = _call(server, world, "optimizer", "GET", "/users", {})
    assert optimizer.status_code == 403 and "not an admin" in optimizer.json()["detail"]


def test_every_user_manages_only_their_own_tokens(server, world):
    ids = world["ids"]
    created = _call(server, world, "reader", "POST", "/tokens", {"json": {"name": "laptop"}})
    assert created.status_code == 201
    token = created.json()
    assert token["token"].startswith(token["prefix"]) and token["user_id"] == ids["reader"]
    with_new = httpx.get(server.url + "/api/v1/users/me", headers={"Authorization": f"Bearer {token['token']}"})
    assert with_new.json()["email"] == "reader@farm.test" and with_new.json()["read_only"] is True

    listed = _call(server, world, "reader", "GET", "/tokens", {}).json()
    assert {"default", "laptop"} <= {t["name"] for t in listed} and all(
        "token" not in t and t["user_id"] == ids["reader"] for t in listed
    )

    assert _call(server, world, "optimizer", "DELETE", f"/tokens/{token['id']}", {}).status_code == 404
    assert _call(server, world, "optimizer", "GET", f"/users/{ids['reader']}/tokens", {}).status_code == 403
    assert _call(server, world, "optimizer", "POST", f"/users/{ids['reader']}/tokens", {"json": {}}).status_code == 403
    revoked = _call(server, world, "reader", "DELETE", f"/tokens/{token['id']}", {})
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert (
        httpx.get(server.url + "/api/v1/users/me", headers={"Authorization": f"Bearer {token['token']}"}).status_code
        == 401
    )

    for_reader = _call(server, world, "admin", "POST", f"/users/{ids['reader']}/tokens", {"json": {"name": "issued"}})
    assert for_reader.status_code == 201 and for_reader.json()["user_id"] == ids["reader"]
    assert _call(server, world, "admin", "DELETE", f"/tokens/{for_reader.json()['id']}", {}).status_code == 200


def test_only_its_creator_its_projects_owners_or_an_admin_cancel_a_workflow(server, world):
    def start() -> str:
        body = {"json": {"model_id": world["ids"]["model"], "targets": ["x86-64"]}}
        created = _call(server, world, "admin", "POST", "/workflows", body)
        assert created.status_code == 201
        return created.json()["id"]

    def cancel(role: str, workflow: str) -> httpx.Response:
        return _call(server, world, role, "POST", f"/workflows/{workflow}/cancel", {})

    # the optimizer owns the model's project; a member who is neither creator nor owner is refused (test_tenancy.py)
    assert cancel("optimizer", start()).json()["state"] == "cancelled"
    assert cancel("admin", start()).json()["state"] == "cancelled"
