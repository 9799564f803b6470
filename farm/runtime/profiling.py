"""Profiling a model: whole-model timings with the plain VM, per-layer timings with an instrumented one.

TVM 0.27's Relax VM has no built-in profiler, so layers are timed through the VM's
instrument hook, which runs before and after every call the VM makes. A layer is a call
of a compiled kernel (the VM's own `vm.builtin.*` calls, allocations and shape checks, are
left out); a kernel called more than once per inference gets one entry per call, the
second named `name#2` and so on. The hook runs in Python, so each layer timing includes
a few microseconds of it; the whole-model timings, from a VM without the hook, do not.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from .tensors import TensorInfo

if TYPE_CHECKING:
    import tvm
    from tvm import relax

BUILTIN_PREFIX = "vm.builtin."


@dataclass
class ProfileResult:
    """Timings of `repeat` inferences: the whole model's, and each layer's (ns), on `device` (and `node_id` when remote)."""

    model_name: str
    model_durations_ns: list[int]
    layer_durations_ns: dict[str, list[int]]
    device: str
    threads: int
    node_id: str | None = None
    warmup: int = 0

    def as_json(self) -> dict:
        """Summary statistics: the model's latency (ms) and each layer's mean (us) and share of the layers' total, slowest first."""
        ms = np.asarray(self.model_durations_ns, dtype=np.float64) / 1e6
        layer_means = {name: statistics.fmean(ns) / 1e3 for name, ns in self.layer_durations_ns.items()}
        total_us = sum(layer_means.values()) or 1.0
        return {
            "model": self.model_name,
            "device": self.device,
            "threads": self.threads,
            "node_id": self.node_id,
            "repeat": len(self.model_durations_ns),
            "warmup": self.warmup,
            "latency": {
                "mean_ms": float(ms.mean()),
                "median_ms": float(np.median(ms)),
                "std_ms": float(ms.std()),
                "p90_ms": float(np.percentile(ms, 90)),
                "min_ms": float(ms.min()),
            },
            "layers": [
                {"name": name, "mean_us": mean_us, "percent": 100.0 * mean_us / total_us}
                for name, mean_us in sorted(layer_means.items(), key=lambda item: -item[1])
            ],
        }


def sample_inputs(infos: list[TensorInfo], seed: int = 0) -> list[np.ndarray]:
    """Inputs to time a model with: uniform [0, 1) floats, zeros of other dtypes (valid as indices)."""
    rng = np.random.default_rng(seed)
    return [
        rng.random(i.shape).astype(i.dtype)
        if np.issubdtype(np.dtype(i.dtype), np.floating)
        else np.zeros(i.shape, i.dtype)
        for i in infos
    ]


def time_model(infer: Callable[[], object], sync: Callable[[], None], repeat: int, warmup: int) -> list[int]:
    """Nanoseconds of each of `repeat` calls of `infer` (one inference), after `warmup` untimed ones."""
    for _ in range(warmup):
        infer()
    sync()
    durations = []
    for _ in range(repeat):
        start = time.perf_counter_ns()
        infer()
        sync()
        durations.append(time.perf_counter_ns() - start)
    return durations


def paired_seconds(calls: dict[str, Callable[[], object]], pairs: int, warmup: int = 0) -> dict[str, list[float]]:
    """Seconds of each of `calls`, one after another on this thread, `pairs` times after `warmup` untimed rounds; their
    order is reversed every other time, so the machine's drift and each call's effect on the next reach all alike."""
    names = list(calls)
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for i in range(warmup + pairs):
        for name in names if i % 2 else reversed(names):
            start = time.perf_counter()
            calls[name]()
            if i >= warmup:
                seconds[name].append(time.perf_counter() - start)
    return seconds


def time_layers(vm: relax.VirtualMachine, args: list, sync: Callable[[], None], repeat: int) -> dict[str, list[int]]:
    """Nanoseconds of each kernel call over `repeat` inferences of `vm` after one untimed (a VM of its own: the hook stays on it)."""
    runs: list[dict[str, int]] = []
    calls: dict[str, int] = {}
    open_calls: list[tuple[str, int]] = []  # a stack: a VM function may call others

    def instrument(func, symbol, before_run, ret_value, *call_args) -> int:
        name = str(symbol)
        if name.startswith(BUILTIN_PREFIX):
            return 0
        sync()
        if before_run:
            calls[name] = calls.get(name, 0) + 1
            layer = name if calls[name] == 1 else f"{name}#{calls[name]}"
            open_calls.append((layer, time.perf_counter_ns()))
        else:
            layer, start = open_calls.pop()
            runs[-1][layer] = time.perf_counter_ns() - start
        return 0

    vm.set_instrument(instrument)
    main = vm["main"]
    for _ in range(repeat + 1):
        runs.append({})
        calls.clear()
        main(*args)
    layers: dict[str, list[int]] = {}
    for run in runs[1:]:  # the first run resolves every kernel of this new VM: untimed
        for name, ns in run.items():
            layers.setdefault(name, []).append(ns)
    return layers


def device_sync(device: tvm.runtime.Device) -> Callable[[], None]:
    """A function that waits for `device`'s queued work: nothing to wait for on a CPU."""
    import tvm

    if device.dlpack_device_type() == tvm.cpu().dlpack_device_type():
        return lambda: None
    return device.sync
