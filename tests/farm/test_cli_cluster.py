"""`farm cluster local | status | stop` through the installed console command, on real `ray start` nodes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import psutil
import pytest

from cluster.devices import resolve_kinds
from cluster.launcher import NodeSpec, check_auth, free_port, ray_start_command

pytestmark = [pytest.mark.slow, pytest.mark.cluster]


FARM = os.path.join(os.path.dirname(sys.executable), "farm")  # not a shim that looks for itself under $HOME


def farm(*args: str, env: dict, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([FARM, *args], capture_output=True, text=True, timeout=300, env=env, check=False)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def ray_processes() -> set[int]:
    return {p.pid for p in psutil.process_iter(["name"]) if p.info["name"] in ("raylet", "gcs_server")}


@pytest.fixture
def foreign_ray(tmp_path):
    """A Ray head on this machine that the farm did not start."""
    spec = NodeSpec([], 2, head=True, port=free_port(), num_cpus=0, object_store_bytes=100 * 2**20, free_ports=True)
    with open(tmp_path / "foreign.log", "wb") as log:
        proc = subprocess.Popen(
            ray_start_command(spec),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "RAY_AUTH_MODE": "disabled"},
        )
    deadline = time.monotonic() + 120
    while "Ray runtime started" not in (tmp_path / "foreign.log").read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    yield proc
    proc.terminate()
    proc.wait(timeout=60)


def test_local_cluster_lists_its_kinds_and_stops_only_what_it_started(tmp_path, foreign_ray):
    """On a machine where no Ray has run yet (a home without `~/.ray`): `ray start --head` refuses to start without a
    token, so the farm has Ray write one first."""
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "FARM_DATA_DIR": str(tmp_path), "HOME": str(home)}
    env.pop("RAY_ADDRESS", None)
    before = ray_processes()
    assert before
    farm(
        "cluster",
        "local",
        "--kinds",
        "x86-64,x86-64-v3",
        "--num-cores",
        "2",
        "--object-store-mb",
        "100",
        "--no-dashboard",
        env=env,
    )
    try:
        again = farm("cluster", "local", "--kinds", "x86-64", "--no-dashboard", env=env, check=False)
        assert again.returncode == 2 and "already runs 3 node(s)" in again.stderr

        status = json.loads(farm("cluster", "status", "--json", env=env).stdout)
        by_kind = {k: n for n in status["nodes"] for k in n["kinds"]}
        assert sorted(by_kind) == ["x86-64", "x86-64-v3"] and len(status["nodes"]) == 3
        for kind in resolve_kinds(["x86-64", "x86-64-v3"], num_cores=2):
            node = by_kind[kind.name]
            assert node["kinds"] == [kind.name] and node["node_id"]
            assert node["targets"][kind.name] == json.loads(kind.target_json)
        assert ray_processes() - before and (home / ".ray" / "auth_token").stat().st_size
    finally:
        stopped = json.loads(farm("cluster", "stop", "--json", env=env).stdout)["stopped"]
    assert len(stopped) == 3 and sum(n["head"] for n in stopped) == 1
    assert ray_processes() == before and foreign_ray.poll() is None
    assert "no node started by the farm" in farm("cluster", "stop", env=env).stdout


def test_a_kind_this_cpu_cannot_run_is_refused_before_anything_starts(tmp_path):
    env = {**os.environ, "FARM_DATA_DIR": str(tmp_path)}
    out = farm("cluster", "local", "--kinds", "x86-64,pentium99", env=env, check=False)
    assert out.returncode == 2 and "pentium99" in out.stderr
    assert not (tmp_path / "cluster" / "nodes.json").exists()


def test_a_head_without_rays_authentication_needs_insecure(tmp_path, monkeypatch):
    env = {**os.environ, "FARM_DATA_DIR": str(tmp_path), "RAY_AUTH_MODE": "disabled"}
    before = ray_processes()
    out = farm("cluster", "start", "--head", "--port", str(free_port()), "--device", "x86-64", env=env, check=False)
    assert out.returncode == 2 and "RAY_AUTH_MODE=disabled" in out.stderr and "--insecure" in out.stderr
    assert not (tmp_path / "cluster" / "nodes.json").exists() and not ray_processes() - before
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    check_auth(NodeSpec([], 2, head=True, insecure=True))  # told out loud: allowed
    check_auth(NodeSpec([], 2, address="10.0.0.1:6379"))  # a worker joins whatever its head decided


def test_a_real_node_serves_the_kinds_it_is_told_to(tmp_path):
    env = {**os.environ, "FARM_DATA_DIR": str(tmp_path)}
    env.pop("RAY_ADDRESS", None)
    port = str(free_port())
    started = farm(
        "cluster",
        "start",
        "--head",
        "--port",
        port,
        "--device",
        "x86-64",
        "--num-cores",
        "2",
        "--num-cpus",
        "1",
        "--object-store-mb",
        "100",
        "--no-dashboard",
        "--",
        "--dashboard-agent-listen-port",
        str(free_port()),
        env=env,
    )
    try:
        assert "serving x86-64" in started.stdout and f":{port}" in started.stdout
        (node,) = json.loads(farm("cluster", "status", "--json", env=env).stdout)["nodes"]
        assert node["kinds"] == ["x86-64"] and node["cpus"] == 1
        assert farm("cluster", "start", "--head", "--address", "x:1", env=env, check=False).returncode == 2
    finally:
        assert len(json.loads(farm("cluster", "stop", "--json", env=env).stdout)["stopped"]) == 1
