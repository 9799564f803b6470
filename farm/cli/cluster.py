"""`farm cluster …`: device nodes of the Ray farm from the command line.

`start` brings up one real node (head or worker) serving the device kinds detected
here or named with `--device`; `local` brings up a head and one device node per kind on
this machine for development; `status` lists the live nodes with their kinds and
targets; `stop` stops the nodes the farm started on this machine, and nothing else.
"""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.table import Table

from ..paths import data_dir
from .output import console, emit_json, fail

app = typer.Typer(help="Start, inspect and stop the Ray nodes of the tuning farm.", no_args_is_help=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
CoresOption = Annotated[
    int | None, typer.Option("--num-cores", help="Threads one measurement uses (default: the physical cores).")
]


def _state_dir() -> str:
    return os.path.join(data_dir(), "cluster")


def _kinds(names: list[str] | None, num_cores: int):
    from cluster.devices import DeviceError, node_kinds

    try:
        return node_kinds(names, num_cores)
    except DeviceError as e:
        fail(str(e))


def _split(values: list[str] | None) -> list[str]:
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


def _cores(num_cores: int | None) -> int:
    from cluster.devices import default_num_cores

    return num_cores or default_num_cores()


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def start(
    ctx: typer.Context,
    head: Annotated[bool, typer.Option("--head", help="Start a head node (a new cluster).")] = False,
    address: Annotated[
        str | None, typer.Option("--address", help="Join the cluster whose head is at HOST:PORT.")
    ] = None,
    device: Annotated[
        list[str] | None,
        typer.Option(
            "--device",
            help="Serve these kinds (repeat or comma-separate) instead of the detected ones, e.g. an older ISA level.",
        ),
    ] = None,
    port: Annotated[int, typer.Option("--port", help="Port of a head node's GCS.")] = 6379,
    num_cpus: Annotated[
        int | None, typer.Option("--num-cpus", help="CPUs this node offers to builds (default: all).")
    ] = None,
    object_store_mb: Annotated[
        int | None, typer.Option("--object-store-mb", help="Object store size in MiB (default: Ray's).")
    ] = None,
    num_cores: CoresOption = None,
    dashboard: Annotated[
        bool, typer.Option("--dashboard/--no-dashboard", help="Serve the Ray dashboard from a head node.")
    ] = True,
    insecure: Annotated[
        bool,
        typer.Option("--insecure", help="Let a head start with Ray's authentication off (RAY_AUTH_MODE=disabled)."),
    ] = False,
) -> None:
    """Start a Ray node of the farm on this machine; arguments after `--` go to `ray start`."""
    from cluster.launcher import ClusterError, NodeSpec, launch

    if head == bool(address):
        fail("give exactly one of --head and --address")
    cores = _cores(num_cores)
    kinds = _kinds(_split(device), cores)
    spec = NodeSpec(
        kinds,
        cores,
        head=head,
        address=address,
        port=port,
        num_cpus=num_cpus,
        object_store_bytes=object_store_mb * 2**20 if object_store_mb else None,
        include_dashboard=dashboard,
        extra_args=list(ctx.args),
        insecure=insecure,
    )
    try:
        node = launch(spec, _state_dir())
    except ClusterError as e:
        fail(str(e))
    console.print(
        f"node started (pid {node.pid}) serving {', '.join(node.kinds) or 'no device'}; cluster address {node.address}"
    )
    console.print(f"log: {node.log}")


@app.command()
def local(
    kinds: Annotated[
        str, typer.Option("--kinds", help="Device kinds to simulate, one worker node each, e.g. x86-64,x86-64-v3.")
    ],
    num_cores: CoresOption = None,
    object_store_mb: Annotated[
        int, typer.Option("--object-store-mb", help="Object store size of each node in MiB.")
    ] = 128,
    head_cpus: Annotated[
        int | None, typer.Option("--head-cpus", help="CPUs the head offers to builds (default: all).")
    ] = None,
    dashboard: Annotated[
        bool, typer.Option("--dashboard/--no-dashboard", help="Serve the Ray dashboard from the head.")
    ] = True,
    json_out: JsonOption = False,
) -> None:
    """Start a head and one device node per kind on this machine, for development and tests."""
    from cluster.launcher import ClusterError, start_local

    cores = _cores(num_cores)
    devices = _kinds(_split([kinds]), cores)
    if not devices:
        fail("--kinds names no device kind")
    try:
        nodes = start_local(
            devices,
            cores,
            _state_dir(),
            object_store_bytes=object_store_mb * 2**20,
            head_cpus=head_cpus,
            include_dashboard=dashboard,
        )
    except ClusterError as e:
        fail(str(e))
    if json_out:
        emit_json(
            {"address": nodes[0].address, "nodes": [{"pid": n.pid, "head": n.head, "kinds": n.kinds} for n in nodes]}
        )
        return
    console.print(
        f"local cluster at {nodes[0].address}: head + {len(nodes) - 1} device node(s) ({', '.join(d.name for d in devices)})"
    )
    console.print(f"use it with RAY_ADDRESS={nodes[0].address}; stop it with `farm cluster stop`")


@app.command()
def status(
    address: Annotated[
        str | None,
        typer.Option(
            "--address", help="Cluster address (default: $RAY_ADDRESS, else the local cluster the farm started)."
        ),
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """List the live nodes of the cluster with the device kinds they serve and each kind's TVM target."""
    import ray

    from cluster.connect import use_token_auth
    from cluster.launcher import head_address
    from cluster.nodes import live_nodes

    address = address or os.environ.get("RAY_ADDRESS") or head_address(_state_dir())
    if not address:
        fail("no cluster to ask: give --address, set RAY_ADDRESS, or start one with `farm cluster local`")
    use_token_auth()
    try:
        ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    except (ConnectionError, RuntimeError) as e:
        fail(f"cannot reach the Ray cluster at {address}: {e}")
    try:
        nodes = [n.as_json() for n in live_nodes()]
    finally:
        ray.shutdown()
    if json_out:
        emit_json({"address": address, "nodes": nodes})
        return
    table = Table("node", "address", "cpus", "kinds", "target keys")
    for n in nodes:
        table.add_row(
            n["node_id"][:12],
            n["address"],
            f"{n['cpus']:g}",
            ", ".join(n["kinds"]) or "-",
            "\n".join(n["target_keys"].values()) or "-",
        )
    console.print(f"cluster {address}: {len(nodes)} live node(s)")
    console.print(table)


@app.command()
def stop(json_out: JsonOption = False) -> None:
    """Stop the Ray nodes the farm started on this machine (other Ray processes are left alone)."""
    from cluster.launcher import stop as stop_nodes

    stopped = stop_nodes(_state_dir())
    if json_out:
        emit_json({"stopped": [{"pid": n.pid, "head": n.head, "kinds": n.kinds} for n in stopped]})
        return
    console.print(f"stopped {len(stopped)} node(s)" if stopped else "no node started by the farm is running here")
