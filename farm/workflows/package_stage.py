"""The package stage of a workflow: the variants ranked by the user's metric priorities, then packaged.

Every verified variant of the workflow is a candidate with its metrics (the tuning
summary's and the benchmark's). The ranking (`models_rank.json`) goes into the
workflow's outputs and into the ranked-candidates zip; each kind gets a Python wheel and
a shared-object tarball, and the workflow a ranked-candidates zip and a Docker build
context serving the best variant. Each package is stored as a content-addressed
artifact and recorded against its variant (the zip and the Docker context against the
best one), so the API, SDK and CLI list and download them.
"""

from __future__ import annotations

import os

from ..packaging import (
    Candidate,
    MetricPriority,
    build_candidates_zip,
    build_docker_context,
    build_tarball,
    build_wheel,
    rank,
)
from ..registry import catalog
from ..registry.database import Registry
from .stage import Stage, WorkflowRun
from .stopping import hold_running

PER_VARIANT = {"wheel": build_wheel, "tarball": build_tarball}


def _store(registry: Registry, path: str, variant_id: str, workflow_id: str, fmt: str, kind: str) -> dict:
    key = registry.artifacts.put_file(path)
    with registry.session() as s:
        hold_running(s, workflow_id)
        package = catalog.add_package(
            s,
            variant_id,
            format=fmt,
            artifact_key=key,
            artifact_name=os.path.basename(path),
            size_bytes=registry.artifacts.size(key),
            workflow_id=workflow_id,
        )
        return {
            "package_id": package.id,
            "format": fmt,
            "kind": kind,
            "variant_id": variant_id,
            "artifact_name": package.artifact_name,
            "size_bytes": package.size_bytes,
        }


def package_variants(
    registry: Registry,
    workflow_id: str,
    candidates: list[Candidate],
    priorities: list[MetricPriority] | None,
    out_dir: str,
) -> dict:
    """Rank `candidates` (default priorities when None), build and record every package; `{"ranking": models_rank list, "packages": [...]}`."""
    ranking = rank(candidates, priorities)
    os.makedirs(out_dir, exist_ok=True)
    packages = []
    for candidate in candidates:
        for fmt, build in PER_VARIANT.items():
            packages.append(
                _store(
                    registry,
                    build(candidate.variant_dir, out_dir),
                    candidate.variant_id,
                    workflow_id,
                    fmt,
                    candidate.kind,
                )
            )
    best = next(c for c in candidates if c.variant_id == ranking[0]["variant_id"])
    zip_path = build_candidates_zip(candidates, out_dir, priorities=priorities)
    packages.append(_store(registry, zip_path, best.variant_id, workflow_id, "zip", best.kind))
    packages.append(
        _store(
            registry,
            build_docker_context(best.variant_dir, out_dir),
            best.variant_id,
            workflow_id,
            "dockerfile",
            best.kind,
        )
    )
    return {"ranking": ranking, "packages": packages}


class PackageStage(Stage):
    def run(self, run: WorkflowRun) -> None:
        for kind in run.targets:
            run.show(kind, "packaging")
        folder = os.path.join(run.work_dir, "packages")
        run.outputs.update(package_variants(run.registry, run.workflow_id, run.candidates, run.priorities, folder))
