"""Device nodes as Ray sees them: the node labels that advertise device kinds, and the nodes that serve a kind.

A node that serves device kinds carries one Ray node label per kind,
`farm.io/kind-<name>=<platform>` (`cpu` or `gpu`), and `farm.io/num-cores=<n>`, the
threads a CPU measurement uses there. Labels rather than custom resources, because a
kind is a property of the node, not a quantity to reserve. The farm finds a kind's
nodes by these labels and pins each measurement actor to its node with a
`label_selector` on Ray's own `ray.io/node-id` label.

A kind's TVM target is a pure function of its name and the node's core count
(`devices.kind_named`), so every process derives the same canonical target from the
labels alone.

Ray schedules an actor whose selector no node satisfies by waiting forever, so the
farm checks the live nodes first and raises `NoDeviceError` naming the kinds it has.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .devices import DeviceKind, kind_named

KIND_LABEL_PREFIX = "farm.io/kind-"
CORES_LABEL = "farm.io/num-cores"
NODE_ID_LABEL = "ray.io/node-id"


class NoDeviceError(RuntimeError):
    """No live node of the cluster serves the device kind a session asked for."""


def node_labels(kinds: list[DeviceKind], num_cores: int) -> dict[str, str]:
    """The Ray node labels that advertise `kinds` (empty when the node serves none)."""
    if not kinds:
        return {}
    labels = {KIND_LABEL_PREFIX + k.name: k.platform for k in kinds}
    labels[CORES_LABEL] = str(num_cores)
    return labels


def labels_arg(labels: dict[str, str]) -> str:
    """`ray start --labels` syntax: `key1=val1,key2=val2`."""
    return ",".join(f"{k}={v}" for k, v in labels.items())


@dataclass
class DeviceNode:
    """A live Ray node and the device kinds it serves."""

    node_id: str
    address: str
    num_cores: int
    kind_platforms: dict[str, str] = field(default_factory=dict)
    resources: dict[str, float] = field(default_factory=dict)
    alive: bool = True
    metrics_port: int | None = None  # its Prometheus export (`cluster.observe`)

    @property
    def kinds(self) -> list[str]:
        return sorted(self.kind_platforms)

    @property
    def num_gpus(self) -> int:
        return int(self.resources.get("GPU", 0))

    def kind(self, name: str) -> DeviceKind:
        return kind_named(name, self.num_cores)

    def as_json(self) -> dict:
        kinds = {name: self.kind(name).as_json() for name in self.kinds}
        return {
            "node_id": self.node_id,
            "address": self.address,
            "kinds": self.kinds,
            "targets": {name: k["target"] for name, k in kinds.items()},
            "target_keys": {name: k["target_key"] for name, k in kinds.items()},
            "num_cores": self.num_cores,
            "cpus": self.resources.get("CPU", 0.0),
            "gpus": self.num_gpus,
        }


def _device_node(info: dict) -> DeviceNode:
    labels = info.get("Labels") or {}
    platforms = {k[len(KIND_LABEL_PREFIX) :]: v for k, v in labels.items() if k.startswith(KIND_LABEL_PREFIX)}
    return DeviceNode(
        node_id=info["NodeID"],
        address=info.get("NodeManagerAddress", ""),
        num_cores=int(labels.get(CORES_LABEL, 0) or 0),
        kind_platforms=platforms,
        resources=dict(info.get("Resources") or {}),
        alive=bool(info.get("Alive")),
        metrics_port=info.get("MetricsExportPort") or None,
    )


def all_nodes() -> list[DeviceNode]:
    """Every node the connected Ray cluster knows, live or dead, with or without devices."""
    import ray

    return [_device_node(n) for n in ray.nodes()]


def live_nodes() -> list[DeviceNode]:
    """Every live node of the connected Ray cluster, with or without devices."""
    return [n for n in all_nodes() if n.alive]


def nodes_serving(kind: str) -> list[DeviceNode]:
    """The live nodes that serve `kind`; `NoDeviceError` (naming the kinds there are) when none does."""
    nodes = live_nodes()
    serving = [n for n in nodes if kind in n.kind_platforms]
    if not serving:
        available = sorted({k for n in nodes for k in n.kinds})
        raise NoDeviceError(
            f"no live node of the Ray cluster serves device kind {kind!r} "
            f"(kinds served: {', '.join(available) or 'none'}); start one with `farm cluster start --device {kind}`"
        )
    return serving
