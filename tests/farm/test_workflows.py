"""Workflows end to end: the API server dispatches them to driver actors on a two-kind Ray cluster.

Real parts only: the farm's API server (uvicorn on loopback) with its `WorkflowService`
on the test module's Ray cluster (head + x86-64 ×2 + x86-64-v3), a real SQLite
registry, real tuning of a tiny ONNX model, its benchmark (batch sweep, SLA, cost) and
packages (the ranked zip read back, a tarball loaded by the runtime), a webhook
receiver on loopback, `ray job submit` against the cluster's job server, and the web
dashboard in headless Chromium following a workflow as it runs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tarfile
import time
import zipfile

import httpx
import numpy as np
import onnx
import pytest
import ray

from cluster.actors import NAMESPACE
from cluster.devices import kind_named
from farm.client import Client, WorkflowFailed
from farm.models.examples import resnet_cnn
from farm.models.onnx_import import random_inputs
from farm.registry import catalog, offers
from farm.runtime import load_model
from farm.workflows.driver import driver_alive, driver_name
from farm.workflows.notify import WebhookPolicy
from farm.workflows.service import DRIVER_LOST, WorkflowService
from tests.conftest import ort_session
from tests.farm.api.server import LiveServer
from tests.farm.receivers import Receiver, Tarpit
from tests.ray_cluster import CORES
from tuning_db.database import TuningDatabase

pytestmark = [pytest.mark.slow, pytest.mark.cluster]

CHROMIUM = "/usr/bin/chromium"  # Debian's, which .ci/run installs (FARM_REQUIRE_BROWSER=1); never a downloaded build
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def farm(tmp_path_factory, farm_cluster):
    data = tmp_path_factory.mktemp("farm-data")
    db_uri = str(data / "tuning-db")
    from farm.registry import Registry

    receivers = WebhookPolicy(allow_private=True)  # the test's own webhook receiver is on loopback
    service = WorkflowService(
        Registry.for_data_dir(str(data)),
        address=farm_cluster.cluster.address,
        db_uri=db_uri,
        work_root=str(data / "work"),
        max_running=2,
        poll_s=0.5,
        webhooks=receivers,
    )
    server = LiveServer(str(data), workflows=service, allow_private_webhooks=True)
    _, token = server.user("admin@example.com", admin=True)
    models = tmp_path_factory.mktemp("models")
    onnx.save(resnet_cnn(size=8, width=4, blocks=0), str(models / "tiny.onnx"))
    onnx.save(resnet_cnn(size=8, width=4, blocks=0, classes=5, seed=1), str(models / "other.onnx"))
    onnx.save(resnet_cnn(size=8, width=4, blocks=0, dynamic_batch=True), str(models / "batchable.onnx"))
    yield {
        "server": server,
        "client": Client(server.url, token),
        "token": token,
        "db": db_uri,
        "data": str(data),
        "models": models,
        "head": farm_cluster.cluster.head_node,
    }
    service.close()
    service.registry.close()
    server.stop()


def _job_records(db_uri: str, kind: str, workflow_id: str) -> set[str]:
    return TuningDatabase(db_uri).view(kind_named(kind, CORES).target_key).record_ids_of_job(workflow_id[:12])


def test_a_workflow_for_two_kinds_completes_with_verified_variants_and_notifies(farm, tmp_path):
    client, hook = farm["client"], Receiver()
    client.set_price("x86-64", 0.36)
    model = client.upload_model(str(farm["models"] / "batchable.onnx"), name="tiny")
    workflow = model.optimize(
        targets=["x86-64", "x86-64-v3"],
        trials=64,
        trials_per_task=1,
        webhook_url=hook.url,
        input_shapes={"input": [1, 3, 8, 8]},
        stages={"autotune": True, "benchmark": True, "package": True},
        benchmark={"repeat": 10, "batch_sizes": [1, 2], "sla_ms": 1000.0},
        priorities=["agrees", "-tvm_latency_ms"],
    )
    assert workflow.state == "pending"
    workflow.wait(timeout=600, poll=1.0)
    assert workflow.state == "completed" and workflow.error is None
    assert workflow.started_at and workflow.finished_at >= workflow.started_at
    variants = {v.kind: v for v in workflow.variants()}
    assert sorted(variants) == ["x86-64", "x86-64-v3"]
    original = next(v for v in model.variants() if v.kind == "original")
    for kind, variant in variants.items():
        assert variant.parent_id == original.id and variant.target["mcpu"] == kind
        assert variant.metrics["agrees"] and variant.metrics["trials_measured"] > 0
        assert workflow.outputs["variants"][kind]["variant_id"] == variant.id
        assert workflow.progress[kind]["stage"] == "done" and workflow.progress[kind]["trials"] > 0
        with tarfile.open(variant.download(str(tmp_path))) as tar:
            names = set(tar.getnames())
            assert {"model.so", "metadata.json", "benchmark.json"} <= {os.path.basename(n) for n in names}
            meta = json.load(tar.extractfile(next(m for m in tar.getmembers() if m.name.endswith("metadata.json"))))
            assert meta["kind"] == kind and meta["inputs"][0]["shape"] == [1, 3, 8, 8]
    metrics = {m["kind"]: m for m in workflow.metrics()}
    assert sorted(metrics) == ["x86-64", "x86-64-v3"]
    assert all(
        m["results"]["agrees"] and m["results"]["tvm_latency_ms"] > 0 and m["results"]["ort_latency_ms"] > 0
        for m in metrics.values()
    )
    for kind, m in metrics.items():
        sweep = m["results"]["batch_sweep"]
        assert [r["batch_size"] for r in sweep] == [1, 2] and all(
            r["agrees"] and r["throughput_per_s"] > 0 for r in sweep
        )
        assert m["results"]["sla"] == {"p90_ms": 1000.0, "max_batch_size": 2} and isinstance(
            m["results"]["warnings"], list
        )
    assert (
        metrics["x86-64"]["results"]["cost_per_million_usd"] > 0
        and metrics["x86-64"]["results"]["usd_per_hour"] == 0.36
    )
    assert metrics["x86-64-v3"]["results"]["cost_per_million_usd"] is None

    ranking = workflow.ranking()
    assert [r["rank"] for r in ranking] == [1, 2] and {r["target"] for r in ranking} == {"x86-64", "x86-64-v3"}
    latencies = [variants[r["target"]].metrics["tvm_latency_ms"] for r in ranking]
    assert latencies == sorted(latencies) and ranking[0]["metrics"]["agrees"]["priority"] == 1
    packages = workflow.packages()
    assert sorted(p.format for p in packages) == ["dockerfile", "tarball", "tarball", "wheel", "wheel", "zip"]
    (zipped,) = workflow.packages(format="zip")
    with zipfile.ZipFile(zipped.download(str(tmp_path))) as archive:
        assert json.loads(archive.read("models_rank.json")) == ranking
        assert any(
            n.startswith(f"CandidateModels/{ranking[0]['target']}/BestCandidateModel_1/") for n in archive.namelist()
        )
    v3_tarball = next(p for p in workflow.packages(format="tarball") if p.variant_id == variants["x86-64-v3"].id)
    with tarfile.open(v3_tarball.download(str(tmp_path / "v3.tar.gz"))) as tar:
        tar.extractall(tmp_path / "v3", filter="data")
    (folder,) = (tmp_path / "v3").iterdir()
    loaded = load_model(str(folder))
    inputs = random_inputs(loaded.inputs)
    expected = ort_session(str(farm["models"] / "batchable.onnx")).run(None, inputs)
    assert np.abs(loaded.run(inputs)[loaded.output_names[0]] - expected[0]).max() < 1e-3
    assert [(h["id"], h["state"]) for h in hook.wait(1, timeout=10)] == [(workflow.id, "completed")]


def test_a_workflow_whose_driver_dies_mid_tuning_fails_and_keeps_its_records(farm):
    client = farm["client"]
    model = client.upload_model(str(farm["models"] / "other.onnx"), name="other")
    workflow = model.optimize(targets=["x86-64-v3"], trials=400, trials_per_task=64)
    deadline = time.monotonic() + 300
    while not (workflow.status() == "running" and (workflow.progress["x86-64-v3"].get("trials") or 0) > 0):
        assert time.monotonic() < deadline and workflow.state in ("pending", "running"), workflow.as_json()
        time.sleep(0.5)
    kept = _job_records(farm["db"], "x86-64-v3", workflow.id)
    assert kept, "the first measured batch is committed to the tuning database"
    ray.kill(ray.get_actor(driver_name(workflow.id), namespace=NAMESPACE), no_restart=True)
    with pytest.raises(WorkflowFailed):
        workflow.wait(timeout=60, poll=0.5)
    assert workflow.state == "failed" and workflow.error == DRIVER_LOST
    assert kept <= _job_records(farm["db"], "x86-64-v3", workflow.id)


def test_a_cancelled_workflow_stops_its_driver(farm):
    client = farm["client"]
    model = client.model(next(m for m in client.models() if m.name == "other").id)
    tarpit = Tarpit()  # its webhook never finishes answering
    workflow = model.optimize(targets=["x86-64"], trials=400, trials_per_task=64, webhook_url=tarpit.url)
    deadline = time.monotonic() + 120
    while workflow.status() == "pending":
        assert time.monotonic() < deadline
        time.sleep(0.2)
    start = time.monotonic()
    workflow.cancel()
    assert time.monotonic() - start < 1.0, "the webhook is delivered off the request path"
    tarpit.close()
    assert workflow.state == "cancelled" and workflow.finished_at is not None
    deadline = time.monotonic() + 30
    while driver_alive(driver_name(workflow.id)):
        assert time.monotonic() < deadline, "the driver actor was not stopped"
        time.sleep(0.2)
    assert workflow.status() == "cancelled", "nothing the stopped driver did afterwards changed the state"


def test_ray_job_submit_runs_a_workflow_into_the_same_registry(farm):
    client = farm["client"]
    model = client.upload_model(str(farm["models"] / "tiny.onnx"), name="submitted")
    dashboard = "http://" + farm["head"].address_info["webui_url"]
    proc = subprocess.run(
        [
            "ray",
            "job",
            "submit",
            "--address",
            dashboard,
            "--working-dir",
            REPO,
            "--",
            "farm",
            "workflow",
            "run",
            model.id,
            "--target",
            "x86-64-v3",
            "--trials",
            "4",
            "--data-dir",
            farm["data"],
            "--db",
            farm["db"],
            "--token",
            farm["token"],
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    done = [w for w in client.workflows(model_id=model.id) if w.options.get("trials") == 4]
    assert len(done) == 1 and done[0].state == "completed", [w.as_json() for w in done]
    (variant,) = done[0].variants()
    assert variant.kind == "x86-64-v3" and variant.metrics["agrees"] and variant.metrics["trials_measured"] <= 4


def test_the_dashboard_in_a_real_browser_follows_a_workflow_as_it_runs(farm, tmp_path_factory):
    """Headless Chromium (Debian's, driven by Playwright) on the live server: sign in with the form, watch the queue
    change without reloading while the workflow runs, then its curve and task table, the model's best variant and a
    download; a read-only viewer signed in with the link sees no control that changes anything. Screenshots are saved."""
    if not os.path.exists(CHROMIUM):
        missing = f"{CHROMIUM} is missing: install Debian's chromium package"
        pytest.fail(missing) if os.environ.get("FARM_REQUIRE_BROWSER") else pytest.skip(missing)
    from playwright.sync_api import expect, sync_playwright

    client, server = farm["client"], farm["server"]
    _, reader_token = server.user("reader@example.com", can_optimize=False)
    project = client.create_project("dashboard")
    project.set_member("reader@example.com", "viewer")
    model = client.upload_model(str(farm["models"] / "tiny.onnx"), name="watched", project=project)
    shots = tmp_path_factory.mktemp("dashboard-screenshots")
    print(f"\ndashboard screenshots: {shots}")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        admin = browser.new_context(accept_downloads=True).new_page()
        admin.goto(server.url + "/ui/workflows")
        expect(admin).to_have_url(re.compile(r"/ui/login\?next="))
        admin.fill("input[name=token]", farm["token"])
        admin.click("button[type=submit]")
        expect(admin).to_have_url(server.url + "/ui/workflows")

        workflow = model.optimize(
            targets=["x86-64-v3"], trials=10, trials_per_task=2, stages={"package": False}, benchmark={"repeat": 10}
        )
        row = admin.locator(f"tr:has(a[href='/ui/workflows/{workflow.id}'])")
        expect(row.locator(".state")).to_have_text("running", timeout=120_000)  # the page was never reloaded
        expect(row.locator("button", has_text="Cancel")).to_be_visible()
        admin.screenshot(path=str(shots / "workflows-running.png"), full_page=True)

        reader = browser.new_context().new_page()
        reader.goto(f"{server.url}/ui/login?token={reader_token}")
        expect(reader).to_have_url(server.url + "/ui/workflows")
        expect(reader.locator(f"a[href='/ui/workflows/{workflow.id}']")).to_be_visible()
        assert reader.locator("main form, main button").count() == 0, "a read-only viewer sees no mutating control"
        reader.screenshot(path=str(shots / "workflows-read-only.png"), full_page=True)

        expect(row.locator(".state")).to_have_text("completed", timeout=600_000)
        admin.screenshot(path=str(shots / "workflows-completed.png"), full_page=True)
        admin.click(f"a[href='/ui/workflows/{workflow.id}']")
        expect(admin.locator("svg.curve path.series")).to_have_count(1)
        assert admin.locator("table.tasks tbody tr").count() > 0
        admin.screenshot(path=str(shots / "workflow.png"), full_page=True)

        admin.goto(f"{server.url}/ui/models/{model.id}")
        (variant,) = workflow.variants()
        best = admin.locator(f"tr.best[id='{variant.id}']")
        expect(best).to_contain_text("x86-64-v3")
        expect(best).to_contain_text(f"{variant.metrics['best_latency_ms']:.3g} ms")
        with admin.expect_download() as download:
            best.locator("a.download").first.click()
        api = httpx.get(
            f"{server.url}/api/v1/variants/{variant.id}/download", headers={"Authorization": f"Bearer {farm['token']}"}
        )
        with open(download.value.path(), "rb") as f:
            assert f.read() == api.content
        admin.screenshot(path=str(shots / "model.png"), full_page=True)
        reader.goto(f"{server.url}/ui/models/{model.id}")
        assert reader.locator("main form, main button").count() == 0

        admin.goto(f"{server.url}/ui/cluster")
        for kind in ("x86-64", "x86-64-v3"):
            expect(admin.locator("table.nodes tr.alive", has_text=kind).first).to_be_visible()
        measured = admin.locator("table.nodes td.num", has_text="x86-64-v3:")
        assert measured.count() > 0, "the measurement counters of the x86-64-v3 nodes are read from their exports"
        admin.screenshot(path=str(shots / "cluster.png"), full_page=True)
        admin.goto(f"{server.url}/ui/database")
        target_key = kind_named("x86-64-v3", CORES).target_key
        row = admin.locator("table.targets tr", has_text=target_key)
        expect(row).to_be_visible()
        assert int(row.locator("td.num").first.inner_text().replace(",", "")) >= variant.metrics["trials_measured"]
        assert admin.locator("table.largest tbody tr").count() > 0
        admin.screenshot(path=str(shots / "database.png"), full_page=True)
        browser.close()


def test_an_accepted_offer_compiles_from_the_records_and_keeps_the_variant_only_if_faster(farm):
    """The cluster half of offers: accepting one runs a workflow with 0 trials that measures nothing, benchmarks the
    compiled variant and keeps it only if it beats the offered one relative to ONNX Runtime, closing the offer with
    both figures. (When offers are made is tested over a real registry and tuning database in
    `tests/farm/registry/test_offers.py`.)"""
    client, registry = farm["client"], farm["server"].registry
    watched = next(m for m in client.models() if m.name == "watched")  # tuned by the dashboard's test above
    (variant,) = [v for v in watched.variants() if v.kind == "x86-64-v3"]
    assert variant.metrics["workloads"] and all(w["us"] > 0 for w in variant.metrics["workloads"].values())
    with registry.session() as s:  # as `farm.offers.check_offers` makes one
        offer_id = offers.create_offer(
            s,
            catalog.get_variant(s, variant.id),
            old_latency_ms=variant.metrics["best_latency_ms"],
            estimated_latency_ms=variant.metrics["tvm_latency_ms"] * 0.8,
            improved=[],
        ).id
    workflow = client.offer(offer_id).accept()
    assert workflow.options["trials"] == 0
    workflow.wait(timeout=600, poll=1.0)
    assert workflow.state == "completed", workflow.error
    assert _job_records(farm["db"], "x86-64-v3", workflow.id) == set(), "nothing was measured anew"
    offer = client.offer(offer_id)
    figures = ("old_latency_ms", "old_ort_latency_ms", "new_latency_ms", "new_ort_latency_ms")
    assert offer.state in ("confirmed", "not_confirmed") and all(offer.result[k] > 0 for k in figures), offer.result
    assert offer.result["old_latency_ms"] == variant.metrics["best_latency_ms"]
    made = workflow.variants()
    if offer.state == "confirmed":
        assert [v.id for v in made] == [offer.result["variant_id"]] and offer.result["new_vs_ort"] < offer.result[
            "old_vs_ort"
        ]
    else:
        assert made == [] and "not confirmed on the device" in offer.result["reason"]
        assert offer.result["new_vs_ort"] >= offer.result["old_vs_ort"]
