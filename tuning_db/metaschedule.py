"""MetaSchedule adapter: a `PyDatabase` that reads and writes one target's records in a `TuningDatabase`.

MetaSchedule's database interface has no notion of target (`get_top_k` receives a
workload only), so an adapter is opened for one target: it loads that target's
partition into memory once (a `TargetView`) and answers every query from there.

Commits are buffered and written as one atomic database commit
- when `flush()` is called: `measure_callbacks(db)` appends a callback that does so
  after every measured batch, right after MetaSchedule's own `AddToDatabase`;
- every `flush_interval_s` seconds by a background thread, and when `flush_every`
  records are pending, so stock `tune_tasks`/`tune_relax` calls lose at most that much;
- on `close()`, which also runs at interpreter exit and compacts the target's
  partition once it holds more than `auto_compact_files` files.
A failed flush keeps the batch in memory and re-raises the storage's error
(`OSError` for a full disk, say); the periodic flusher logs it and tries again.

`TuningRecord.from_json` replays a trace and costs milliseconds per record, so stored
records become TVM objects only when asked for, and are cached.

Records measured elsewhere (on a device node of the Ray farm) carry that device's
fingerprint and the measurement's settings: `measure_callbacks(db, origin_of)` asks
`origin_of(artifact_path)` (the Ray runner's `provenance`) for each candidate of a batch
before MetaSchedule commits it, and the adapter attaches the answer to the record of that
candidate's trace; a record no origin was given for gets this machine's fingerprint.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import platform
import socket
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import tvm
from tvm.ir import IRModule
from tvm.ir.utils import derived_object
from tvm.s_tir.meta_schedule.database import PyDatabase, TuningRecord, Workload
from tvm.s_tir.meta_schedule.measure_callback import MeasureCallback, PyMeasureCallback
from tvm.s_tir.meta_schedule.utils import _json_de_tvm
from tvm.s_tir.schedule import Trace
from tvm.target import Target

from .database import TuningDatabase
from .keys import canonical_target, record_id, target_key
from .schema import RecordRow
from .workload import WorkloadIndex, workload_row

log = logging.getLogger(__name__)

_COMPACT = (",", ":")
ORIGINS_KEPT = 100_000  # origins of candidates not committed yet; MetaSchedule commits a batch right after measuring it


def local_device_fingerprint() -> str:
    """`host/cpu-model/hash` of the machine this process runs on."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    host = socket.gethostname()
    digest = hashlib.sha256(f"{host}|{model}".encode()).hexdigest()[:8]
    return f"{host}/{model}/{digest}"


def exported_target(target: Target | dict | str) -> dict:
    """The exported, plain-Python form of a target given as a Target, dict or JSON text (what `canonical_target` takes).

    MetaSchedule's own `_json_de_tvm` turns the exported TVM containers into Python ones: TVM has no public equivalent.
    """
    if isinstance(target, str):
        target = json.loads(target)
    if not isinstance(target, Target):
        target = Target(target)
    return _json_de_tvm(target.export())


def record_row(
    record_json: list,
    workload_key_: str,
    default_target_json: str,
    *,
    device_fingerprint: str = "",
    job_id: str = "",
    model: str = "",
    tvm_version: str = "",
    measure_json: str | None = None,
) -> RecordRow:
    """A database row from MetaSchedule's record JSON `[trace, run_secs, target, args_info]`."""
    trace, run_secs, target, args_info = record_json
    target_json = canonical_target(target) if target else default_target_json
    trace_json = json.dumps(trace, separators=_COMPACT)
    args_json = json.dumps(args_info, separators=_COMPACT)
    secs = [float(s) for s in run_secs] if run_secs is not None else None
    return RecordRow(
        record_id=record_id(workload_key_, target_json, trace_json, secs, args_json),
        workload_key=workload_key_,
        target_key=target_key(target_json),
        target_json=target_json,
        trace_json=trace_json,
        run_secs=secs,
        args_info_json=args_json,
        tvm_version=tvm_version,
        device_fingerprint=device_fingerprint,
        job_id=job_id,
        model=model,
        measure_json=measure_json,
    )


