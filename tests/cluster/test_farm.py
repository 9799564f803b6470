"""The Ray farm on a real multi-node cluster: placement, builds, MetaSchedule sessions per kind, metrics, and a lost node.

The tests run in file order on one shared cluster; the fault test, which kills nodes,
comes last.
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest
import ray
import tvm
import tvm.s_tir.meta_schedule as ms
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy
from tvm.s_tir.meta_schedule.arg_info import ArgInfo
from tvm.s_tir.meta_schedule.builder import BuilderInput
from tvm.s_tir.meta_schedule.runner import RunnerInput
from tvm.s_tir.meta_schedule.utils import remove_build_dir

from cluster.artifacts import ROOT_PREFIX, ArtifactRegistry
from cluster.builder import RayBuilder
from cluster.launcher import free_port
from cluster.measurement import MeasureSettings
from cluster.metrics import BEST_LATENCY, BUILT, MEASURED, QUEUE_DEPTH, PublishBestLatency, exported, metrics
from cluster.nodes import NoDeviceError
from cluster.priority import BACKGROUND, yield_cpu
from cluster.runner import RayRunner
from cluster.tvm_intrinsics import import_tensor_intrinsics
from tests.ray_cluster import OBJECT_STORE
from tests.tuning_db.workloads import matmul
from tuning_db import TuningDatabase
from tuning_db.metaschedule import ParquetDatabase, measure_callbacks

import_tensor_intrinsics()  # MetaSchedule runs in this process: 4 s instead of ~100 s under pytest's stack

pytestmark = pytest.mark.cluster

FAST = MeasureSettings(min_repeat_ms=10)


@pytest.fixture(scope="module")
def builder(farm_cluster) -> RayBuilder:
    b = RayBuilder()
    b.warm_up()
    return b


def built_inputs(builder: RayBuilder, kind, n: int = 1, size: int = 32) -> list[RunnerInput]:
    """`n` measurable copies of one built `size`×`size` matmul for `kind`."""
    mod = matmul(size)
    result = builder.build([BuilderInput(mod, tvm.target.Target(kind.target))])[0]
    assert result.error_msg is None, result.error_msg
    ref, _ = builder.artifacts.resolve(result.artifact_path)
    args = ArgInfo.from_prim_func(mod["main"])
    return [RunnerInput(builder.artifacts.register(ref), "cpu", args) for _ in range(n)]


def measured_on(runner: RayRunner, inputs: list[RunnerInput]) -> list[dict]:
    return [runner.provenance(str(i.artifact_path)) for i in inputs]


def wait_until_gone(runner: RayRunner, node_id: str, timeout: float = 60) -> None:
    """Until the killed node is declared dead and its device actor refuses calls (a killed raylet's worker may linger)."""
    actors = [d.actor for d in runner.pool.devices if d.node_id == node_id]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.2)
        if any(n["NodeID"] == node_id and n["Alive"] for n in ray.nodes()):
            continue
        if not actors:
            return
        try:
            ray.get([a.describe.remote() for a in actors], timeout=5)
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            return
    raise AssertionError(f"node {node_id[:12]} still serves {timeout} s after it was killed")


def test_actors_of_a_kind_live_only_on_nodes_of_that_kind(farm_cluster):
    for kind in ["x86-64", "x86-64-v3"]:
        runner = RayRunner(kind)
        placed = ray.get([d.actor.describe.remote() for d in runner.pool.devices])
        assert {p["node_id"] for p in placed} == farm_cluster.node_ids(kind)
        assert all(p["num_threads"] == 2 and p["device_fingerprint"].endswith(p["node_id"][:12]) for p in placed)


def test_builds_yield_the_cpu_to_measurements_which_keep_theirs(farm_cluster, builder):
    @ray.remote(runtime_env=BACKGROUND)
    def background_policy() -> bool:
        yield_cpu()
        return os.sched_getscheduler(0) == os.SCHED_IDLE

    assert ray.get(background_policy.remote())
    built_inputs(builder, RayRunner("x86-64").device_kind, n=2)
    placed = ray.get(
        [d.actor.describe.remote() for d in RayRunner("x86-64-v3").pool.devices + RayRunner("x86-64").pool.devices]
    )
    assert placed and not any(p["yields_cpu"] for p in placed)


def test_a_kind_no_node_serves_fails_at_once_naming_the_kinds_there_are(farm_cluster):
    start = time.monotonic()
    with pytest.raises(NoDeviceError, match=r"'x86-64-v4'.*kinds served: x86-64, x86-64-v3"):
        RayRunner("x86-64-v4")
    assert time.monotonic() - start < 10


