"""The dashboard's pages over a live server: sign-in, what each role sees, CSRF, nothing loaded from elsewhere.

The registry holds a model with a tuned variant, its benchmark and a package, a running
workflow with progress history and a task table, and a finished one, written through the
registry's own functions as a driver writes them; the browser tests
(`tests/farm/test_dashboard_browser.py`) show the same pages with a workflow that really ran.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx
import pytest

from farm.api.ui.session import COOKIE, csrf_token
from farm.cli.serve import dashboard_link
from farm.registry import access, catalog, workflow_records
from farm.registry.schema import Workflow

TASKS = [
    {
        "task": "fused_conv2d_add",
        "flops": 2.0e6,
        "weight": 2,
        "trials": 12,
        "best_us": 40.0,
        "gflops": 50.0,
        "done": False,
    },
    {"task": "fused_dense", "flops": 1.0e5, "weight": 1, "trials": 64, "best_us": 5.0, "gflops": 20.0, "done": True},
]


@pytest.fixture(scope="module")
def world(server, model_file):
    ids, tokens = {}, {}
    for name, roles in (
        ("owner", {}),
        ("viewer", {}),
        ("reader", {"can_optimize": False}),
        ("stranger", {}),
        ("admin", {"admin": True}),
    ):
        ids[name], tokens[name] = server.user(f"{name}@farm.test", **roles)
    store = server.registry.artifacts
    with server.registry.session() as s:
        project = catalog.create_project(s, "vision", owner_id=ids["owner"]).id
        access.set_member(s, project, ids["viewer"], "viewer")
        access.set_member(s, project, ids["reader"], "member")
        model = catalog.upload_model(s, store, model_file, name="tiny", project_id=project, created_by=ids["owner"])
        ids["model"], original = model.id, catalog.list_variants(s, model.id)[0].id
        running = workflow_records.create_workflow(
            s, model.id, targets=["x86-64", "x86-64-v3"], options={"trials": 64}, created_by=ids["owner"]
        )
        done = workflow_records.create_workflow(s, model.id, targets=["x86-64"], options={}, created_by=ids["owner"])
        ids["running"], ids["done"] = running.id, done.id
        for workflow_id in (running.id, done.id):
            workflow_records.start_workflow(s, workflow_id, "driver")
        for trials, latency in ((8, None), (16, 3.0), (32, 2.0), (48, 1.5)):
            progress = {"stage": "autotune", "trials": trials, "total": 64, "best_latency_ms": latency, "tasks": TASKS}
            progress["best_so_far"] = {"engine": "openvino", "latency_ms": 1.75}  # the library engines' first answer
            workflow_records.update_progress(s, running.id, {"x86-64": progress})
        key = store.put_file(model_file)
        metrics = {
            "engine": "tvm",
            "best_latency_ms": 1.25,
            "best_p90_ms": 1.4,
            "ort_latency_ms": 2.5,
            "speedup_vs_ort": 2.0,
            "agrees": True,
            "cost_per_million_usd": 0.031,
        }
        tuned = catalog.add_variant(
            s,
            model.id,
            kind="x86-64",
            artifact_key=key,
            artifact_name="tiny-x86-64.tar.gz",
            size_bytes=store.size(key),
            parent_id=original,
            workflow_id=done.id,
            metrics=metrics,
        )
        slower = catalog.add_variant(
            s,
            model.id,
            kind="x86-64",
            artifact_key=key,
            artifact_name="tiny-x86-64-old.tar.gz",
            size_bytes=store.size(key),
            parent_id=original,
            metrics={**metrics, "best_latency_ms": 2.0, "speedup_vs_ort": 1.25},
        )
        ids["tuned"], ids["slower"] = tuned.id, slower.id
        report = {"engine": "tvm", "engines": {"tvm": {"stats": {"std_ms": 0.0625}}}}
        catalog.add_benchmark(s, tuned.id, kind="x86-64", results=report, workflow_id=done.id)
        ids["package"] = catalog.add_package(
            s, tuned.id, format="wheel", artifact_key=key, artifact_name="tiny.whl", size_bytes=store.size(key)
        ).id
        progress = {"stage": "done", "trials": 64, "total": 64, "best_latency_ms": 1.3}
        progress["profile"] = {"search_seconds": 3.0, "build_seconds": 5.0, "measure_seconds": 9.0}
        progress["reuse"] = {"trials_measured": 64, "trials_reused": 10, "pretrain_samples": 120}
        workflow_records.update_progress(s, done.id, {"x86-64": progress})
        workflow_records.complete_workflow(s, done.id, {})
    return {"ids": ids, "tokens": tokens}


def browser(server, world, who: str) -> httpx.Client:
    """A client signed in as `who` through the login link, holding the session cookie as a browser would."""
    client = httpx.Client(base_url=server.url, timeout=30)
    answer = client.get("/ui/login", params={"token": world["tokens"][who]})
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/workflows"
    cookie = answer.headers["set-cookie"].lower()
    assert all(flag in cookie for flag in ("httponly", "samesite=strict", "path=/ui"))
    return client


class Links(HTMLParser):
    """Every URL a page refers to (href, src, action), and every inline `style`/`<style>` text."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.urls += [v for k, v in attrs if k in ("href", "src", "action", "srcset", "xlink:href") and v]


