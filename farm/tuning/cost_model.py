"""The central cost model of a tuning session: MetaSchedule's XGBoost model, shared by every search worker.

One `CostModelServer` actor per session (per target kind) owns the model. Before the
first search round it loads the target's newest saved model from the database
(`tuning_db.cost_models`) and trains on every record of the target the saved model has
not seen (all workloads, all earlier models): that is the transfer across models. The
session's search workers hold a `RemoteCostModel`, MetaSchedule's `PyCostModel`
interface: each computes features where it searches, sends measured features and run
times to the server (`add`), and predicts with a local copy of the server's newest
booster, fetched whenever the server has trained a newer one (the broadcast). When the
session ends the server saves the model back with the ids of the records it learned.

Nothing waits for a retrain. `add` only queues the measurements; one trainer thread takes
all that has queued, retrains (from scratch, as MetaSchedule does) and publishes the new
booster by replacing one tuple, so `booster_since` never waits for a lock a retrain
holds. A worker keeps at most one `add` in flight: the next `update` first collects the
previous one, so a failed retrain (`add` raises it from then on) reaches the search, and a
worker that measures faster than the server learns waits instead of piling up requests.

Feature groups (MetaSchedule normalises run times within one) are keyed by the database's
workload key (`WorkloadIndex.key`: a stored equal module's key, variable names aside), so
records from the database and fresh measurements of the same workload share a group.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable

import numpy as np
import ray
import tvm
from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule import TuneContext
from tvm.s_tir.meta_schedule.cost_model import PyCostModel
from tvm.s_tir.meta_schedule.cost_model.xgb_model import FeatureGroup, PackSum, XGBConfig, XGBModel
from tvm.s_tir.meta_schedule.database import TuningRecord
from tvm.s_tir.meta_schedule.feature_extractor import PerStoreFeature
from tvm.s_tir.meta_schedule.runner import RunnerResult

from cluster.priority import BACKGROUND, yield_cpu
from cluster.tvm_intrinsics import import_tensor_intrinsics
from tuning_db.cost_models import CostModelStore
from tuning_db.database import TuningDatabase
from tuning_db.metaschedule import record_json
from tuning_db.schema import FAILED_SECS
from tuning_db.workload import WorkloadIndex

EXTRACTOR = "per-store-feature"


def median_costs(results: Iterable[RunnerResult | list[float] | None]) -> np.ndarray:
    """Median run time per candidate (MetaSchedule's training target), `FAILED_SECS` where it has none."""
    out = []
    for r in results:
        secs = r.run_secs if isinstance(r, RunnerResult) else r
        out.append(float(np.median([float(s) for s in secs])) if secs else FAILED_SECS)
    return np.asarray(out, dtype="float32")


def features(extractor, context: TuneContext, candidates: list) -> list[np.ndarray]:
    return [x.numpy().astype("float32") for x in extractor.extract_from(context, candidates)]


class FarmXGBModel(XGBModel):
    """MetaSchedule's XGBoost model fed with features computed elsewhere, keyed by workload key."""

    def __init__(self, nthread: int | None = None) -> None:
        super().__init__(
            extractor=EXTRACTOR, config=XGBConfig(nthread=nthread or max(1, os.cpu_count() or 1)), verbose_eval=0
        )

    def add(self, group: str, feats: list[np.ndarray], costs: np.ndarray, *, train: bool = True) -> bool:
        """Add measured candidates of one workload; retrain (as MetaSchedule's adaptive training would). True if trained."""
        keep = [i for i, f in enumerate(feats) if len(f)]
        if not keep:
            return False
        feats = [feats[i] for i in keep]
        costs = np.asarray(costs, dtype="float32")[keep]
        if group in self.data:
            self.data[group].append(feats, costs)
        else:
            self.data[group] = FeatureGroup(group_hash=group, features=feats, costs=costs)
        self.data_size += len(feats)
        if not train or (self.adaptive_training and self.data_size - self.last_train_size < self.last_train_size / 5):
            return False
        self.train()
        return True

    def train(self) -> None:
        """Train on every feature group held (from scratch, as MetaSchedule's model always does)."""
        if not self.data:
            return
        self.last_train_size = self.data_size
        with np.errstate(divide="ignore", invalid="ignore"):
            xs = [f for g in self.data.values() for f in g.features]
            ys = np.concatenate(
                [
                    np.divide(g.min_cost, g.costs, out=np.zeros_like(g.costs), where=g.costs != 0)
                    for g in self.data.values()
                ]
            )
        # TVM offers no public way to train its XGBoost model on features computed elsewhere: `_train` is XGBModel's own step
        self._train(xs=xs, ys=ys)

    def to_bytes(self) -> bytes:
        with tempfile.TemporaryDirectory(prefix="farm-xgb-") as folder:
            path = os.path.join(folder, "model.tar")
            self.save(path)
            with open(path, "rb") as f:
                return f.read()

    def from_bytes(self, blob: bytes) -> None:
        with tempfile.TemporaryDirectory(prefix="farm-xgb-") as folder:
            path = os.path.join(folder, "model.tar")
            with open(path, "wb") as f:
                f.write(blob)
            self.load(path)
        self.last_train_size = self.data_size


def _us(secs: float | None) -> float | None:
    return None if secs is None else secs * 1e6


def booster_bytes(model: XGBModel) -> bytes | None:
    return bytes(model.booster.save_raw("ubj")) if model.booster is not None else None


def predict_with(booster, feats: list[np.ndarray]) -> np.ndarray:
    """Scores of candidates from their per-block features (MetaSchedule's sum over blocks)."""
    packed = PackSum(xs=feats, ys=None)
    return packed.predict_with_score(booster.predict(packed.dmatrix))


def record_features(
    db: TuningDatabase, target: tvm.target.Target, key_of_target: str, skip: set[str]
) -> Iterable[tuple[str, list[np.ndarray], np.ndarray, list[str]]]:
    """Per workload of the target: features and costs of the database's records not in `skip`, and their ids.

    A record whose trace no longer replays on its workload (another TVM build) is left out.
    """
    extractor = PerStoreFeature()
    view = db.view(key_of_target)
    workloads = WorkloadIndex(db.workloads(keys=view.workload_keys()))
    for key in view.workload_keys():
        rows = [r for r in view.records(key) if r.record_id not in skip]
        if not rows:
            continue
        workload = workloads.workload(key)
        candidates, costs, ids = [], [], []
        for row in rows:
            try:
                candidates.append(TuningRecord.from_json(record_json(row), workload).as_measure_candidate())
            except Exception:  # noqa: BLE001, S112 - TVM raises its own error types for traces that do not replay; expected, not logged
                continue
            costs.append(row.run_secs)
            ids.append(row.record_id)
        if candidates:
            import_tensor_intrinsics()
            context = TuneContext(mod=workload.mod, target=target, num_threads=1)
            yield key, features(extractor, context, candidates), median_costs(costs), ids


@ray.remote(num_cpus=0, max_concurrency=4, runtime_env=BACKGROUND)
class CostModelServer:
    """The session's one XGBoost model: pre-trained from the database, trained on every measurement, saved back.

    Training yields the CPU to measurements (`cluster.priority`): every method first puts the
    actor's threads, including those its concurrency pool started since, under `SCHED_IDLE`.
    """

    def __init__(
        self,
        db_uri: str,
        target: dict,
        target_key: str,
        job_id: str,
        weights: dict[str, float],
        reused_secs: dict[str, float],
    ) -> None:
        yield_cpu()
        self.db_uri = db_uri
        self.job_id = job_id
        self.target = target
        self.target_key = target_key
        self.model = FarmXGBModel()
        self.record_ids: set[str] = set()
        self.weights = weights
        self.best = dict(reused_secs)
        self.trials = 0  # measured candidates the model was given
        self.landed_trials = 0  # measured records committed by the search workers as they returned
        self.landed_per_task: dict[str, int] = dict.fromkeys(weights, 0)
        self.train_seconds = 0.0
        self.lock = threading.Lock()  # the queue, counters and error; never held while training
        self.model_lock = threading.Lock()  # the model itself: the trainer, pre-training, save and load
        self.published: tuple[int, bytes | None, int] = (0, None, 0)  # version, booster, samples: replaced whole
        self.queue: list[tuple[str, list[np.ndarray], np.ndarray]] = []
        self.training = False
        self.error: str | None = None
        self.changed = threading.Condition(self.lock)  # data queued (the trainer waits), a retrain ended (drain waits)
        threading.Thread(target=self._train_forever, name="cost-model-trainer", daemon=True).start()

    def pretrain(self) -> dict:
        """Load the newest saved model of the target and train it on the records it has not seen."""
        yield_cpu()
        start = time.perf_counter()
        with self.model_lock:
            return self._pretrain(start)

    def _pretrain(self, start: float) -> dict:
        store = CostModelStore(self.db_uri)
        saved = store.latest(self.target_key, tvm_version=tvm.__version__, extractor=EXTRACTOR)
        loaded = 0
        if saved is not None:
            self.model.from_bytes(saved.blob)
            self.record_ids = saved.record_ids
            loaded = self.model.data_size
        added = 0
        for key, feats, costs, ids in record_features(
            TuningDatabase(self.db_uri), tvm.target.Target(self.target), self.target_key, self.record_ids
        ):
            self.model.add(key, feats, costs, train=False)
            self.record_ids.update(ids)
            added += len(ids)
        if added or (loaded and self.model.booster is None):
            self.model.train()
        self._publish()
        return {
            "loaded_samples": loaded,
            "loaded_from": saved.path if saved else None,
            "new_samples": added,
            "samples": self.model.data_size,
            "seconds": time.perf_counter() - start,
        }

    def _publish(self) -> None:
        """Make the model's booster the newest (called with `model_lock` held)."""
        self.published = (self.published[0] + 1, booster_bytes(self.model), self.model.data_size)

    def add(self, key: str, feats: list[np.ndarray], costs: np.ndarray) -> int:
        """Queue measured candidates of one workload for the trainer; returns the published version. Raises a failed retrain."""
        with self.lock:
            if self.error is not None:
                raise RuntimeError(f"the cost model failed to retrain: {self.error}")
            self.trials += len(costs)
            measured = [float(c) for c in costs if c < FAILED_SECS]
            if measured:
                self.best[key] = min(self.best.get(key, float("inf")), min(measured))
            self.queue.append((key, feats, costs))
            self.changed.notify_all()
        return self.published[0]

    def _train_forever(self) -> None:
        yield_cpu()
        while True:
            with self.lock:
                self.changed.wait_for(lambda: self.queue)
                batch, self.queue = self.queue, []
                self.training = True
            start = time.perf_counter()
            try:
                with self.model_lock:
                    trained = [self.model.add(key, feats, costs) for key, feats, costs in batch]
                    if any(trained):
                        self._publish()
            except Exception as e:  # noqa: BLE001 - handed to the next add() and to drain()
                with self.lock:
                    self.error = f"{type(e).__name__}: {e}"
            with self.lock:
                self.train_seconds += time.perf_counter() - start
                self.training = False
                self.changed.notify_all()

    def drain(self) -> int:
        """Wait until everything queued is learned; the published version. Raises a failed retrain."""
        with self.lock:
            self.changed.wait_for(lambda: not self.queue and not self.training)
            if self.error is not None:
                raise RuntimeError(f"the cost model failed to retrain: {self.error}")
        return self.published[0]

    def booster_since(self, version: int) -> tuple[int, bytes | None, int] | None:
        """The newest booster, its version and the samples behind it; None if `version` is already the newest. Never waits."""
        published = self.published
        return None if version == published[0] else published

    def landed(self, key: str, mean_secs: float) -> None:
        """A search worker committed a measured record of workload `key` (`farm.tuning.landing`), before MetaSchedule
        hands it to the model: progress counts it now."""
        with self.lock:
            self.landed_trials += 1
            self.landed_per_task[key] = self.landed_per_task.get(key, 0) + 1
            self.best[key] = min(self.best.get(key, float("inf")), mean_secs)

    def progress(self) -> dict:
        """Trials measured this session, the model latency estimated from the best record of every task so far, and
        per task (by workload key) its weight, the trials measured this session and its best mean run time."""
        with self.lock:
            tasks = {
                key: {"weight": weight, "trials": self.landed_per_task.get(key, 0), "best_us": _us(self.best.get(key))}
                for key, weight in self.weights.items()
            }
            known = [self.weights[k] * s for k, s in self.best.items() if k in self.weights]
            complete = len([k for k in self.weights if k in self.best]) == len(self.weights)
            return {
                "trials": max(self.trials, self.landed_trials),
                "estimated_latency_s": sum(known) if complete and known else None,
                "train_seconds": self.train_seconds,
                "training": self.training or bool(self.queue),
                "error": self.error,
                "tasks": tasks,
            }

    def blob(self) -> bytes:
        """The model as MetaSchedule's `XGBModel.save` writes it, once everything queued is learned."""
        self.drain()
        with self.model_lock:
            return self.model.to_bytes()

    def load_blob(self, blob: bytes) -> None:
        """Replace the model by one `XGBModel.save` wrote."""
        self.drain()
        with self.model_lock:
            self.model.from_bytes(blob)
            self._publish()

    def save(self) -> dict:
        """Save the model back to the database for the next session of the target.

        The records it learned: those it was pre-trained on and those this session's job
        committed (the search workers' measurements, as the database recorded them).
        """
        self.drain()
        view = TuningDatabase(self.db_uri).view(self.target_key)
        session_ids = view.record_ids_of_job(self.job_id)
        with self.model_lock:
            if not self.model.data_size:
                return {"saved": None, "samples": 0}
            blob = self.model.to_bytes()
            ids = sorted(self.record_ids | session_ids)
            meta = {
                "tvm_version": tvm.__version__,
                "extractor": EXTRACTOR,
                "samples": self.model.data_size,
                "record_ids": ids,
            }
        path = CostModelStore(self.db_uri).save(self.target_key, blob, meta)
        return {"saved": path, "samples": meta["samples"], "bytes": len(blob)}


@derived_object
class RemoteCostModel(PyCostModel):
    """A search worker's handle on the session's `CostModelServer` (MetaSchedule's `PyCostModel` interface)."""

    def __init__(
        self, server: ray.actor.ActorHandle, key_of: Callable[[tvm.IRModule], str], num_warmup_samples: int = 100
    ) -> None:
        super().__init__()
        self.server = server
        self.key_of = (
            key_of  # the database's workload key of a module (`WorkloadIndex.key`), as the server's groups use
        )
        self.extractor = PerStoreFeature()
        self.num_warmup_samples = num_warmup_samples
        self.version = -1
        self.samples = 0
        self.booster = None
        self.seconds = 0.0
        self.wait_seconds = 0.0  # of `seconds`, waiting on the server (its answers and the previous update)
        self._in_flight: ray.ObjectRef | None = None
        self._keys: dict[int, str] = {}
        self._refresh()

    def _key(self, context: TuneContext) -> str:
        handle = context.mod.__hash__()
        if handle not in self._keys:
            self._keys[handle] = self.key_of(context.mod)
        return self._keys[handle]

    def _wait(self, ref: ray.ObjectRef):
        start = time.perf_counter()
        try:
            return ray.get(ref)
        finally:
            self.wait_seconds += time.perf_counter() - start

    def _refresh(self) -> None:
        latest = self._wait(self.server.booster_since.remote(self.version))
        if latest is None:
            return
        self.version, raw, self.samples = latest
        if raw is None:
            self.booster = None
            return
        import xgboost as xgb

        booster = xgb.Booster()
        booster.load_model(bytearray(raw))
        self.booster = booster

    def load(self, path: str) -> None:
        with open(path, "rb") as f:
            ray.get(self.server.load_blob.remote(f.read()))
        self._refresh()

    def save(self, path: str) -> None:
        with open(path, "wb") as f:
            f.write(ray.get(self.server.blob.remote()))

    def update(self, context: TuneContext, candidates: list, results: list[RunnerResult]) -> None:
        if not candidates:
            return
        start = time.perf_counter()
        self._collect()
        self._in_flight = self.server.add.remote(
            self._key(context), features(self.extractor, context, candidates), median_costs(results)
        )
        self.seconds += time.perf_counter() - start

    def drain(self) -> None:
        """Collect the update in flight, if any (raises the server's error)."""
        start = time.perf_counter()
        self._collect()
        self.seconds += time.perf_counter() - start

    def _collect(self) -> None:
        ref, self._in_flight = self._in_flight, None
        if ref is not None:
            self._wait(ref)

    def predict(self, context: TuneContext, candidates: list) -> np.ndarray:
        start = time.perf_counter()
        self._refresh()
        if self.booster is not None and self.samples >= self.num_warmup_samples:
            scores = predict_with(self.booster, features(self.extractor, context, candidates))
        else:
            scores = np.random.uniform(0, 1, size=(len(candidates),))
        self.seconds += time.perf_counter() - start
        return scores.astype("float64")


__all__ = ["CostModelServer", "FarmXGBModel", "RemoteCostModel", "median_costs", "record_features"]