def test_build_errors_are_results_and_good_candidates_still_build(farm_cluster, builder):
    arm = tvm.target.Target({"kind": "llvm", "mtriple": "aarch64-linux-gnu"})  # compiles; this host's linker refuses it
    cpu = tvm.target.Target({"kind": "llvm", "mcpu": "x86-64-v3", "mtriple": "x86_64-linux-gnu"})
    bad, good = builder.build([BuilderInput(matmul(16), arm), BuilderInput(matmul(16), cpu)])
    assert (
        bad.artifact_path is None and bad.error_msg.startswith("RayBuilder:") and "Compilation error" in bad.error_msg
    )
    assert good.error_msg is None and good.artifact_path.endswith(".so")
    builder.artifacts.release(good.artifact_path)


def test_artifact_folders_go_with_their_registry_or_once_their_process_is_gone(farm_cluster):
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    # a root as a Ray actor ended without exit handlers leaves it
    orphan = tempfile.mkdtemp(prefix=f"{ROOT_PREFIX}{ended.pid}-")
    os.mkdir(os.path.join(orphan, "farm-artifact-left"))
    registry = ArtifactRegistry()
    first, second = (registry.register(ray.put(b"library")) for _ in range(2))
    assert not os.path.exists(orphan)
    root = os.path.dirname(os.path.dirname(first))
    assert os.path.dirname(os.path.dirname(second)) == root and os.path.dirname(first) != os.path.dirname(second)
    remove_build_dir(first)  # what MetaSchedule's RemoveBuildArtifact does once a candidate is measured
    assert not os.path.exists(os.path.dirname(first)) and os.path.isdir(os.path.dirname(second))
    del registry
    gc.collect()
    assert not os.path.exists(root)


def test_measurements_on_one_device_never_overlap_across_sessions(farm_cluster, builder):
    first, second = RayRunner("x86-64-v3", FAST), RayRunner("x86-64-v3", FAST)
    inputs = built_inputs(builder, first.device_kind, n=6)
    futures = first.run(inputs[:3]) + second.run(inputs[3:])
    results = [f.result() for f in futures]
    assert all(r.error_msg is None for r in results)
    origins = measured_on(first, inputs[:3]) + measured_on(second, inputs[3:])
    assert {o["node_id"] for o in origins} == farm_cluster.node_ids("x86-64-v3")
    spans = sorted((o["started"], o["finished"]) for o in origins)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["x86-64-v3", "x86-64"])
def test_a_tuning_session_measures_only_on_its_kind_and_records_where(farm_cluster, builder, kind, tmp_path):
    runner = RayRunner(kind, FAST)
    target = runner.device_kind.target
    db = ParquetDatabase(str(tmp_path / "db"), target)
    ms.tune_tir(
        matmul(64),
        tvm.target.Target(target),
        str(tmp_path / "work"),
        max_trials_global=8,
        num_trials_per_iter=8,
        builder=builder,
        runner=runner,
        database=db,
        measure_callbacks=[*measure_callbacks(db, runner.provenance), PublishBestLatency(kind)],
    )
    db.close()
    records = list(TuningDatabase(str(tmp_path / "db")).view(runner.device_kind.target_key).records())
    assert records and all(r.run_secs for r in records)
    nodes = {n[:12] for n in farm_cluster.node_ids(kind)}
    assert {r.device_fingerprint.rsplit("node-", 1)[1] for r in records} <= nodes
    for r in records:
        measure = json.loads(r.measure_json)
        assert measure["kind"] == kind and measure["settings"] == FAST.as_json() and measure["num_threads"] == 2


def scrape(farm_cluster, wanted: list[str], timeout_s: float = 60) -> str:
    """The head node's Prometheus export once it holds every name in `wanted` (or the last one read, at the deadline)."""
    head = farm_cluster.cluster.head_node
    url = f"http://{head.node_ip_address}:{head.metrics_export_port}/metrics"
    deadline = time.monotonic() + timeout_s
    while True:
        text = urllib.request.urlopen(url, timeout=10).read().decode()
        if all(m in text for m in wanted) or time.monotonic() > deadline:
            return text
        time.sleep(1)


