"""Packaging tuned variants for deployment: a pip wheel, a shared-object tarball, a ranked candidates zip, a Docker build context.

Every builder takes variant folders (`farm tune --out DIR` writes DIR/<kind>/), checks them
(`read_variant`: metadata, library present and intact) and writes one file into `out_dir`,
returning its path. `FORMATS` maps the names `farm package --format` takes to the builders:
the zip builder takes ranked `Candidate`s of several variants, the others one variant folder.
"""

from __future__ import annotations

from .candidates_zip import build_candidates_zip
from .dockerfile import build_docker_context
from .ranking import (
    DEFAULT_PRIORITIES,
    METRICS,
    Candidate,
    MetricPriority,
    candidate_from_folder,
    parse_priorities,
    rank,
)
from .tarball import build_tarball
from .variant import PackagingError, read_variant
from .wheel import build_wheel

FORMATS = {
    "wheel": build_wheel,
    "tarball": build_tarball,
    "zip": build_candidates_zip,
    "dockerfile": build_docker_context,
}

__all__ = [
    "DEFAULT_PRIORITIES",
    "FORMATS",
    "METRICS",
    "Candidate",
    "MetricPriority",
    "PackagingError",
    "build_candidates_zip",
    "build_docker_context",
    "build_tarball",
    "build_wheel",
    "candidate_from_folder",
    "parse_priorities",
    "rank",
    "read_variant",
]
