"""Joining the Ray cluster from a driver: a running cluster when there is an address, an embedded one otherwise.

`ray.init()` with no address silently joins a Ray instance already running on the
machine; the embedded default must be the farm's own, so it is started with
`address="local"`. Its one node advertises the device kinds detected here (or those
asked for), so a session on one machine runs exactly the same code as on a farm.

A driver killed with SIGKILL leaves its embedded Ray's dashboard and runtime-env agents
running, orphaned. The driver marks its embedded Ray's processes as its own (they inherit
`FARM_EMBEDDED_RAY=<pid>:<start time>` from it), and the next driver to start an embedded
Ray first ends those whose owner is gone (`reap_orphans`); nothing else is touched.
"""

from __future__ import annotations

import os
import subprocess
import sys

import psutil
import ray

from .actors import NAMESPACE
from .devices import default_num_cores, node_kinds
from .nodes import node_labels

EMBEDDED_OBJECT_STORE_BYTES = 512 * 2**20
EMBEDDED_VAR = "FARM_EMBEDDED_RAY"  # "<pid>:<start time>" of the driver that started an embedded Ray, in its processes' environment
AUTH_MODE_VAR = "RAY_AUTH_MODE"
TOKEN_VARS = ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")  # where Ray looks for a token before its default file
DEFAULT_TOKEN_PATH = os.path.join("~", ".ray", "auth_token")
RAY_CLI = os.path.join(os.path.dirname(sys.executable), "ray")  # the `ray` command of the Python the farm runs in


def auth_mode() -> str:
    """Ray's authentication mode for what the farm starts: the user's `RAY_AUTH_MODE`, else token authentication."""
    return os.environ.get(AUTH_MODE_VAR, "token")


def use_token_auth() -> None:
    """Speak Ray's token authentication unless the user chose a mode.

    The farm starts its nodes with token authentication (see `launcher`), and a Ray
    2.60 driver given an explicit address does not turn it on by itself. Ray reads the
    mode into its cached config when it is imported, so the cache is re-read after
    setting it, as Ray's own `_enable_token_auth` does. Ray offers no public way to
    re-read it: `ray._raylet.Config` is the one private name the farm uses from Ray.
    """
    if AUTH_MODE_VAR in os.environ:
        return
    os.environ[AUTH_MODE_VAR] = "token"
    from ray._raylet import Config

    Config.initialize("")


def ensure_token() -> None:
    """Give a cluster started here a token when token authentication is on and Ray would find none.

    Only an embedded `ray.init()` writes Ray's default token file by itself; `ray start
    --head` refuses to start without a token, and a head started in-process (the tests'
    `ray.cluster_utils.Cluster`) aborts in its GCS. So on a machine where no embedded Ray
    has run yet, a head needs one: Ray's own `ray get-auth-token --generate` writes it
    (`~/.ray/auth_token`, which Ray's token-auth guide says to copy to the other machines).
    Nothing happens when the user chose where the token is (`RAY_AUTH_TOKEN`,
    `RAY_AUTH_TOKEN_PATH`) or turned authentication off.
    """
    if auth_mode() != "token" or any(os.environ.get(v) for v in TOKEN_VARS):
        return
    if not os.path.exists(os.path.expanduser(DEFAULT_TOKEN_PATH)):
        proc = subprocess.run([RAY_CLI, "get-auth-token", "--generate"], capture_output=True, text=True, check=False)
        if proc.returncode:
            raise RuntimeError(f"Ray could not write an authentication token:\n{proc.stderr[-2000:]}")


_DASHBOARD: dict[str, str | None] = {"url": None}  # what `ray.init` said when this process connected


def dashboard_url() -> str | None:
    """The Ray dashboard's address (host:port) of the cluster this process connected to, if it runs one."""
    return _DASHBOARD["url"]


def connect(address: str | None = None, *, kinds: list[str] | None = None, num_cores: int | None = None) -> str:
    """Connect this process to Ray (`address`, else `$RAY_ADDRESS`, else an embedded cluster); the GCS address."""
    if not ray.is_initialized():
        use_token_auth()
        address = address or os.environ.get("RAY_ADDRESS")
        if address:
            context = ray.init(address=address, namespace=NAMESPACE, logging_level="WARNING")
            _DASHBOARD["url"] = context.dashboard_url or None
        else:
            reap_orphans()
            os.environ[EMBEDDED_VAR] = _owner_mark(psutil.Process())
            cores = num_cores or default_num_cores()
            devices = node_kinds(kinds, cores)
            ray.init(
                address="local",
                namespace=NAMESPACE,
                labels=node_labels(devices, cores),
                include_dashboard=False,
                object_store_memory=EMBEDDED_OBJECT_STORE_BYTES,
                logging_level="WARNING",
            )
    return ray.get_runtime_context().gcs_address


def _owner_mark(proc: psutil.Process) -> str:
    return f"{proc.pid}:{proc.create_time():.3f}"


def _alive(mark: str) -> bool:
    pid, _, _ = mark.partition(":")
    try:
        return pid.isdigit() and _owner_mark(psutil.Process(int(pid))) == mark
    except psutil.Error:
        return False


def reap_orphans() -> list[int]:
    """End the processes of embedded Rays whose driver is gone (see the module docstring); their pids."""
    reaped = []
    for proc in psutil.process_iter(["pid"]):
        try:
            mark = proc.environ().get(EMBEDDED_VAR)
            if mark is None or proc.pid == os.getpid() or _alive(mark):
                continue
            proc.kill()
            reaped.append(proc.pid)
        except psutil.Error:
            continue
    return reaped