@pytest.mark.slow  # reads the metrics of the tuning sessions above
def test_farm_metrics_reach_the_prometheus_export(farm_cluster):
    wanted = [exported(BUILT), exported(MEASURED), exported(BEST_LATENCY), exported(QUEUE_DEPTH)]
    text = scrape(farm_cluster, wanted)
    assert not [m for m in wanted if m not in text], "not exported"
    assert 'kind="x86-64-v3"' in text and 'task="main"' in text


@ray.remote(max_retries=0)
def _held(data: bytes) -> bytes:
    return data


def test_an_artifact_lost_with_its_node_is_an_error_and_frees_its_device(farm_cluster, builder):
    runner = RayRunner("x86-64-v3", FAST)
    [good] = built_inputs(builder, runner.device_kind)
    library = ray.get(builder.artifacts.resolve(str(good.artifact_path))[0])
    holder = farm_cluster.cluster.add_node(
        num_cpus=1, object_store_memory=OBJECT_STORE, dashboard_agent_listen_port=free_port()
    )
    # past Ray's inline limit (100 KiB), so the only copy lives in the holder's object store; a loader ignores the padding
    ref = _held.options(scheduling_strategy=NodeAffinitySchedulingStrategy(holder.node_id, soft=False)).remote(
        library + bytes(1 << 20)
    )
    ray.wait([ref], fetch_local=False)
    farm_cluster.cluster.remove_node(holder, allow_graceful=False)
    [future] = runner.run([RunnerInput(builder.artifacts.register(ref), "cpu", good.args_info)])
    result = future.result()
    assert result.run_secs is None and "lost with its node" in result.error_msg, result.error_msg
    assert [d.in_flight for d in runner.pool.devices] == [0] * len(runner.pool.devices)
    [fine] = runner.run(built_inputs(builder, runner.device_kind))
    assert fine.result().error_msg is None


def test_a_node_killed_mid_session_costs_retries_not_measurements(farm_cluster, builder):
    doomed, spare = farm_cluster.nodes["x86-64"]
    runner = RayRunner("x86-64", MeasureSettings(number=1, repeat=1, min_repeat_ms=300))
    inputs = built_inputs(builder, runner.device_kind, n=12)
    futures = runner.run(inputs)
    first = futures[0].result()
    farm_cluster.cluster.remove_node(doomed, allow_graceful=False)
    results = [first] + [f.result() for f in futures[1:]]
    assert all(r.error_msg is None for r in results), [r.error_msg for r in results if r.error_msg]
    where = [p["node_id"] for p in measured_on(runner, inputs)]
    assert spare.node_id in where and set(where) <= {doomed.node_id, spare.node_id}

    farm_cluster.cluster.remove_node(spare, allow_graceful=False)
    wait_until_gone(runner, spare.node_id)
    start = time.monotonic()
    lost = [f.result() for f in runner.run(built_inputs(builder, runner.device_kind, n=2))]
    assert all(r.run_secs is None and "x86-64" in r.error_msg for r in lost), [(r.run_secs, r.error_msg) for r in lost]
    assert time.monotonic() - start < 120


@pytest.mark.slow  # reads the metrics of every test above: builds and runs that failed, retries, best latencies
def test_the_grafana_dashboard_charts_only_metrics_a_node_exports(farm_cluster):
    from prometheus_client.parser import text_string_to_metric_families
    from typer.testing import CliRunner

    from farm.cli.main import app
    from farm.grafana import expressions, metric_names

    printed = CliRunner().invoke(app, ["metrics", "grafana-dashboard"])
    assert printed.exit_code == 0, printed.output
    board = json.loads(printed.stdout)
    assert board["uid"] and board["panels"] and board["templating"]["list"][0]["type"] == "datasource"
    for panel in board["panels"]:
        assert panel["type"] == "timeseries" and panel["datasource"]["uid"] == "${datasource}"
        assert set(panel["gridPos"]) == {"x", "y", "w", "h"} and len({t["refId"] for t in panel["targets"]}) == len(
            panel["targets"]
        )
    named = set().union(*map(metric_names, expressions(board)))
    # a gauge is exported while it is being set, and the sessions that set these ended tests ago: set them again
    metrics().queued("x86-64-v3", 0)
    metrics().offer_latency("x86-64-v3", "grafana-check", 1.0)
    text = scrape(farm_cluster, sorted(named))
    samples = {s.name for family in text_string_to_metric_families(text) for s in family.samples}
    assert named <= samples, f"charted but not exported: {sorted(named - samples)}"
    assert len(named) == 6  # queue depth, built, measured, failed, retried, best latency
