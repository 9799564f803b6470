"""Start and stop the Ray nodes of this machine that the farm started: device nodes and local test clusters.

Each node is one `ray start --block` process in a session of its own, detached from
the shell that asked for it, with its log in the state folder. `ray start --block`
drains and stops the node's processes (GCS, raylet, agents, workers) when it receives
SIGTERM, so `stop()` stops exactly the nodes recorded in the state file
(`<state dir>/nodes.json`) and nothing else Ray runs on the machine; a node that does
not stop within the grace period has its process group killed.

A local heterogeneous cluster (`start_local`) is a head node that offers the machine's
CPUs to builds and serves no device, plus one worker node per device kind with no CPUs
of its own (measurement actors take none), all on 127.0.0.1. Several nodes on one
machine need distinct ports, the dashboard agent's included, so every port is chosen
free up front; each node's object store is bounded (Ray would take ~30% of memory per
node otherwise). Every node runs with Ray's token authentication (see `_node_env`). Each
worker node gets a Ray temp folder of its own (removed by `stop`): nodes on one machine
would otherwise share the head's session folder, and each node's runtime-env agent
deletes and re-extracts a job's `working_dir` there in place, under the job's running
driver (`ray job submit --working-dir .` then fails on files that vanish mid-run).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field

import psutil

from .connect import AUTH_MODE_VAR, RAY_CLI, auth_mode, ensure_token
from .devices import DeviceKind
from .nodes import labels_arg, node_labels

STARTED_MARK = "Ray runtime started"
STATE_FILE = "nodes.json"
LOCAL_IP = "127.0.0.1"


class ClusterError(RuntimeError):
    """A node that would not start, or a local cluster that is already running."""


@dataclass
class NodeSpec:
    """What one `ray start` should bring up."""

    kinds: list[DeviceKind]
    num_cores: int
    head: bool = False
    address: str | None = None
    port: int | None = None
    num_cpus: int | None = None
    object_store_bytes: int | None = None
    node_ip: str | None = None
    include_dashboard: bool = False
    free_ports: bool = False
    temp_dir: str | None = None
    extra_args: list[str] = field(default_factory=list)
    insecure: bool = False  # a head may start with Ray's authentication turned off


@dataclass
class StartedNode:
    """A node this farm started: its `ray start --block` process and what it serves."""

    pid: int
    head: bool
    kinds: list[str]
    address: str
    log: str
    started_at: float
    temp_dir: str | None = None


DASHBOARD_PORT = 8265


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct ports free now: each socket stays bound until all are chosen (ports picked one at a time can
    repeat, and Ray refuses a node whose components share one)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            s = stack.enter_context(socket.socket())
            s.bind((LOCAL_IP, 0))
            ports.append(s.getsockname()[1])
        return ports


def dashboard_port(free_ports: bool) -> int:
    """Ray's usual dashboard (and job server) port 8265, unless it is taken and free ports were asked for."""
    if free_ports:
        with socket.socket() as s:
            try:
                s.bind((LOCAL_IP, DASHBOARD_PORT))
            except OSError:
                return free_port()
    return DASHBOARD_PORT


def ray_start_command(spec: NodeSpec) -> list[str]:
    """The `ray start --block …` command line of a node."""
    cmd = [RAY_CLI, "start", "--block", "--disable-usage-stats"]
    if spec.head:
        cmd += [
            "--head",
            "--port",
            str(spec.port or 6379),
            f"--include-dashboard={str(spec.include_dashboard).lower()}",
        ]
        if spec.include_dashboard:
            cmd += ["--dashboard-port", str(dashboard_port(spec.free_ports))]
    else:
        cmd += ["--address", spec.address]
    labels = node_labels(spec.kinds, spec.num_cores)
    if labels:
        cmd += ["--labels", labels_arg(labels)]
    if spec.num_cpus is not None:
        cmd += ["--num-cpus", str(spec.num_cpus)]
    if spec.object_store_bytes is not None:
        cmd += ["--object-store-memory", str(spec.object_store_bytes)]
    if spec.node_ip:
        cmd += ["--node-ip-address", spec.node_ip]
    if spec.temp_dir:
        cmd += ["--temp-dir", spec.temp_dir]
    if spec.free_ports:
        names = [
            "node-manager-port",
            "object-manager-port",
            "dashboard-agent-listen-port",
            "dashboard-agent-grpc-port",
            "metrics-export-port",
            "runtime-env-agent-port",
        ]
        if spec.head:
            names.append("ray-client-server-port")
        for name, port in zip(names, free_ports(len(names))):
            cmd += [f"--{name}", str(port)]
        cmd += ["--min-worker-port", "0", "--max-worker-port", "0"]
    return cmd + list(spec.extra_args)


