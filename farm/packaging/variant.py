"""Reading a variant folder (`farm tune --out DIR` writes DIR/<kind>/) before it is packaged.

A variant folder holds `metadata.json` (model, inputs, outputs, kind, target, library and its
SHA-256, tuning summary, the engine chosen and what each engine measured), the library it
names (`model.so`, a Relax executable), the ONNX model when ONNX Runtime is one of its
engines (`model.onnx`), the hybrid's plan archive when the farm built one (`hybrid.zip`) and, when it was benchmarked, `benchmark.json`. `read_variant`
checks all of that, checksums included, so no package is ever built from an incomplete or
corrupt folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass

from ..runtime.container import EXTRA_FILES, file_sha256, model_file_names

METADATA_FILE = "metadata.json"
BENCHMARK_FILE = "benchmark.json"
REQUIRED_KEYS = ("model", "kind", "inputs", "outputs", "target", "library", "library_sha256")
ENGINE_FILES = {"onnxruntime": "onnx_model", "hybrid": "hybrid_model"}  # engine -> the metadata key of the file it runs


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
    def engine(self) -> str:
        """The engine the variant runs: the one the farm chose (`tvm` for a folder that does not say)."""
        return str(self.metadata.get("engine") or "tvm")

    @property
    def model_files(self) -> list[str]:
        """The file names a loadable copy of the folder needs besides its metadata: the library, ONNX model and hybrid plan."""
        return model_file_names(self.metadata)

    def requirements(self) -> list[str]:
        """The pip requirements of a package running this variant: TVM's (the runtime loads it), ONNX Runtime's for its engine."""
        from ..engines import engine_named

        extra = engine_named(self.engine).requirements() if self.engine != "tvm" else []
        return [*engine_named("tvm").requirements(), *extra, "numpy"]

    @property
    def stem(self) -> str:
        """`<model>-<kind>`, safe as a file name: the name of the variant's packages."""
        return f"{safe_name(self.metadata['model'])}-{safe_name(self.metadata['kind'])}"


MAX_NAME = 80  # characters of a name in a file name: a package's adds ~30, and file names end at 255 bytes


def bounded(slug: str, text: str) -> str:
    """`slug` of `text`, cut to `MAX_NAME` characters with 8 hex digits of the text's hash when longer (names stay distinct)."""
    if len(slug) <= MAX_NAME:
        return slug
    return f"{slug[: MAX_NAME - 9]}_{hashlib.sha256(str(text).encode()).hexdigest()[:8]}"


def safe_name(text: str) -> str:
    """`text` with every character but letters, digits, `.`, `_` and `-` replaced by `_`, never starting with a dot; bounded."""
    return bounded(re.sub(r"[^A-Za-z0-9._-]", "_", str(text)).lstrip(".") or "_", text)


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
        raise PackagingError(
            f"{folder}: no {METADATA_FILE}, not a variant folder (farm tune --out DIR writes DIR/<kind>/)"
        )
    metadata = _read_json(metadata_path)
    missing = [k for k in REQUIRED_KEYS if k not in metadata]
    if missing:
        raise PackagingError(f"{metadata_path}: missing {', '.join(missing)}")
    library = os.path.join(folder, metadata["library"])
    if os.path.basename(metadata["library"]) != metadata["library"] or not os.path.isfile(library):
        raise PackagingError(f"{folder}: the library {metadata['library']!r} named by {METADATA_FILE} is missing")
    if file_sha256(library) != metadata["library_sha256"]:
        raise PackagingError(
            f"{library}: SHA-256 differs from {METADATA_FILE}'s library_sha256 (corrupt or replaced library)"
        )
    for key in EXTRA_FILES:
        name = metadata.get(key)
        if name is None:
            continue
        path = os.path.join(folder, str(name))
        if os.path.basename(str(name)) != name or not os.path.isfile(path):
            raise PackagingError(f"{folder}: the {key} {name!r} named by {METADATA_FILE} is missing")
        if file_sha256(path) != metadata.get(f"{key}_sha256"):
            raise PackagingError(
                f"{path}: SHA-256 differs from {METADATA_FILE}'s {key}_sha256 (corrupt or replaced file)"
            )
    needs = ENGINE_FILES.get(metadata.get("engine", "tvm"))
    if needs is not None and metadata.get(needs) is None:
        raise PackagingError(
            f"{metadata_path}: engine {metadata['engine']!r} needs the {needs} file, which the folder does not name"
        )
    benchmark_path = os.path.join(folder, BENCHMARK_FILE)
    benchmark = _read_json(benchmark_path) if os.path.isfile(benchmark_path) else {}
    return Variant(folder, metadata, benchmark)