def test_signing_in_with_the_printed_link_or_the_form_and_out(server, world):
    anonymous = httpx.Client(base_url=server.url, timeout=30)
    answer = anonymous.get("/ui/workflows/" + world["ids"]["running"])
    assert answer.status_code == 303 and answer.headers["location"].startswith("/ui/login?next=%2Fui%2Fworkflows%2F")
    bad = anonymous.get("/ui/login", params={"token": "farm_wrong"})
    assert (
        bad.status_code == 200 and "unknown API token" in bad.text and COOKIE not in bad.headers.get("set-cookie", "")
    )
    form = anonymous.post("/ui/login", data={"token": world["tokens"]["owner"], "next": "/ui/models"})
    assert form.status_code == 303 and form.headers["location"] == "/ui/models"
    offsite = anonymous.post("/ui/login", data={"token": world["tokens"]["owner"], "next": "https://evil.example/"})
    assert offsite.headers["location"] == "/ui/workflows"
    client = browser(server, world, "owner")
    page = client.get("/ui/workflows")
    assert page.status_code == 200 and "owner@farm.test" in page.text
    csrf = csrf_token(world["tokens"]["owner"])
    assert client.post("/ui/logout", data={"csrf": "forged"}).status_code == 403
    out = client.post("/ui/logout", data={"csrf": csrf})
    assert out.status_code == 303 and 'farm_session=""' in out.headers["set-cookie"]
    client.cookies.clear()
    assert client.get("/ui/workflows").status_code == 303


def test_the_queue_shows_state_progress_and_cancel_only_to_those_allowed(server, world):
    ids = world["ids"]
    page = browser(server, world, "owner").get("/ui/workflows").text
    running = page[page.index("<h2>Running") : page.index("<h2>Pending")]
    assert ids["running"][:12] in running and "48/64" in running and "owner@farm.test" in running
    assert 'best so far <span class="best-so-far">openvino 1.75 ms</span>' in running
    assert f'action="/ui/workflows/{ids["running"]}/cancel"' in running
    recent = page[page.index("<h2>Recent") :]
    assert ids["done"][:12] in recent and "completed" in recent and "/cancel" not in recent
    for who in ("viewer", "reader"):  # a project viewer; a member whose account is read-only
        page = browser(server, world, who).get("/ui/workflows").text
        assert ids["running"][:12] in page and "/cancel" not in page and "Cancel" not in page
    page = browser(server, world, "stranger").get("/ui/workflows").text
    assert ids["running"][:12] not in page and "Nothing is running." in page


def test_a_workflow_page_draws_its_curve_tasks_profile_and_reuse(server, world):
    client = browser(server, world, "owner")
    page = client.get(f"/ui/workflows/{world['ids']['running']}").text
    assert "data-live" in page  # refreshed while it runs
    path = re.search(r'<path d="([^"]+)" stroke="[^"]+" class="series"><title>x86-64</title>', page)
    assert path and path.group(1).count("H") == 2  # three estimates: 16, 32, 48 trials (the first had none)
    rows = re.findall(r"<tr><td><code>(\w+)</code></td>", page)
    assert rows == ["fused_conv2d_add", "fused_dense"]  # heaviest first: weight × best time
    assert "2,000,000" in page and '<td class="num">40</td>' in page and "✓" in page
    done = client.get(f"/ui/workflows/{world['ids']['done']}").text
    assert "data-live" not in done and "<title>x86-64</title>" in done  # one point, at 64 trials
    assert re.findall(r"<rect [^>]*><title>(\w+): ([\d.]+) s</title>", done) == [
        ("search", "3.0"),
        ("build", "5.0"),
        ("measure", "9.0"),
    ]
    assert "64 records measured, 10 reused" in done and "pre-trained on 120 samples" in done
    assert world["ids"]["tuned"][:12] in done  # the variant it made


