"""The registry does not serialize the API (issue 12 item 3): a model being parsed holds no database lock."""

from __future__ import annotations

import itertools
import threading
import time

import httpx
import onnx
from onnx import TensorProto, helper

from farm.registry import catalog, workflow_records
from farm.registry.catalog import store_model_file

CHAIN = 150_000  # Relu nodes of the first model tried; the test doubles it until the parse takes long enough
PARSE_S = 2.0  # how long the upload's parse should last, so that many reads and writes fit in it
MAX_CHAIN = 4_800_000  # the longest chain tried (memory), whatever the machine's speed


def long_model(path: str, chain: int) -> None:
    """A valid ONNX model whose parse and check take a while: a chain of `chain` Relu nodes."""
    names = ["x"] + [f"t{i}" for i in range(chain - 1)] + ["y"]
    nodes = [helper.make_node("Relu", [a], [b]) for a, b in itertools.pairwise(names)]
    graph = helper.make_graph(
        nodes,
        "long",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    onnx.save(model, path)


def test_reads_and_a_drivers_progress_update_answer_while_a_model_is_parsed(server, tmp_path, model_file):
    path, chain = str(tmp_path / "long.onnx"), CHAIN
    while True:  # sized by measuring: a faster machine gets a longer chain, so the upload still outlasts many reads
        long_model(path, chain)
        start = time.monotonic()
        store_model_file(server.registry.artifacts, path)
        parse_s = time.monotonic() - start
        if parse_s >= PARSE_S or chain >= MAX_CHAIN:
            break
        chain *= 2

    _user_id, token = server.user("busy@locking.test", can_optimize=True)
    api = httpx.Client(base_url=server.url + "/api/v1", headers={"Authorization": f"Bearer {token}"}, timeout=60)
    with open(model_file, "rb") as f:
        small = api.post("/models", files={"file": ("small.onnx", f.read())}, data={"name": "small"}).json()
    workflow = api.post("/workflows", json={"model_id": small["id"], "targets": ["x86-64"]}).json()

    uploaded = {}

    def upload() -> None:
        with open(path, "rb") as f:
            uploaded["answer"] = api.post("/models", files={"file": ("long.onnx", f)}, data={"name": "long"})

    uploader = threading.Thread(target=upload)
    uploader.start()
    reads, writes = [], []
    while uploader.is_alive():
        t0 = time.monotonic()
        assert api.get("/users/me").status_code == 200
        reads.append(time.monotonic() - t0)
        t0 = time.monotonic()
        with server.registry.session() as s:  # what a workflow's driver does as it tunes
            workflow_records.update_progress(s, workflow["id"], {"x86-64": {"trials": len(writes)}})
        writes.append(time.monotonic() - t0)
    uploader.join()
    assert uploaded["answer"].status_code == 201, uploaded["answer"].text
    assert len(reads) >= 3, "the checks ran while the upload was in progress"
    # each answered in a small part of the parse's time, and within half a second whatever the machine
    bound = min(0.5, parse_s / 4)
    assert max(reads) < bound and max(writes) < bound, (max(reads), max(writes), parse_s)


def test_reads_do_not_wait_for_a_writer_holding_the_lock(server):
    """A GET reads a snapshot (a deferred transaction) while a long write transaction holds SQLite's write lock."""
    user_id, token = server.user("reader@locking.test")
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=server.url + "/api/v1", headers=headers, timeout=60) as api:
        assert api.get("/projects").status_code == 200  # the token's last use is recorded now, not under the lock
        with server.registry.session() as s:  # a writer in the middle of its transaction
            catalog.create_project(s, "uncommitted", owner_id=user_id)
            t0 = time.monotonic()
            listed = api.get("/projects")
            waited = time.monotonic() - t0
            assert listed.status_code == 200 and listed.json()["items"] == [], "the snapshot has no uncommitted project"
            assert waited < 0.5, waited
        assert [p["name"] for p in api.get("/projects").json()["items"]] == ["uncommitted"]
