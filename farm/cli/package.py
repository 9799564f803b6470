"""`farm package`: tuned variant folders as deployable packages (wheel, shared-object tarball, ranked zip, Docker context)."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from .output import console, emit_json, fail


def _variant_dirs(paths: list[str]) -> list[str]:
    """Each path as a variant folder (it has metadata.json) or, failing that, the variant folders inside it."""
    from ..runtime.container import METADATA as METADATA_FILE

    dirs = []
    for path in paths:
        if os.path.isfile(os.path.join(path, METADATA_FILE)):
            dirs.append(path)
            continue
        inside = sorted(os.path.join(path, d) for d in os.listdir(path)) if os.path.isdir(path) else []
        inside = [d for d in inside if os.path.isfile(os.path.join(d, METADATA_FILE))]
        if not inside:
            fail(
                f"{path}: no {METADATA_FILE} in it nor in its sub-folders: not a variant folder, nor a `farm tune --out` folder",
                1,
            )
        dirs.extend(inside)
    return dirs


def package(
    variant_dirs: Annotated[
        list[str], typer.Argument(help="Variant folders, or `farm tune --out` folders (all their kinds).")
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--format", help="wheel, tarball or dockerfile (one package per variant), or zip (all variants ranked)."
        ),
    ],
    out: Annotated[str, typer.Option("--out", help="Folder for the packages.")] = "packages",
    priorities: Annotated[
        str | None,
        typer.Option(
            "--priorities",
            help="Ranking of --format zip, e.g. agrees,-best_latency_ms,+speedup_vs_ort (+ higher, - lower is better).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the packages (and the ranking) as JSON.")] = False,
) -> None:
    """Package tuned variants: a pip wheel, a .so tarball or a Docker build context per variant, or one ranked candidates zip."""
    from ..packaging import FORMATS, PackagingError, build_candidates_zip, candidate_from_folder, parse_priorities, rank

    if fmt not in FORMATS:
        fail(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}")
    if priorities is not None and fmt != "zip":
        fail("--priorities ranks the candidates of --format zip only")
    try:
        ranked_by = parse_priorities(priorities) if priorities is not None else None
    except ValueError as e:
        fail(str(e))
    dirs = _variant_dirs(variant_dirs)
    packages, ranking = [], None
    try:
        if fmt == "zip":
            candidates = [candidate_from_folder(d) for d in dirs]
            path = build_candidates_zip(candidates, out, priorities=ranked_by)
            ranking = rank(candidates, ranked_by)
            packages.append({"format": fmt, "path": path, "kind": ",".join(dict.fromkeys(c.kind for c in candidates))})
        else:
            for d in dirs:
                candidate = candidate_from_folder(d)
                packages.append({"format": fmt, "path": FORMATS[fmt](d, out), "kind": candidate.kind})
    except PackagingError as e:
        fail(str(e), 1)
    for p in packages:
        p["size_bytes"] = os.path.getsize(p["path"])
    if as_json:
        emit_json({"packages": packages, **({"ranking": ranking} if ranking is not None else {})})
        return
    for p in packages:
        console.print(
            f"{p['format']} ({p['kind']}) → {p['path']} ({p['size_bytes']} bytes)", highlight=False, markup=False
        )
    for entry in ranking or []:
        metrics = ", ".join(
            f"{name} {m['value']:.4g}" if isinstance(m["value"], float) else f"{name} {m['value']}"
            for name, m in entry["metrics"].items()
        )
        console.print(f"  {entry['rank']}. {entry['target']}: {metrics}", highlight=False, markup=False)