def record_json(row: RecordRow) -> list:
    """MetaSchedule's record JSON of a row."""
    return [json.loads(row.trace_json), row.run_secs, json.loads(row.target_json), json.loads(row.args_info_json)]


@derived_object
class ParquetDatabase(PyDatabase):
    """A MetaSchedule database backed by a shared `TuningDatabase`, scoped to one target."""

    def __init__(
        self,
        db: TuningDatabase | str,
        target: Target | dict | str,
        *,
        job_id: str = "",
        model: str = "",
        device_fingerprint: str | None = None,
        task_names: dict[str, str] | None = None,
        flush_interval_s: float = 5.0,
        flush_every: int = 1024,
        auto_compact_files: int | None = 64,
    ) -> None:
        super().__init__()
        self.db = db if isinstance(db, TuningDatabase) else TuningDatabase(db)
        self.target_json = canonical_target(exported_target(target))
        self.target_key = target_key(self.target_json)
        self.job_id = job_id
        self.model = model
        self.device_fingerprint = device_fingerprint if device_fingerprint is not None else local_device_fingerprint()
        self._origins: OrderedDict[Trace, dict] = OrderedDict()
        self.task_names = dict(task_names or {})
        self.flush_every = flush_every
        self.auto_compact_files = auto_compact_files
        self.view = self.db.view(self.target_key)
        self.workloads = WorkloadIndex(self.db.workloads(keys=self.view.workload_keys()))  # this target's only
        self._key_of: dict[Workload, str] = {}
        self._records: dict[str, TuningRecord] = {}
        self._pending_records: list[RecordRow] = []
        self._pending_workloads: list = []
        self._lock = threading.RLock()
        self._closed = threading.Event()
        self._finished = False
        self._flusher = threading.Thread(target=self._flush_periodically, args=(flush_interval_s,), daemon=True)
        self._flusher.start()
        atexit.register(self.close)

    # -- MetaSchedule interface ----------------------------------------------
    def has_workload(self, mod: IRModule) -> bool:
        return self.workloads.find(mod) is not None

    def commit_workload(self, mod: IRModule) -> Workload:
        with self._lock:
            key = self.workloads.find(mod)
            if key is not None:
                wl = self.workloads.workload(key)
            else:
                wl = Workload(mod)
                row = workload_row(mod, model=self.model, json_obj=wl.as_json())
                key = row.workload_key
                row.task_name = self.task_names.get(key, "")
                self.workloads.add(row, wl)
                self._pending_workloads.append(row)
            self._key_of[wl] = key
            return wl

    def key_of(self, workload: Workload) -> str | None:
        """The portable key of a workload this database knows, or None."""
        key = self._key_of.get(workload)
        if key is None:
            key = self.workloads.find(workload.mod)
            if key is not None:
                self._key_of[workload] = key
        return key

    def commit_tuning_record(self, record: TuningRecord) -> None:
        with self._lock:
            key = self.key_of(record.workload)
            if key is None:
                self.commit_workload(record.workload.mod)
                key = self.key_of(record.workload)
            record_json_ = record.as_json()
            origin = self._origins.pop(record.trace, None)
            row = record_row(
                record_json_,
                key,
                self.target_json,
                device_fingerprint=origin["device_fingerprint"] if origin else self.device_fingerprint,
                job_id=self.job_id,
                model=self.model,
                tvm_version=tvm.__version__,
                measure_json=json.dumps(origin, sort_keys=True, separators=_COMPACT) if origin else None,
            )
            if row.target_key == self.target_key:
                if not self.view.add(row):
                    return
                self._records[row.record_id] = record
            self._pending_records.append(row)
            due = len(self._pending_records) >= self.flush_every
        if due:
            self.flush()

    def expect_origin(self, trace: Trace, origin: dict) -> None:
        """Where and how the candidate with this trace (the very object MetaSchedule will commit) was measured."""
        with self._lock:
            self._origins[trace] = origin
            while len(self._origins) > ORIGINS_KEPT:
                self._origins.popitem(last=False)

    def get_top_k(self, workload: Workload, top_k: int) -> list[TuningRecord]:
        key = self.key_of(workload)
        if key is None:
            return []
        return [self._tuning_record(row, workload) for row in self.view.top_k(key, top_k)]

    def get_all_tuning_records(self) -> list[TuningRecord]:
        return [self._tuning_record(row, self.workloads.workload(row.workload_key)) for row in self.view.records()]

    def __len__(self) -> int:
        return len(self.view)

    # -- buffering -----------------------------------------------------------
    def _tuning_record(self, row: RecordRow, workload: Workload) -> TuningRecord:
        rec = self._records.get(row.record_id)
        if rec is None:
            rec = self._records[row.record_id] = TuningRecord.from_json(record_json(row), workload)
        return rec

    @property
    def pending(self) -> int:
        """Records committed by MetaSchedule and not yet written to the database."""
        return len(self._pending_records)

    def flush(self) -> None:
        """Write everything pending as one database commit."""
        with self._lock:
            records, workloads = self._pending_records, self._pending_workloads
            if not records and not workloads:
                return
            self._pending_records, self._pending_workloads = [], []
            try:
                self.db.append(records, workloads, info={"job_id": self.job_id, "model": self.model})
            except Exception:
                self._pending_records = records + self._pending_records
                self._pending_workloads = workloads + self._pending_workloads
                raise

    def _flush_periodically(self, interval_s: float) -> None:
        while not self._closed.wait(interval_s):
            try:
                self.flush()
            except Exception as e:  # noqa: BLE001 - keep the batch, report, try again next tick
                log.warning("flushing tuning records to %s failed, will retry: %s", self.db.uri, e)

    def close(self) -> None:
        """Flush what is pending, stop the background flusher, and compact the target if it has many small files.

        Small commits (one per measured batch) accumulate one file per commit and
        workload bucket; the next session of this target opens much faster once they
        are merged, so a session that leaves more than `auto_compact_files` record files
        in its partition merges them on the way out.
        """
        self._closed.set()
        self.flush()  # if this raises, the exit hook stays registered and tries again
        atexit.unregister(self.close)
        if self._finished:
            return
        self._finished = True
        if (
            self.auto_compact_files is not None
            and len(self.db.snapshot().record_files(self.target_key)) > self.auto_compact_files
        ):
            self.db.compact(target_key=self.target_key)


