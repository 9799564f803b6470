"""Measurement actors: one per device of the cluster, pinned to its node, measuring one candidate at a time.

An actor owns one device: the CPU of its node (`num_cpus=0`, so builds may still use
that node's CPUs) or one GPU (`num_gpus=1`, Ray sets `CUDA_VISIBLE_DEVICES`). It is
pinned with a `label_selector` on Ray's `ray.io/node-id` label, and is a named,
detached actor in the `farm` namespace, so every tuning session of the cluster shares
it and measurements on one device never overlap (a Ray actor runs one call at a time).

Measurements run in a TVM popen worker (a fresh interpreter, never a fork), started
warm with the actor and restarted after a crash or a timeout, so a candidate that
segfaults or hangs costs an error result, not the actor. Benchmarks of compiled models
run in the same worker (`run`), so they never overlap a measurement on the device either. The worker inherits the
actor's `TVM_NUM_THREADS`, set from the node's `farm.io/num-cores` label: Ray gives its
workers `OMP_NUM_THREADS=1`, which TVM would follow otherwise.
"""

from __future__ import annotations

import logging
import os
import socket
import time

import ray

from .devices import DEVICE_TYPES
from .measurement import measure_artifact
from .nodes import NODE_ID_LABEL, DeviceNode

log = logging.getLogger(__name__)

NAMESPACE = "farm"


def _warm_worker() -> str:
    import tvm

    return tvm.__version__


@ray.remote(num_cpus=0, max_restarts=0)
class MeasurementActor:
    """Times built candidates on one device of its node."""

    def __init__(self, node_id: str, device_type: str, num_threads: int) -> None:
        from tvm.support.popen_pool import PopenWorker

        from tuning_db.metaschedule import local_device_fingerprint

        os.environ["TVM_NUM_THREADS"] = str(num_threads)
        os.environ["OMP_NUM_THREADS"] = str(num_threads)
        self.node_id = node_id
        self.device_type = device_type
        self.num_threads = num_threads
        self.fingerprint = f"{local_device_fingerprint()}/{device_type}/node-{node_id[:12]}"
        self.worker = PopenWorker()
        self.worker.send(_warm_worker)
        self.tvm_version = self.worker.recv()

    def describe(self) -> dict:
        """Where this actor measures: node, host, device fingerprint, threads, and whether it yields the CPU (it must not)."""
        return {
            "yields_cpu": hasattr(os, "SCHED_IDLE") and os.sched_getscheduler(0) == os.SCHED_IDLE,
            "node_id": self.node_id,
            "host": socket.gethostname(),
            "device_type": self.device_type,
            "device_fingerprint": self.fingerprint,
            "num_threads": self.num_threads,
            "tvm_version": self.tvm_version,
        }

    def measure(self, artifact: bytes, suffix: str, args_info: list, settings: dict, label: str = "") -> dict:
        """Time one candidate; failures come back as `error`, never as exceptions."""
        started = time.time()
        run_secs, error = None, None
        self.worker.send(
            measure_artifact, (artifact, suffix, self.device_type, args_info, settings), timeout=settings["timeout_sec"]
        )
        try:
            run_secs = self.worker.recv()
        except TimeoutError:
            error = f"measurement timed out after {settings['timeout_sec']} s"
        except ChildProcessError:
            error = "the measurement worker died (the candidate crashed it)"
        except Exception as e:  # noqa: BLE001 - any failure of the candidate is a result
            error = f"{type(e).__name__}: {e}"
        finished = time.time()
        if error is None:
            log.info(
                "%s measured on node %s (%s): mean %.4g ms",
                label or "candidate",
                self.node_id[:12],
                self.device_type,
                1e3 * sum(run_secs) / len(run_secs),
            )
        else:
            log.warning(
                "%s failed on node %s (%s): %s",
                label or "candidate",
                self.node_id[:12],
                self.device_type,
                error.splitlines()[0],
            )
        return {
            "run_secs": run_secs,
            "error": error,
            "node_id": self.node_id,
            "device_fingerprint": self.fingerprint,
            "num_threads": self.num_threads,
            "settings": settings,
            "started": started,
            "finished": finished,
        }

    def run(self, fn, args: tuple, timeout_s: float):
        """`fn(*args)` in this device's worker, between measurements (benchmarks, verification); its errors are raised."""
        self.worker.send(fn, args, timeout=timeout_s)
        try:
            return self.worker.recv()
        except TimeoutError:
            raise TimeoutError(
                f"{getattr(fn, '__name__', 'the call')} took more than {timeout_s} s on node {self.node_id[:12]}"
            ) from None
        except ChildProcessError:
            raise ChildProcessError(
                f"the device worker of node {self.node_id[:12]} died running {getattr(fn, '__name__', 'the call')}"
            ) from None


def actor_name(node_id: str, device: str) -> str:
    return f"measure-{node_id}-{device}"


def device_actors(node: DeviceNode, platform: str) -> dict[str, ray.actor.ActorHandle]:
    """The measurement actors of `node`'s devices of `platform` (`cpu`: one; `gpu`: one per GPU) by name, created if missing."""
    pin = {
        "label_selector": {NODE_ID_LABEL: node.node_id},
        "namespace": NAMESPACE,
        "lifetime": "detached",
        "get_if_exists": True,
    }
    device_type, cores = DEVICE_TYPES[platform], node.num_cores or 1
    if platform == "cpu":
        names, gpus = [actor_name(node.node_id, "cpu")], 0
    else:
        names, gpus = [actor_name(node.node_id, f"gpu{i}") for i in range(node.num_gpus)], 1
    return {
        name: MeasurementActor.options(name=name, num_gpus=gpus, **pin).remote(node.node_id, device_type, cores)
        for name in names
    }
