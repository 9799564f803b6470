"""Benchmark of the web dashboard's pages over a full registry; prints one JSON object.

The registry (SQLite, a fresh data folder) holds one project, one model with a tuned
variant per 5 workflows, 1,000 workflows over two device kinds (10 running, 20 pending,
the rest finished), each with a 60-task table in its progress, and 100,000 progress
points (100 per workflow). Each page is fetched `--repeat` times by a signed-in admin from
a live `uvicorn` server on loopback (the same process as `farm serve` runs), and its
median and p90 time to the last byte are reported, with the page's size. The target is
300 ms per page on a 2-core machine.

    python scripts/bench_dashboard.py [--workflows N] [--points N] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import httpx
import onnx

from farm.models.examples import resnet_cnn
from farm.registry import catalog, workflow_records
from farm.registry.schema import ProgressPoint
from tests.farm.api.server import LiveServer, RecordingWorkflows

KINDS = ["x86-64", "x86-64-v3"]
TASKS = 60


def task_table(rng: random.Random) -> list[dict]:
    return [
        {
            "task": f"fused_conv2d_add_relu_{i}",
            "flops": rng.uniform(1e6, 1e9),
            "weight": rng.randint(1, 4),
            "trials": rng.randint(0, 64),
            "best_us": rng.uniform(5, 2000),
            "gflops": rng.uniform(1, 150),
            "done": rng.random() < 0.5,
        }
        for i in range(TASKS)
    ]


def populate(server: LiveServer, admin: str, model_file: str, workflows: int, points: int) -> dict:
    """The registry described in the module docstring; the ids the pages need."""
    rng = random.Random(0)
    registry = server.registry
    per_workflow = points // workflows
    with registry.session() as s:
        project = catalog.create_project(s, "bench", owner_id=admin).id
        model = catalog.upload_model(
            s, registry.artifacts, model_file, name="resnet", project_id=project, created_by=admin
        )
        original = catalog.list_variants(s, model.id)[0].id
        key = catalog.list_variants(s, model.id)[0].artifact_key
    ids = {"model": model.id, "workflows": []}
    for n in range(workflows):
        with registry.session() as s:
            workflow = workflow_records.create_workflow(
                s, model.id, targets=KINDS, options={"trials": 1000}, created_by=admin, max_active=None
            )
            ids["workflows"].append(workflow.id)
            if n >= 20:  # the first 20 stay pending
                workflow_records.start_workflow(s, workflow.id, f"driver-{n}")
            tasks = task_table(rng)
            progress = {
                kind: {
                    "stage": "autotune",
                    "trials": per_workflow,
                    "total": 1000,
                    "best_latency_ms": 5.0,
                    "tasks": tasks,
                }
                for kind in KINDS
            }
            workflow_records.update_progress(s, workflow.id, progress)
            latency = 20.0
            for i in range(per_workflow):
                latency *= rng.uniform(0.97, 1.0)
                s.add(ProgressPoint(workflow_id=workflow.id, kind=KINDS[i % 2], trials=i * 10, best_latency_ms=latency))
            if n >= 30:  # 10 stay running
                if n % 5 == 0:
                    metrics = {"engine": "tvm", "best_latency_ms": latency, "ort_latency_ms": 9.0, "agrees": True}
                    catalog.add_variant(
                        s,
                        model.id,
                        kind=KINDS[n % 2],
                        artifact_key=key,
                        artifact_name="v.tar.gz",
                        size_bytes=registry.artifacts.size(key),
                        parent_id=original,
                        workflow_id=workflow.id,
                        metrics=metrics | {"cost_per_million_usd": latency / 100},
                    )
                workflow_records.complete_workflow(s, workflow.id, {})
    return ids


def timed(client: httpx.Client, path: str, repeat: int) -> dict:
    client.get(path)  # warm: templates compiled, connections open
    times, size = [], 0
    for _ in range(repeat):
        start = time.perf_counter()
        answer = client.get(path)
        times.append((time.perf_counter() - start) * 1e3)
        assert answer.status_code == 200, (path, answer.status_code)
        size = len(answer.content)
    times.sort()
    return {
        "median_ms": round(statistics.median(times), 1),
        "p90_ms": round(times[int(0.9 * (len(times) - 1))], 1),
        "bytes": size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workflows", type=int, default=1000)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model_file = os.path.join(tmp, "resnet.onnx")
        onnx.save(resnet_cnn(), model_file)
        server = LiveServer(os.path.join(tmp, "data"), workflows=RecordingWorkflows())
        try:
            admin, token = server.user("admin@bench.test", admin=True)
            start = time.perf_counter()
            ids = populate(server, admin, model_file, args.workflows, args.points)
            fill_s = time.perf_counter() - start
            client = httpx.Client(base_url=server.url, timeout=60)
            assert client.get("/ui/login", params={"token": token}).status_code == 303
            running = ids["workflows"][25]
            pages = {
                "workflows": "/ui/workflows",
                "workflow (running, 100 points, 2×60 tasks)": f"/ui/workflows/{running}",
                "models": "/ui/models",
                "model (all variants)": f"/ui/models/{ids['model']}?all=true",
                "model (best per kind)": f"/ui/models/{ids['model']}",
            }
            result = {name: timed(client, path, args.repeat) for name, path in pages.items()}
        finally:
            server.stop()
    print(
        json.dumps(
            {
                "workflows": args.workflows,
                "progress_points": args.points,
                "repeat": args.repeat,
                "fill_seconds": round(fill_s, 1),
                "target_ms": 300,
                "pages": result,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
