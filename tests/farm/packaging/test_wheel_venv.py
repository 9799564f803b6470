"""The wheel and the Docker context's server, installed into a fresh virtual environment: no farm there, only the engine.

One venv for the module: the x86-64 variant's wheel, its engine ONNX Runtime, is installed
(onnxruntime and numpy come from the package index, and no TVM) and run; the x86-64-v3
variant's Docker build context, its engine TVM, is unpacked, its wheel installed beside
the first (apache-tvm comes from the index, about 100 MB), and its `serve.py` started and
queried.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from email.parser import Parser
from pathlib import Path

import numpy as np
import pytest

import farm.runtime
from farm.packaging import build_docker_context, build_wheel
from farm.runtime.container import model_file_names

from .helpers import assert_matches, assert_safe_names, env_without_pythonpath, with_engine

RUNTIME = Path(farm.runtime.__file__).parent
RUN_WHEEL = """
import importlib.util, json, sys
import numpy as np
import farm_model_tiny_x86_64 as pkg

inputs = dict(np.load(sys.argv[1]))
model = pkg.load(threads=1)
print(json.dumps({
    "version": pkg.__version__, "kind": pkg.METADATA["kind"], "threads": model.threads, "farm": importlib.util.find_spec("farm") is not None,
    "tvm": importlib.util.find_spec("tvm") is not None,
    "outputs": {k: v.tolist() for k, v in model.run(inputs).items()},
    "convenience": {k: v.tolist() for k, v in pkg.run(inputs).items()},
}))
"""


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh virtual environment (no system site-packages) with the wheels' dependencies installed from the index."""
    root = tmp_path_factory.mktemp("venv") / "env"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, timeout=120)
    return root


def pip_install(venv: Path, *args: str) -> None:
    proc = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env_without_pythonpath(),
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]


@pytest.fixture(scope="module")
def wheel(tuned_variants, tmp_path_factory) -> Path:
    """The wheel of the x86-64 variant with ONNX Runtime as its engine."""
    root = tmp_path_factory.mktemp("wheel")
    variant = with_engine(tuned_variants["kinds"]["x86-64"], "onnxruntime", root / "x86-64")
    return Path(build_wheel(str(variant), str(root)))


def test_wheel_name_tag_and_metadata(wheel, tuned_variants):
    assert wheel.name == "farm_model_tiny_x86_64-1.0.0-py3-none-linux_x86_64.whl"
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        info = Parser().parsestr(zf.read("farm_model_tiny_x86_64-1.0.0.dist-info/METADATA").decode())
        tags = Parser().parsestr(zf.read("farm_model_tiny_x86_64-1.0.0.dist-info/WHEEL").decode())
    assert_safe_names(names)
    assert (
        info["Name"] == "farm-model-tiny-x86-64" and info["Version"] == "1.0.0" and info["Requires-Python"] == ">=3.10"
    )
    assert info.get_all("Requires-Dist") == [f"onnxruntime=={importlib.metadata.version('onnxruntime')}", "numpy"]
    assert tags.get_all("Tag") == ["py3-none-linux_x86_64"]
    package = {n for n in names if not n.startswith("farm_model_tiny_x86_64-1.0.0.dist-info/")}
    runtime = {f"farm_model_tiny_x86_64/runtime/{p.name}" for p in RUNTIME.glob("*.py") if p.name != "remote.py"}
    model = {f"farm_model_tiny_x86_64/model/{name}" for name in ("metadata.json", "benchmark.json", "model.onnx")}
    assert package == {"farm_model_tiny_x86_64/__init__.py", *model, *runtime}
    with zipfile.ZipFile(wheel) as zf:
        packaged = json.loads(zf.read("farm_model_tiny_x86_64/model/metadata.json"))
    assert model_file_names(packaged) == ["model.onnx"] and "library" not in packaged
    assert (
        "farm_model_tiny_x86_64/runtime/__init__.py" in runtime and "farm_model_tiny_x86_64/runtime/model.py" in runtime
    )
    with zipfile.ZipFile(wheel) as zf:
        assert zf.read("farm_model_tiny_x86_64/runtime/model.py") == (RUNTIME / "model.py").read_bytes()


def test_wheel_runs_in_a_fresh_venv(venv, wheel, reference, tmp_path):
    pip_install(venv, str(wheel))
    np.savez(tmp_path / "inputs.npz", **reference["inputs"])
    (tmp_path / "run.py").write_text(RUN_WHEEL)
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "run.py", "inputs.npz"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env=env_without_pythonpath(),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert (result["version"], result["kind"], result["threads"], result["farm"], result["tvm"]) == (
        "1.0.0",
        "x86-64",
        1,
        False,
        False,
    )
    assert_matches(reference, result["outputs"])
    assert_matches(reference, result["convenience"])


def _request(url: str, body: dict | None = None) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, data=data, method="POST" if data else "GET"), timeout=60
        ) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_docker_context_server_in_the_venv(venv, tuned_variants, reference, tmp_path):
    variant = with_engine(tuned_variants["kinds"]["x86-64-v3"], "tvm", tmp_path / "x86-64-v3")
    archive = build_docker_context(str(variant), str(tmp_path / "out"))
    with tarfile.open(archive) as tar:
        tar.extractall(tmp_path / "ctx", filter="data")
    ctx = tmp_path / "ctx"
    (wheel,) = ctx.glob("*.whl")
    pip_install(venv, str(wheel))
    with open(tmp_path / "serve.log", "w") as log:
        server = subprocess.Popen(
            [str(venv / "bin" / "python"), "serve.py", "--host", "127.0.0.1", "--port", "0", "--threads", "1"],
            cwd=ctx,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=env_without_pythonpath(),
        )
    try:
        line = server.stdout.readline()  # 'serving "tiny" (x86-64-v3) on http://127.0.0.1:PORT', or EOF if it died
        assert "http://127.0.0.1:" in line, (tmp_path / "serve.log").read_text()[-3000:]
        url = line.split()[-1]
        assert _request(f"{url}/health") == (200, {"status": "ok", "model": "tiny", "kind": "x86-64-v3"})
        status, metadata = _request(f"{url}/metadata")
        assert status == 200 and metadata["kind"] == "x86-64-v3" and metadata["inputs"][0]["shape"] == [1, 3, 8, 8]
        status, body = _request(f"{url}/infer", {"inputs": {k: v.tolist() for k, v in reference["inputs"].items()}})
        assert status == 200, body
        assert_matches(reference, body["outputs"])
        status, body = _request(f"{url}/infer", {"inputs": {"input": [1.0, 2.0]}})
        assert status == 400 and "shape" in body["error"]
        status, body = _request(f"{url}/infer", {"inputs": {"nope": [1.0]}})
        assert status == 400 and "nope" in body["error"]
        assert _request(f"{url}/nowhere")[0] == 404
    finally:
        server.terminate()
        server.wait(timeout=30)
        server.stdout.close()