def _load(state_dir: str) -> list[StartedNode]:
    try:
        with open(os.path.join(state_dir, STATE_FILE)) as f:
            return [StartedNode(**n) for n in json.load(f)]
    except FileNotFoundError:
        return []


def _save(state_dir: str, nodes: list[StartedNode]) -> None:
    os.makedirs(state_dir, exist_ok=True)
    path = os.path.join(state_dir, STATE_FILE)
    with open(path + ".tmp", "w") as f:
        json.dump([asdict(n) for n in nodes], f, indent=2)
    os.replace(path + ".tmp", path)


def _running(pid: int, *, ray_start: bool = False) -> bool:
    """Whether `pid` runs (not a zombie) and, with `ray_start`, is still a `ray start --block` (not a reused pid)."""
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return not ray_start or {"start", "--block"} <= set(proc.cmdline())
    except psutil.Error:
        return False


def started_nodes(state_dir: str) -> list[StartedNode]:
    """The nodes this farm started on this machine that are still running."""
    return [n for n in _load(state_dir) if _running(n.pid, ray_start=True)]


def _tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def _head_address(log_path: str, spec: NodeSpec) -> str:
    """The address other nodes join, as `ray start` prints it (`ray start --address='10.0.0.5:6379'`)."""
    found = re.search(r"--address='([^']+)'", _tail(log_path, 200))
    return found.group(1) if found else f"{spec.node_ip or LOCAL_IP}:{spec.port or 6379}"


def _spawn_detached(cmd: list[str], log_path: str) -> int:
    """Start `cmd` in a session of its own, outliving this process, with output to `log_path`; its pid."""
    script = 'exec "$@" >"$LOG" 2>&1 </dev/null & echo $!'
    out = subprocess.run(
        ["sh", "-c", script, "sh", *cmd],
        env={**_node_env(), "LOG": log_path},
        capture_output=True,
        text=True,
        check=True,
        start_new_session=True,
    )
    return int(out.stdout.strip())


def _node_env() -> dict[str, str]:
    """The environment of a node: token authentication unless the user chose otherwise.

    Left unset, Ray 2.60 turns token authentication on for a head when a token file
    exists (`~/.ray/auth_token`, written by any embedded `ray.init()`) but not for a
    worker joining it, which is then refused; one explicit mode for every node avoids
    that. Nodes on other machines need the same token (Ray's token-auth guide).
    """
    return {**os.environ, AUTH_MODE_VAR: auth_mode()}


def check_auth(spec: NodeSpec) -> None:
    """`ClusterError` for a head that would run without Ray's token authentication unless `spec.insecure` says so.

    Whoever reaches an unauthenticated head's ports (GCS, dashboard, job server) can run any
    code on every node of the cluster, so turning authentication off is a choice made out loud.
    """
    mode = auth_mode()
    if spec.head and mode != "token" and not spec.insecure:
        raise ClusterError(
            f"{AUTH_MODE_VAR}={mode} turns Ray's token authentication off: anyone who reaches this head's ports "
            "could run code on every node. Unset it (the farm uses token authentication), or pass --insecure."
        )


