"""A variant as a pip wheel: its engine's model file, metadata and the farm's portable runtime, depending on that engine.

The wheel carries the file of the engine the farm chose (the TVM library, the ONNX model,
the hybrid's plan archive) and depends on that engine's library at the version the farm
measured it with, and numpy (`Variant.requirements`): a variant whose engine is ONNX
Runtime needs no TVM.

`build_wheel` lays out a small setuptools project in a temporary folder and builds it with
`pip wheel --no-build-isolation` (setuptools ≥ 70.1 builds wheels itself). The import
package (`farm_model_<model>_<kind>`) holds a generated `__init__.py` (`load()`, `run()`,
`METADATA`, `__version__`), the variant under `model/`, and `runtime/`: the modules of
`farm.runtime` except `remote.py`, copied verbatim (they import only the standard library,
numpy and each other, and each engine's module its engine, when a model of it loads). The
wheel is tagged for the platform of the target triple (`py3-none-linux_x86_64`): a
native library runs there only, and the engines' own wheels are per platform too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

from ..runtime.container import BENCHMARK, METADATA
from .variant import PackagingError, Variant, bounded, read_variant

RUNTIME_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "runtime")
NOT_PORTABLE = ("remote.py",)

# The generated module takes no data as code: the model's name, kind and tensor names are read
# from metadata.json when it is imported; only the package slug and the repr of the version go in.
_INIT = '''"""A model optimized and packaged by tuning-farm; METADATA says which (model, kind, engine, inputs, outputs).

    import {package}
    model = {package}.load(threads=4)        # a loaded runtime model: inputs, outputs, run, create_request, profile
    outputs = {package}.run({{name: array}})   # one inference on a model loaded once per process; names in METADATA["inputs"]
"""

from __future__ import annotations

import json
import os

from .runtime import load_model

__version__ = {version!r}
MODEL_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "model")
with open(os.path.join(MODEL_DIR, "metadata.json")) as _f:
    METADATA: dict = json.load(_f)

_default = None


def load(threads: int | None = None, devices=None):
    """The bundled model, loaded by the runtime with its engine (`threads`: the engine's threads; `devices`: as
    `runtime.load_model` takes them)."""
    return load_model(MODEL_DIR, devices=devices, threads=threads)


def run(inputs) -> dict:
    """One inference (inputs: list in input order or dict by name of numpy arrays) on a model loaded at the first call."""
    global _default
    if _default is None:
        _default = load()
    return _default.run(inputs)
'''


def names(metadata: dict, name: str | None = None) -> tuple[str, str]:
    """(distribution name, import package) of a variant's wheel: `farm-model-<model>-<kind>` unless `name` is given."""
    base = name or f"farm-model-{metadata['model']}-{metadata['kind']}"
    package = bounded(re.sub(r"[^a-z0-9]+", "_", base.lower()).strip("_"), base)
    if not package.isidentifier():
        raise PackagingError(f"wheel name {base!r} gives no valid Python package name ({package!r})")
    return package.replace("_", "-"), package


def platform_tag(target: dict) -> str:
    """The wheel platform tag of a TVM target's host triple, e.g. `x86_64-linux-gnu` → `linux_x86_64`."""
    triple = target.get("mtriple") or target.get("host", {}).get("mtriple", "")
    arch, _, system = triple.partition("-")
    if not arch or "linux" not in system:
        raise PackagingError(f"only Linux libraries can be packaged as wheels; the target triple is {triple!r}")
    return f"linux_{arch}"


def toml_string(text: str) -> str:
    """`text` as a TOML basic string: JSON's escapes, and DEL, which JSON leaves raw and TOML forbids."""
    return json.dumps(text).replace("\x7f", "\\u007f")


def _pyproject(variant: Variant, dist: str, package: str, version: str) -> str:
    meta = variant.metadata
    dependencies = variant.requirements()
    description = f"{meta['model']} optimized for {meta['kind']} by tuning-farm (engine: {variant.engine})"
    q = toml_string
    return "\n".join(
        [
            "[build-system]",
            'requires = ["setuptools>=70.1"]',
            'build-backend = "setuptools.build_meta"',
            "",
            "[project]",
            f"name = {q(dist)}",
            f"version = {q(version)}",
            f"description = {q(description)}",
            'requires-python = ">=3.10"',
            f"dependencies = {json.dumps(dependencies)}",
            "",
            "[tool.setuptools]",
            f"packages = {json.dumps([package, f'{package}.runtime'])}",
            "",
            "[tool.setuptools.package-data]",
            f'{package} = ["model/*"]',
            "",
            "[tool.distutils.bdist_wheel]",
            'python-tag = "py3"',
            f"plat-name = {q(platform_tag(meta['target']))}",
            "",
        ]
    )


def runtime_files() -> list[str]:
    """The modules of the farm's portable runtime that packages carry; PackagingError when the runtime is missing."""
    files = (
        sorted(f for f in os.listdir(RUNTIME_DIR) if f.endswith(".py") and f not in NOT_PORTABLE)
        if os.path.isdir(RUNTIME_DIR)
        else []
    )
    if "__init__.py" not in files:
        raise PackagingError(f"{RUNTIME_DIR}: the farm runtime is missing; it is what packages run the model with")
    return files


def _write_package(variant: Variant, root: str, package: str, version: str) -> None:
    os.makedirs(os.path.join(root, package, "runtime"))
    for name in runtime_files():
        shutil.copyfile(os.path.join(RUNTIME_DIR, name), os.path.join(root, package, "runtime", name))
    model_dir = os.path.join(root, package, "model")
    os.makedirs(model_dir)
    for name in (*variant.model_files, BENCHMARK):
        if os.path.isfile(os.path.join(variant.folder, name)):
            shutil.copyfile(os.path.join(variant.folder, name), os.path.join(model_dir, name))
    with open(os.path.join(model_dir, METADATA), "w") as f:
        json.dump(variant.package_metadata, f, indent=2)
    init = _INIT.format(package=package, version=version)
    with open(os.path.join(root, package, "__init__.py"), "w") as f:
        f.write(init)


def build_wheel(variant_dir: str, out_dir: str, *, name: str | None = None, version: str = "1.0.0") -> str:
    """Build the variant's wheel into `out_dir` and return its path; PackagingError with pip's output when the build fails."""
    variant = read_variant(variant_dir)
    dist, package = names(variant.metadata, name)
    os.makedirs(out_dir, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="farm-wheel-") as work:
        src, built = os.path.join(work, "src"), os.path.join(work, "dist")
        os.makedirs(src)
        with open(os.path.join(src, "pyproject.toml"), "w") as f:
            f.write(_pyproject(variant, dist, package, version))
        _write_package(variant, src, package, version)
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--no-build-isolation",
                "--disable-pip-version-check",
                "-q",
                "-w",
                built,
                src,
            ],
            capture_output=True,
            text=True,
            cwd=work,
            check=False,
        )
        wheels = [f for f in os.listdir(built) if f.endswith(".whl")] if os.path.isdir(built) else []
        if proc.returncode != 0 or len(wheels) != 1:
            raise PackagingError(
                f"building the wheel of {variant.folder} failed:\n{(proc.stdout + proc.stderr)[-3000:]}"
            )
        path = os.path.join(os.path.abspath(out_dir), wheels[0])
        shutil.move(os.path.join(built, wheels[0]), path)
    return path