@derived_object
class FlushDatabase(PyMeasureCallback):
    """A measure callback that flushes a `ParquetDatabase` after every measured batch."""

    def __init__(self, database: Any) -> None:
        super().__init__()
        self.database = database

    def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results) -> None:
        self.database.flush()


@derived_object
class RecordOrigins(PyMeasureCallback):
    """A measure callback, run before MetaSchedule's `AddToDatabase`, that gives `database` each measured candidate's origin."""

    def __init__(self, database: Any, origin_of: Callable[[str], dict | None]) -> None:
        super().__init__()
        self.database = database
        self.origin_of = origin_of

    def apply(self, task_scheduler, task_id, measure_candidates, builder_results, runner_results) -> None:
        for candidate, built, ran in zip(measure_candidates, builder_results, runner_results):
            if built.artifact_path is not None and ran.run_secs is not None:
                origin = self.origin_of(str(built.artifact_path))
                if origin is not None:
                    self.database.expect_origin(candidate.sch.trace, origin)


def measure_callbacks(database: Any, origin_of: Callable[[str], dict | None] | None = None) -> list[MeasureCallback]:
    """MetaSchedule's default measure callbacks, then a flush of `database`; first the origins `origin_of` knows, if given."""
    origins = [RecordOrigins(database, origin_of)] if origin_of is not None else []
    return [*origins, *MeasureCallback.create("default"), FlushDatabase(database)]
