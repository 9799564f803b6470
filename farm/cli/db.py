"""`farm db …`: the shared tuning-log database from the command line."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from tuning_db import DatabaseFormatError, StorageError, TuningDatabase

from ..paths import default_db_uri
from .output import console, emit_json, fail

app = typer.Typer(help="Inspect and maintain the tuning-log database.", no_args_is_help=True)

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URI: a folder or s3://bucket/prefix. Default: $FARM_DB or a folder in the user's data directory.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


def _open(db: str | None) -> TuningDatabase:
    return TuningDatabase(db or default_db_uri())


def _run(fn):
    """Run a command body, turning the database's own errors into one clear line and exit code 2."""
    from tuning_db.json_io import JSONImportError

    try:
        return fn()
    except (JSONImportError, DatabaseFormatError, StorageError, KeyError, FileNotFoundError, PermissionError) as e:
        fail(str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e))
    except OSError as e:
        fail(f"storage error: {e}")


@app.command("import-json")
def import_json_cmd(
    work_dir: Annotated[
        str, typer.Argument(help="MetaSchedule work dir with database_workload.json and database_tuning_record.json.")
    ],
    db: DbOption = None,
    model: Annotated[str, typer.Option(help="Name of the model these records came from.")] = "",
    job_id: Annotated[str, typer.Option("--job-id", help="Job that produced them.")] = "",
    skip_bad_lines: Annotated[
        bool, typer.Option("--skip-bad-lines", help="Skip malformed lines with a warning instead of failing.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Import a MetaSchedule JSON database; records already stored are counted as duplicates."""
    from tuning_db.json_io import import_json

    result = _run(lambda: import_json(_open(db), work_dir, job_id=job_id, model=model, skip_bad_lines=skip_bad_lines))
    if as_json:
        emit_json(result)
    else:
        console.print(
            f"imported {result['records_new']} new records ({result['records_duplicate']} duplicates) "
            f"and {result['workloads_new']} new workloads"
        )


@app.command("export-json")
def export_json_cmd(
    out_dir: Annotated[
        str, typer.Argument(help="Folder to write database_workload.json and database_tuning_record.json into.")
    ],
    db: DbOption = None,
    target: Annotated[str | None, typer.Option("--target", help="Only this target key's records.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Export as the two files TVM's JSONDatabase reads."""
    from tuning_db.json_io import export_json

    result = _run(lambda: export_json(_open(db), out_dir, target))
    if as_json:
        emit_json(result)
    else:
        console.print(f"wrote {result['records']} records of {result['workloads']} workloads to {result['out_dir']}")


@app.command()
def stats(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Workloads, records and records per target."""
    result = _run(lambda: _open(db).stats())
    if as_json:
        emit_json(result)
        return
    console.print(
        f"{result['uri']}: {result['workloads']} workloads, {result['records']} records, {result['files']} files, {result['bytes']:,} bytes"
    )
    table = Table("target key", "records", "workloads")
    for tk, n in result["targets"].items():
        table.add_row(tk, str(n), str(result["workloads_per_target"][tk]))
    console.print(table)


def _resolve_workload(database: TuningDatabase, view, prefix: str) -> str:
    known = set(view.workload_keys()) | set(database.workloads())
    matches = sorted(k for k in known if k.startswith(prefix))
    if not matches:
        raise KeyError(f"no workload key starts with {prefix!r}")
    if len(matches) > 1:
        raise KeyError(f"workload prefix {prefix!r} is ambiguous: {', '.join(m[:16] for m in matches[:5])}…")
    return matches[0]


@app.command()
def top(
    workload: Annotated[str, typer.Option("--workload", help="Workload key (or a unique prefix of it).")],
    target: Annotated[str, typer.Option("--target", help="Target key.")],
    k: Annotated[int, typer.Option("-k", help="How many records.")] = 5,
    db: DbOption = None,
    as_json: JsonOption = False,
) -> None:
    """The k best measured records of a workload on a target."""

    def query():
        database = _open(db)
        if target not in database.snapshot().target_keys():
            raise KeyError(f"no records for target {target!r}")
        view = database.view(target)
        key = _resolve_workload(database, view, workload)
        return key, view.top_k(key, k)

    key, rows = _run(query)
    out = [
        {
            "rank": i + 1,
            "record_id": r.record_id,
            "workload_key": r.workload_key,
            "mean_secs": r.mean_secs,
            "run_secs": r.run_secs,
            "device_fingerprint": r.device_fingerprint,
            "job_id": r.job_id,
            "model": r.model,
            "created_at": r.created_at.isoformat(),
            "trace_json": r.trace_json,
        }
        for i, r in enumerate(rows)
    ]
    if as_json:
        emit_json({"workload_key": key, "target_key": target, "records": out})
        return
    table = Table("rank", "record id", "mean µs", "device", "job", "created")
    for r in out:
        table.add_row(
            str(r["rank"]),
            r["record_id"][:12],
            f"{r['mean_secs'] * 1e6:.3f}",
            r["device_fingerprint"],
            r["job_id"],
            r["created_at"],
        )
    console.print(f"workload {key} on {target}")
    console.print(table)


@app.command()
def rekey(db: DbOption = None, as_json: JsonOption = False) -> None:
    """Key again the workloads stored under another TVM version, so this TVM finds them (resumable: run it again after an interruption)."""
    from tuning_db.rekey import rekey as rekey_db

    progress = None if as_json else lambda r: console.print(f"re-keyed {r.rekeyed} of {r.examined} examined…")
    report = _run(lambda: rekey_db(_open(db), progress=progress))
    if as_json:
        emit_json(report.as_json())
        return
    console.print(
        f"TVM {report.tvm_version}: {report.examined} workloads stored by another version; {report.rekeyed} re-keyed with "
        f"{report.records_copied} records, {report.unchanged} keep their key, {report.already} were re-keyed before"
    )
    if report.unreadable:
        console.print(
            f"[yellow]{len(report.unreadable)} modules this TVM cannot load:[/] {', '.join(k[:12] for k in report.unreadable)}"
        )


@app.command()
def compact(
    db: DbOption = None,
    retention: Annotated[
        float, typer.Option(help="Seconds removed files and old log entries are kept for readers of older snapshots.")
    ] = 3600.0,
    as_json: JsonOption = False,
) -> None:
    """Merge small part files, checkpoint the log and delete what has expired."""
    result = _run(lambda: _open(db).compact(retention_s=retention))
    if as_json:
        emit_json(result)
    else:
        console.print(
            f"merged {result['files_merged']} files in {result['partitions_merged']} partitions; "
            f"deleted {result['files_deleted']} removed files, {result['orphans_deleted']} orphans, {result['log_objects_deleted']} log objects"
        )
