"""Verification and baseline on a device node: every engine of a variant timed against ONNX Runtime's default session.

`compare_on_device` runs `farm.engines.timing.time_engines` in the measurement actor of a
node that serves the variant's kind (`cluster.actors.MeasurementActor.run`, in its device
worker), so it never overlaps a tuning measurement on that device; every engine
configuration is timed in a process of its own, in alternating rounds; `on_device` runs
any such function there (the hybrid's per-kernel timing). Each engine's file travels as
bytes (no shared filesystem). The result has, per
engine, its best configuration's latency, p90, threads, settings and agreement with ONNX
Runtime's default session (`engines`), the engine chosen (`engine`, `best_latency_ms`),
every configuration measured (`configs`), and, as before, TVM against ONNX Runtime's
default (`tvm`, `ort`, `tvm_latency_ms`, `ort_latency_ms`, `speedup_vs_ort`, differences).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable

import numpy as np
import ray

from cluster.actors import device_actors
from cluster.devices import DEVICE_TYPES
from cluster.nodes import nodes_serving

from .engines.comparison import Comparison
from .engines.timing import ROUNDS, time_engines
from .precision import EXACT, Tolerance
from .workflow_options import REPEAT, WARMUP


def on_device(kind: str, fn: Callable, args: tuple, timeout_s: float = 1800.0) -> tuple[object, dict]:
    """`fn(*args, cores=..., device_type=...)` in the device worker of a live node serving `kind`; its result, and the node's
    id, cores and device type."""
    node = nodes_serving(kind)[0]
    platform = node.kind_platforms[kind]
    actor = next(iter(device_actors(node, platform).values()))
    where = {"cores": node.num_cores or 1, "device_type": DEVICE_TYPES[platform]}
    result = ray.get(actor.run.remote(functools.partial(fn, **where), args, timeout_s))
    return result, {**where, "node_id": node.node_id}


def compare_on_device(
    kind: str,
    artifacts: dict[str, bytes],
    inputs: dict[str, np.ndarray],
    *,
    engines: list[str] | None = None,
    metadata: dict | None = None,
    precision: str = EXACT,
    tolerance: Tolerance | None = None,
    samples: list[dict[str, np.ndarray]] | None = None,
    warmup: int = WARMUP,
    repeat: int = REPEAT,
    rounds: int = ROUNDS,
    per_engine: int | None = None,
    timeout_s: float = 1800.0,
) -> Comparison:
    """`time_engines` of every engine whose file is in `artifacts` (file name -> bytes; the ONNX model, the reference,
    among them) on a node serving `kind`, loaded as packages of the variant `metadata` describes."""
    timing = functools.partial(
        time_engines,
        engines=engines,
        metadata=metadata,
        precision=precision,
        tolerance=tolerance,
        samples=samples,
        warmup=warmup,
        repeat=repeat,
        rounds=rounds,
        per_engine=per_engine,
    )
    result, where = on_device(kind, timing, (artifacts, inputs), timeout_s)
    return dataclasses.replace(result, run={**result.run, "node_id": where["node_id"]})
