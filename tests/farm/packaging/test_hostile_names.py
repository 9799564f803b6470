"""Names are data, never code: a model and an input named to break out of generated Python round-trip through every package.

The x86-64 variant is copied with its model and first input renamed to strings that close
a string or docstring, start a new line and call `__import__`; each package format is
built from it and run (the wheel imported from its unpacked files, the tarball's example,
the Docker context's server, the candidates zip's sample code). Had any generator pasted a
name into source, the call would have created the sentinel file.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import urllib.request
import zipfile
from pathlib import Path

import numpy as np
import pytest

from farm.packaging import build_candidates_zip, build_docker_context, build_tarball, build_wheel
from farm.packaging.ranking import candidate_from_folder

from .helpers import assert_safe_names, env_without_pythonpath


def hostile(sentinel: Path, quote: str) -> str:
    call = f'__import__("pathlib").Path({str(sentinel)!r}).touch()'
    return f"m{quote}{quote}{quote}; {call}; {quote}{quote}{quote}\\\n{call}\n#\"'{{}} end"


@pytest.fixture()
def renamed(tuned_variants, tmp_path) -> tuple[Path, Path, dict]:
    """(variant folder, sentinel, metadata): the x86-64 variant, run by TVM, its model and first input given hostile names."""
    sentinel = tmp_path / "executed"
    folder = tmp_path / "variant"
    shutil.copytree(tuned_variants["kinds"]["x86-64"], folder)
    metadata = json.loads((folder / "metadata.json").read_text())
    metadata["model"] = hostile(sentinel, '"')
    metadata["inputs"][0]["name"] = hostile(sentinel, "'")
    metadata["engine"] = "tvm"  # the renamed input means nothing to the ONNX model; TVM takes inputs by position
    (folder / "metadata.json").write_text(json.dumps(metadata))
    return folder, sentinel, metadata


def python(*args: str, cwd: Path, path: Path | None = None) -> subprocess.CompletedProcess:
    env = env_without_pythonpath() | ({"PYTHONPATH": str(path)} if path else {})
    proc = subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_hostile_names_round_trip_through_every_package_and_run_nothing(renamed, tmp_path):
    folder, sentinel, metadata = renamed
    model, input_name = metadata["model"], metadata["inputs"][0]["name"]
    shape = metadata["inputs"][0]["shape"]

    wheel = Path(build_wheel(str(folder), str(tmp_path / "wheel")))
    assert wheel.name.startswith("farm_model_m_import_pathlib_path_")
    with zipfile.ZipFile(wheel) as zf:
        assert_safe_names(zf.namelist())
        zf.extractall(tmp_path / "site")
    package = wheel.name.split("-")[0]
    np.save(tmp_path / "x.npy", np.ones(shape, dtype=np.float32))
    run = (
        f"import json, numpy as np, {package} as pkg\n"
        f"out = pkg.run({{pkg.METADATA['inputs'][0]['name']: np.load('x.npy')}})\n"
        "print(json.dumps([pkg.METADATA['model'], pkg.METADATA['inputs'][0]['name'], [v.shape for v in out.values()]]))"
    )
    got_model, got_input, shapes = json.loads(python("-c", run, cwd=tmp_path, path=tmp_path / "site").stdout)
    assert (got_model, got_input) == (model, input_name) and shapes

    tarball = Path(build_tarball(str(folder), str(tmp_path / "tar")))
    with tarfile.open(tarball) as tar:
        assert_safe_names(tar.getnames())
        tar.extractall(tmp_path / "tar", filter="data")
    unpacked = tmp_path / "tar" / tarball.name.removesuffix(".tar.gz")
    assert json.loads((unpacked / "metadata.json").read_text())["model"] == model
    assert python("example.py", cwd=unpacked).stdout.startswith(metadata["outputs"][0]["name"])

    context = Path(build_docker_context(str(folder), str(tmp_path / "docker")))
    with tarfile.open(context) as tar:
        tar.extractall(tmp_path / "ctx", filter="data")
    dockerfile = (tmp_path / "ctx" / "Dockerfile").read_text().splitlines()
    assert dockerfile[0].startswith(
        f'# {json.dumps(model)} compiled by Apache TVM for "x86-64": docker build -t farm-model-m-import-'
    )
    assert [line.split()[0] for line in dockerfile[1:]] == [
        "FROM",
        "WORKDIR",
        "COPY",
        "RUN",
        "EXPOSE",
        "HEALTHCHECK",
        "CMD",
    ]
    server = subprocess.Popen(
        [sys.executable, "serve.py", "--host", "127.0.0.1", "--port", "0", "--threads", "1"],
        cwd=tmp_path / "ctx",
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env_without_pythonpath() | {"PYTHONPATH": str(tmp_path / "site")},
    )
    try:
        url = server.stdout.readline().split()[-1]
        with urllib.request.urlopen(f"{url}/health", timeout=60) as r:
            assert json.loads(r.read()) == {"status": "ok", "model": model, "kind": "x86-64"}
        body = json.dumps({"inputs": {input_name: np.ones(shape).tolist()}}).encode()
        with urllib.request.urlopen(urllib.request.Request(f"{url}/infer", data=body, method="POST"), timeout=60) as r:
            assert r.status == 200 and json.loads(r.read())["outputs"]
    finally:
        server.terminate()
        server.wait(timeout=30)
        server.stdout.close()

    archive = Path(build_candidates_zip([candidate_from_folder(str(folder))], str(tmp_path / "zip")))
    with zipfile.ZipFile(archive) as zf:
        assert_safe_names(zf.namelist())
        assert json.loads(zf.read("models_rank.json"))[0]["model_config"]["config"]["model_path"].startswith(
            "CandidateModels/x86-64/"
        )
        zf.extractall(tmp_path / "unzipped")
    ran = json.loads(
        python("SampleCode/run_model.py", cwd=tmp_path / "unzipped", path=Path(__file__).parents[3]).stdout
    )
    assert ran["outputs"]

    assert not sentinel.exists(), "a generated file ran a name as code"
