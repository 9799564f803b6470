"""`farm package` through its command line: zip with the ranking as JSON, wheels, and refused folders (exit 1)."""

from __future__ import annotations

import json
import subprocess
import zipfile
from pathlib import Path

from .helpers import with_engine


def farm(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["farm", *args], capture_output=True, text=True, timeout=300, check=False)


def test_package_zip_json(tuned_variants, tmp_path):
    proc = farm(
        "package",
        str(tuned_variants["out"]),
        "--format",
        "zip",
        "--out",
        str(tmp_path),
        "--priorities=agrees,-tvm_p90_ms",
        "--json",
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    (package,) = result["packages"]
    assert package["format"] == "zip" and package["kind"] == "x86-64,x86-64-v3"
    assert (
        package["path"] == str(tmp_path / "CandidateModels.zip")
        and package["size_bytes"] == Path(package["path"]).stat().st_size
    )
    with zipfile.ZipFile(package["path"]) as zf:
        assert json.loads(zf.read("models_rank.json")) == result["ranking"]
    assert sorted(e["target"] for e in result["ranking"]) == ["x86-64", "x86-64-v3"]
    assert list(result["ranking"][0]["metrics"]) == ["agrees", "tvm_p90_ms"]


def test_package_wheels(tuned_variants, tmp_path):
    proc = farm(
        "package", str(tuned_variants["kinds"]["x86-64-v3"]), "--format", "wheel", "--out", str(tmp_path), "--json"
    )
    assert proc.returncode == 0, proc.stderr
    (package,) = json.loads(proc.stdout)["packages"]
    assert (
        package["kind"] == "x86-64-v3"
        and Path(package["path"]).name == "farm_model_tiny_x86_64_v3-1.0.0-py3-none-linux_x86_64.whl"
    )
    proc = farm("package", str(tuned_variants["out"]), "--format", "tarball", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in tmp_path.glob("*.tar.gz")) == ["tiny-x86-64-v3.tar.gz", "tiny-x86-64.tar.gz"]
    assert "tarball (x86-64)" in proc.stdout


def test_package_refuses_bad_folders_and_options(tuned_variants, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = farm("package", str(empty), "--format", "zip", "--out", str(tmp_path / "out"))
    assert proc.returncode == 1 and "no metadata.json" in proc.stderr and str(empty) in proc.stderr.replace("\n", "")
    corrupt = with_engine(tuned_variants["kinds"]["x86-64"], "tvm", tmp_path / "corrupt")
    (corrupt / "model.so").unlink()
    proc = farm("package", str(corrupt), "--format", "wheel", "--out", str(tmp_path / "out"))
    assert proc.returncode == 1 and "model.so" in proc.stderr and "missing" in proc.stderr
    proc = farm(
        "package",
        str(tuned_variants["out"]),
        "--format",
        "zip",
        "--priorities",
        "accuracy",
        "--out",
        str(tmp_path / "out"),
    )
    assert proc.returncode == 2 and "unknown metric 'accuracy'" in proc.stderr and "tvm_latency_ms" in proc.stderr
    proc = farm("package", str(tuned_variants["out"]), "--format", "rpm", "--out", str(tmp_path / "out"))
    assert proc.returncode == 2 and "unknown format 'rpm'" in proc.stderr
    assert not (tmp_path / "out").exists()