def launch(spec: NodeSpec, state_dir: str, timeout_s: float = 120.0) -> StartedNode:
    """Start one node and wait until Ray reports it running; `ClusterError` with its log's tail if it does not (or
    `check_auth`'s, before anything starts)."""
    check_auth(spec)
    if spec.head:
        ensure_token()
    log_dir = os.path.join(state_dir, "logs")
    os.makedirs(log_dir, exist_ok=True)
    role = "head" if spec.head else "-".join(k.name for k in spec.kinds) or "worker"
    log_path = os.path.join(
        log_dir, f"{role}-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6}.log"
    )
    pid = _spawn_detached(ray_start_command(spec), log_path)
    deadline = time.monotonic() + timeout_s
    while STARTED_MARK not in _tail(log_path, 200):
        if not _running(pid):
            raise ClusterError(f"ray start exited:\n{_tail(log_path)}")
        if time.monotonic() > deadline:
            _terminate([pid], grace_s=10)
            raise ClusterError(f"the node did not start within {timeout_s:.0f} s:\n{_tail(log_path)}")
        time.sleep(0.2)
    address = _head_address(log_path, spec) if spec.head else spec.address
    node = StartedNode(pid, spec.head, [k.name for k in spec.kinds], address, log_path, time.time(), spec.temp_dir)
    _save(state_dir, started_nodes(state_dir) + [node])
    return node


def start_local(
    kinds: list[DeviceKind],
    num_cores: int,
    state_dir: str,
    *,
    object_store_bytes: int = 128 * 2**20,
    head_cpus: int | None = None,
    include_dashboard: bool = False,
) -> list[StartedNode]:
    """A head and one device node per kind on this machine; refuses if this farm's nodes already run here."""
    running = started_nodes(state_dir)
    if running:
        raise ClusterError(
            f"this machine already runs {len(running)} node(s) started by the farm (head {running[0].address}); run `farm cluster stop` first"
        )
    head = NodeSpec(
        [],
        num_cores,
        head=True,
        port=free_port(),
        num_cpus=head_cpus if head_cpus is not None else os.cpu_count(),
        object_store_bytes=object_store_bytes,
        node_ip=LOCAL_IP,
        include_dashboard=include_dashboard,
        free_ports=True,
    )
    nodes = [launch(head, state_dir)]
    try:
        for kind in kinds:
            spec = NodeSpec(
                [kind],
                num_cores,
                address=nodes[0].address,
                num_cpus=0,
                object_store_bytes=object_store_bytes,
                node_ip=LOCAL_IP,
                free_ports=True,
                temp_dir=tempfile.mkdtemp(prefix="ray-farm-node-"),
            )
            nodes.append(launch(spec, state_dir))
    except ClusterError:
        stop(state_dir)
        raise
    return nodes


def _terminate(pids: list[int], grace_s: float) -> None:
    procs = []
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            proc.send_signal(signal.SIGTERM)
            procs.append(proc)
        except psutil.Error:
            continue
    _, alive = psutil.wait_procs(procs, timeout=grace_s)
    for proc in alive:
        try:
            os.killpg(os.getpgid(proc.pid), signal.SIGKILL)
        except OSError:
            pass


def stop(state_dir: str, grace_s: float = 45.0) -> list[StartedNode]:
    """Stop every node this farm started on this machine (workers first, the head last); the ones stopped."""
    nodes = started_nodes(state_dir)
    workers = [n for n in nodes if not n.head]
    heads = [n for n in nodes if n.head]
    _terminate([n.pid for n in workers], grace_s)
    _terminate([n.pid for n in heads], grace_s)
    for node in nodes:
        if node.temp_dir:
            shutil.rmtree(node.temp_dir, ignore_errors=True)
    _save(state_dir, [])
    return nodes


def head_address(state_dir: str) -> str | None:
    """The address of the head node this farm started here, if one runs."""
    return next((n.address for n in started_nodes(state_dir) if n.head), None)
