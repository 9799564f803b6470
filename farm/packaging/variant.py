"""A variant folder (`farm tune --out DIR` writes DIR/<kind>/) read for packaging, through the folder's one reader.

`read_variant` checks the folder as the runtime does (`farm.runtime.container.read_model_folder`:
metadata, every model file's presence and SHA-256), plus what a package needs (the
kind), so no package is ever built from an incomplete or corrupt folder. A package
carries only the chosen engine's file (`Variant.model_files`, with `Variant.package_metadata`
naming only it) and requires only that engine's library (`Variant.requirements`): a
variant whose engine is ONNX Runtime ships no TVM library and needs no TVM.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass

from ..runtime.container import BENCHMARK, METADATA, ModelFolder, engine_copy, read_model_folder
from ..runtime.errors import RuntimeApiError


class PackagingError(ValueError):
    """A variant folder that cannot be packaged, or a package that could not be built."""


@dataclass(frozen=True)
class Variant:
    """A checked variant folder: its metadata, its benchmark (empty when it has none) and its model files."""

    folder: str
    metadata: dict
    benchmark: dict
    checked: ModelFolder

    @property
    def engine(self) -> str:
        """The engine the variant runs: the one the farm chose (the default engine for a folder that does not say)."""
        return self.checked.engine

    @property
    def model_file(self) -> str:
        """The name of the file the variant's engine runs."""
        return os.path.basename(self.checked.engine_file(self.engine))

    @property
    def model_files(self) -> list[str]:
        """The file names a package of the variant carries besides its metadata: its engine's file."""
        return [self.model_file]

    @property
    def package_metadata(self) -> dict:
        """The metadata of a package of the variant: naming only its engine's file."""
        return engine_copy(self.metadata, self.engine)

    def requirements(self) -> list[str]:
        """The pip requirements of a package running this variant: its engine's library, and numpy."""
        from ..engines import engine_named

        return [*engine_named(self.engine).requirements(), "numpy"]

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
    if not os.path.isfile(os.path.join(folder, METADATA)):
        raise PackagingError(f"{folder}: no {METADATA}, not a variant folder (farm tune --out DIR writes DIR/<kind>/)")
    try:
        checked = read_model_folder(folder)
    except RuntimeApiError as e:
        raise PackagingError(str(e)) from None
    if "kind" not in checked.metadata:
        raise PackagingError(f"{os.path.join(folder, METADATA)}: missing kind")
    benchmark_path = os.path.join(folder, BENCHMARK)
    benchmark = _read_json(benchmark_path) if os.path.isfile(benchmark_path) else {}
    return Variant(folder, checked.metadata, benchmark, checked)
