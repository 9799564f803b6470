"""Reading a variant folder (`farm tune --out DIR` writes DIR/<kind>/) before it is packaged.

A variant folder holds `metadata.json` (model, inputs, outputs, kind, target, library and its
SHA-256, tuning summary), the library it names (`model.so`, a Relax executable) and, when
it was benchmarked, `benchmark.json`. `read_variant` checks all of that, library checksum
included, so no package is ever built from an incomplete or corrupt folder.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

from ..runtime.container import file_sha256

METADATA_FILE = "metadata.json"
BENCHMARK_FILE = "benchmark.json"
REQUIRED_KEYS = ("model", "kind", "inputs", "outputs", "target", "library", "library_sha256")


class PackagingError(ValueError):
    """A variant folder that cannot be packaged, or a package that could not be built."""


@dataclass(frozen=True)
class Variant:
    """A checked variant folder: its metadata, its benchmark (empty when it has none) and its library's path."""

    folder: str
    metadata: dict
    benchmark: dict

    @property
    def library(self) -> str:
        return os.path.join(self.folder, self.metadata["library"])

    @property
    def stem(self) -> str:
        """`<model>-<kind>`, safe as a file name: the name of the variant's packages."""
        return f"{safe_name(self.metadata['model'])}-{safe_name(self.metadata['kind'])}"


def safe_name(text: str) -> str:
    """`text` with every character but letters, digits, `.`, `_` and `-` replaced by `_`, never starting with a dot."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", str(text)).lstrip(".") or "_"


def _read_json(path: str) -> dict:
    try:
        with open(path) as f:
            value = json.load(f)
    except json.JSONDecodeError as e:
        raise PackagingError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(value, dict):
        raise PackagingError(f"{path}: expected a JSON object")
    return value


def read_variant(folder: str) -> Variant:
    """The variant in `folder`; PackagingError naming the problem when it is not a complete, intact variant folder."""
    folder = os.path.abspath(folder)
    if not os.path.isdir(folder):
        raise PackagingError(f"{folder}: no such folder")
    metadata_path = os.path.join(folder, METADATA_FILE)
    if not os.path.isfile(metadata_path):
        raise PackagingError(f"{folder}: no {METADATA_FILE}, not a variant folder (farm tune --out DIR writes DIR/<kind>/)")
    metadata = _read_json(metadata_path)
    missing = [k for k in REQUIRED_KEYS if k not in metadata]
    if missing:
        raise PackagingError(f"{metadata_path}: missing {', '.join(missing)}")
    library = os.path.join(folder, metadata["library"])
    if os.path.basename(metadata["library"]) != metadata["library"] or not os.path.isfile(library):
        raise PackagingError(f"{folder}: the library {metadata['library']!r} named by {METADATA_FILE} is missing")
    if file_sha256(library) != metadata["library_sha256"]:
        raise PackagingError(f"{library}: SHA-256 differs from {METADATA_FILE}'s library_sha256 (corrupt or replaced library)")
    benchmark_path = os.path.join(folder, BENCHMARK_FILE)
    benchmark = _read_json(benchmark_path) if os.path.isfile(benchmark_path) else {}
    return Variant(folder, metadata, benchmark)
