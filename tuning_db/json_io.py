"""Import and export of MetaSchedule's JSON databases (`database_workload.json` + `database_tuning_record.json`).

Import is all-or-nothing: every line is validated first, a malformed one is reported
with its file and line number, and only then is everything written as one commit
(`skip_bad_lines` instead skips such lines with a warning, for a log whose last
line a killed tuner left truncated). Records already in the database are counted as
duplicates and not written again.

Export writes the two files TVM's own `JSONDatabase` reads. Workloads keep the
serialized module they came with, records their trace, run times, target and
argument info, so nothing is lost either way. Records are written best first per
workload, which keeps ties in the same order as in our top-k.
"""

from __future__ import annotations

import json
import os
import warnings
from dataclasses import dataclass

from .database import TuningDatabase
from .log import TuningDbWarning
from .schema import RecordRow

WORKLOAD_FILE = "database_workload.json"
RECORD_FILE = "database_tuning_record.json"


class JSONImportError(ValueError):
    """A MetaSchedule JSON database could not be imported; says which file and line."""


@dataclass
class _Line:
    path: str
    number: int
    value: object


def _read_lines(path: str, skip_bad_lines: bool) -> list[_Line]:
    out = []
    with open(path, encoding="utf-8") as f:
        for number, text in enumerate(f, start=1):
            if not text.strip():
                continue
            try:
                out.append(_Line(path, number, json.loads(text)))
            except json.JSONDecodeError as e:
                message = f"{path}:{number}: malformed JSON line: {e.msg} (column {e.colno})"
                if not skip_bad_lines:
                    raise JSONImportError(message) from e
                warnings.warn(f"skipping {message}", TuningDbWarning, stacklevel=2)
    return out


def _bad(line: _Line, why: str, skip: bool) -> None:
    message = f"{line.path}:{line.number}: {why}"
    if not skip:
        raise JSONImportError(message)
    warnings.warn(f"skipping {message}", TuningDbWarning, stacklevel=3)


def import_json(
    db: TuningDatabase,
    work_dir: str,
    *,
    job_id: str = "",
    model: str = "",
    device_fingerprint: str = "",
    skip_bad_lines: bool = False,
) -> dict:
    """Import `WORK_DIR/database_workload.json` and `database_tuning_record.json` into `db`."""
    import tvm  # here, not at the top: export and the CLI's error handling need no TVM (its import takes 1.7 s)
    from tvm.s_tir.meta_schedule.database import Workload

    from .metaschedule import record_row
    from .workload import workload_row

    paths = [os.path.join(work_dir, name) for name in (WORKLOAD_FILE, RECORD_FILE)]
    for p in paths:
        if not os.path.isfile(p):
            raise JSONImportError(f"{p}: not found (a MetaSchedule work dir holds {WORKLOAD_FILE} and {RECORD_FILE})")
    wl_lines = _read_lines(paths[0], skip_bad_lines)
    rec_lines = _read_lines(paths[1], skip_bad_lines)

    keys_by_index: dict[int, str] = {}
    new_workloads = {}
    existing = db.workloads()
    for index, line in enumerate(wl_lines):
        v = line.value
        if not (isinstance(v, list) and len(v) == 2 and all(isinstance(x, str) for x in v)):
            _bad(line, "a workload line must be [shash, serialized module]", skip_bad_lines)
            continue
        try:
            mod = Workload.from_json(v).mod
        except Exception as e:  # noqa: BLE001 - TVM raises its own error types for bad modules
            _bad(line, f"cannot load the workload's module: {e}", skip_bad_lines)
            continue
        row = workload_row(mod, model=model, json_obj=v)
        keys_by_index[index] = row.workload_key
        if row.workload_key not in existing:
            new_workloads.setdefault(row.workload_key, row)

    rows: dict[str, RecordRow] = {}
    duplicates = 0
    for line in rec_lines:
        v = line.value
        if not (
            isinstance(v, list) and len(v) == 2 and isinstance(v[0], int) and isinstance(v[1], list) and len(v[1]) == 4
        ):
            _bad(line, "a record line must be [workload index, [trace, run_secs, target, args_info]]", skip_bad_lines)
            continue
        if v[0] not in keys_by_index:
            _bad(line, f"workload index {v[0]} names no workload of {WORKLOAD_FILE}", skip_bad_lines)
            continue
        try:
            row = record_row(
                v[1],
                keys_by_index[v[0]],
                "",
                device_fingerprint=device_fingerprint,
                job_id=job_id,
                model=model,
                tvm_version=tvm.__version__,
            )
        except (ValueError, TypeError) as e:
            _bad(line, f"malformed record: {e}", skip_bad_lines)
            continue
        if row.record_id in rows:
            duplicates += 1
        else:
            rows[row.record_id] = row

    targets = sorted({r.target_key for r in rows.values()})
    known = set()
    for tk in targets:
        known |= db.record_ids(tk)
    fresh = [r for r in rows.values() if r.record_id not in known]
    duplicates += len(rows) - len(fresh)
    result = db.append(
        fresh, new_workloads.values(), info={"operation": "import-json", "source": os.path.abspath(work_dir)}
    )
    per_target: dict[str, int] = {}
    for r in fresh:
        per_target[r.target_key] = per_target.get(r.target_key, 0) + 1
    return {
        "workloads_new": len(new_workloads),
        "workloads_existing": len(keys_by_index) - len(new_workloads),
        "records_new": len(fresh),
        "records_duplicate": duplicates,
        "targets": per_target,
        "version": result.version,
    }


def export_json(db: TuningDatabase, out_dir: str, target: str | None = None) -> dict:
    """Write the database (or one target key's records) as a MetaSchedule JSON database in `out_dir`."""
    os.makedirs(out_dir, exist_ok=True)
    snap_targets = db.snapshot().target_keys()
    targets = [target] if target else snap_targets
    if target and target not in snap_targets:
        raise KeyError(
            f"no records for target {target!r} in {db.uri}; known targets: {', '.join(snap_targets) or 'none'}"
        )
    workloads = db.workloads()
    index: dict[str, int] = {}
    n_records = 0
    with (
        open(os.path.join(out_dir, WORKLOAD_FILE), "w", encoding="utf-8") as wf,
        open(os.path.join(out_dir, RECORD_FILE), "w", encoding="utf-8") as rf,
    ):
        for tk in targets:
            view = db.view(tk)
            for wk in view.workload_keys():
                if wk not in workloads:
                    warnings.warn(f"records of unknown workload {wk} are not exported", TuningDbWarning, stacklevel=2)
                    continue
                if wk not in index:
                    index[wk] = len(index)
                    wf.write(json.dumps([workloads[wk].shash, workloads[wk].mod_b64]) + "\n")
                measured = view.top_k(wk, view.count(wk))
                ids = {r.record_id for r in measured}
                for r in measured + [r for r in view.records(wk) if r.record_id not in ids]:
                    secs = json.dumps(r.run_secs)
                    rf.write(f"[{index[wk]},[{r.trace_json},{secs},{r.target_json},{r.args_info_json}]]\n")
                    n_records += 1
    return {"workloads": len(index), "records": n_records, "targets": targets, "out_dir": os.path.abspath(out_dir)}