def test_the_model_page_highlights_the_best_variant_per_kind_and_downloads_what_the_api_does(server, world):
    ids, client = world["ids"], browser(server, world, "viewer")
    page = client.get(f"/ui/models/{ids['model']}").text
    best = re.search(rf'<tr id="{ids["tuned"]}" class="best">(.*?)</tr>', page, re.DOTALL).group(1)
    assert "1.25 ms" in best and "1.4 ms" in best and "0.0625 ms" in best and "2.00×" in best and "0.031" in best
    assert ids["slower"] not in page and "(1 more)" in page
    every = client.get(f"/ui/models/{ids['model']}", params={"all": "true"}).text
    assert f'<tr id="{ids["slower"]}" class="">' in every
    assert "<circle" in page  # latency × cost scatter: the variants are priced
    api = {"Authorization": f"Bearer {world['tokens']['viewer']}"}
    for ui_path, api_path in (
        (f"/ui/variants/{ids['tuned']}/download", f"/api/v1/variants/{ids['tuned']}/download"),
        (f"/ui/packages/{ids['package']}/download", f"/api/v1/packages/{ids['package']}/download"),
    ):
        assert ui_path in page
        got = client.get(ui_path)
        assert got.status_code == 200 and got.content == httpx.get(server.url + api_path, headers=api).content
    stranger = browser(server, world, "stranger")
    for path in (
        f"/ui/models/{ids['model']}",
        f"/ui/workflows/{ids['running']}",
        f"/ui/variants/{ids['tuned']}/download",
    ):
        answer = stranger.get(path)
        assert answer.status_code == 404 and "not found" in answer.text


def test_cancel_needs_the_forms_csrf_token_and_the_right(server, world, service):
    ids = world["ids"]
    path = f"/ui/workflows/{ids['running']}/cancel"
    viewer = browser(server, world, "viewer")
    assert viewer.post(path, data={"csrf": csrf_token(world["tokens"]["viewer"])}).status_code == 403
    owner = browser(server, world, "owner")
    for forged in ({}, {"csrf": "0" * 64}, {"csrf": csrf_token(world["tokens"]["viewer"])}):
        assert owner.post(path, data=forged).status_code == 403
    with server.registry.session() as s:
        assert s.get(Workflow, ids["running"]).state == "running"
    answer = owner.post(path, data={"csrf": csrf_token(world["tokens"]["owner"])})
    assert answer.status_code == 303 and answer.headers["location"] == f"/ui/workflows/{ids['running']}"
    with server.registry.session() as s:
        assert s.get(Workflow, ids["running"]).state == "cancelled"
    assert ids["running"] in service.cancelled


def test_pages_load_nothing_from_elsewhere_and_stay_out_of_the_openapi_schema(server, world):
    client = browser(server, world, "owner")
    ids = world["ids"]
    pages = [
        "/ui/login",
        "/ui/workflows",
        "/ui/models",
        f"/ui/models/{ids['model']}",
        f"/ui/workflows/{ids['done']}",
        "/ui/cluster",
        "/ui/database",
    ]
    assets = set()
    for path in pages:
        answer = client.get(path)
        assert answer.status_code == 200, path
        links = Links()
        links.feed(answer.text)
        assert all(u.startswith("/") and not u.startswith("//") or u.startswith("?") for u in links.urls), (
            path,
            links.urls,
        )
        assets |= {u for u in links.urls if u.startswith("/ui/static/")}
    assert assets == {"/ui/static/farm.css", "/ui/static/live.js"}
    for asset in assets:
        text = client.get(asset).text
        assert not re.search(r"https?://|//[a-z]", text.replace("http-equiv", "")), asset
    assert not any(p.startswith("/ui") for p in httpx.get(server.url + "/openapi.json").json()["paths"])


def test_the_database_page_names_models_to_admins_only(server, world):
    """The tuning database is shared by every tenant: the model a workload was first tuned for is another tenant's name."""
    assert "another-tenants-model" not in browser(server, world, "owner").get("/ui/database").text
    assert "another-tenants-model" in browser(server, world, "admin").get("/ui/database").text


def test_farm_serve_prints_a_sign_in_link_that_signs_in(server, world, monkeypatch):
    monkeypatch.setenv("FARM_API_TOKEN", world["tokens"]["owner"])
    link = dashboard_link(server.registry, "0.0.0.0", 8000)
    assert link == f"http://127.0.0.1:8000/ui/login?token={world['tokens']['owner']}"
    answer = httpx.get(server.url + link.removeprefix("http://127.0.0.1:8000"))
    assert answer.status_code == 303 and answer.headers["location"] == "/ui/workflows"
    monkeypatch.setenv("FARM_API_TOKEN", "farm_revoked")
    assert dashboard_link(server.registry, "::1", 80).startswith("http://[::1]:80/ui/login (sign in with an API token")
