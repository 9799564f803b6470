"""The tarball, the ranked candidates zip and the Docker context: layout, safe member names, and the models in them run."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import tvm
from tvm import relax

from farm.engines import ENGINES, engine_named
from farm.packaging import (
    PackagingError,
    build_candidates_zip,
    build_docker_context,
    build_tarball,
    build_wheel,
    candidate_from_folder,
    parse_priorities,
    rank,
)
from farm.runtime import ContainerError, load_model
from farm.runtime.container import engine_copy, model_file_names

from .helpers import assert_matches, assert_safe_names, with_engine


def _tvm_outputs(value) -> list[np.ndarray]:
    if isinstance(value, tvm.runtime.Tensor):
        return [value.numpy()]
    return [v for item in value for v in _tvm_outputs(item)]


def _tarball(variant: Path, tmp_path: Path) -> tuple[Path, list[str]]:
    """The variant's tarball (built twice: byte for byte the same), unpacked; the folder and its member names."""
    path = Path(build_tarball(str(variant), str(tmp_path / "out")))
    assert path.name == "tiny-x86-64.tar.gz"
    again = Path(build_tarball(str(variant), str(tmp_path / "again")))
    assert again.read_bytes() == path.read_bytes()
    with tarfile.open(path) as tar:
        members = tar.getmembers()
        assert_safe_names([m.name for m in members])
        assert members[0].isdir() and all(m.isfile() and m.mode == 0o644 and m.uid == 0 for m in members[1:])
        tar.extractall(tmp_path / "x", filter="data")
    names = [m.name.removeprefix("tiny-x86-64/") for m in members[1:]]
    assert [m.name for m in members] == ["tiny-x86-64", *(f"tiny-x86-64/{n}" for n in sorted(names))]
    return tmp_path / "x" / "tiny-x86-64", names


def _example(folder: Path) -> subprocess.CompletedProcess:
    """The tarball's example.py run in a fresh interpreter, which then says whether TVM was imported."""
    code = "import runpy, sys; runpy.run_path('example.py', run_name='__main__'); print('tvm' in sys.modules)"
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_a_tvm_tarball_carries_the_library_alone_and_runs_with_plain_tvm(tuned_variants, reference, tmp_path):
    variant = with_engine(tuned_variants["kinds"]["x86-64"], "tvm", tmp_path / "variant")
    folder, names = _tarball(variant, tmp_path)
    assert sorted(names) == ["README.txt", "example.py", "metadata.json", "model.so"]
    metadata = json.loads((folder / "metadata.json").read_text())
    original = json.loads((variant / "metadata.json").read_text())
    assert model_file_names(metadata) == ["model.so"] and metadata["library_sha256"] == original["library_sha256"]
    assert metadata == {**engine_copy(original), "benchmark": json.loads((variant / "benchmark.json").read_text())}
    assert 2 <= len((folder / "README.txt").read_text().splitlines()) <= 6

    vm = relax.VirtualMachine(tvm.runtime.load_module(str(folder / "model.so")), tvm.cpu())
    outputs = _tvm_outputs(vm["main"](*(tvm.runtime.tensor(x) for x in reference["inputs"].values())))
    assert_matches(reference, dict(zip(reference["output_names"], outputs, strict=True)))
    with load_model(folder, threads=1) as model:  # TVM's profile has per-layer timings
        assert_matches(reference, model.run(reference["inputs"]))
        assert model.profile(repeat=3, warmup=1).layer_durations_ns
    with pytest.raises(ContainerError, match="holds no onnx_model"):
        load_model(folder, engine="onnxruntime")
    assert _example(folder).stdout.startswith(f"{reference['output_names'][0]} (1, 10) float32")


def test_an_onnxruntime_tarball_carries_no_tvm_library_and_runs_without_tvm(tuned_variants, reference, tmp_path):
    variant = with_engine(tuned_variants["kinds"]["x86-64"], "onnxruntime", tmp_path / "variant")
    folder, names = _tarball(variant, tmp_path)
    assert "model.so" not in names and {"model.onnx", "example.py", "runtime/__init__.py"} <= set(names)
    assert "apache-tvm" not in (folder / "README.txt").read_text()
    with load_model(folder, threads=1) as model:
        assert_matches(reference, model.run(reference["inputs"]))
        assert len(model.profile(repeat=3, warmup=1).model_durations_ns) == 3
    lines = _example(folder).stdout.splitlines()
    assert lines[0].startswith(f"{reference['output_names'][0]} (1, 10) float32") and lines[-1] == "False"


@pytest.fixture()
def three_candidates(tuned_variants, tmp_path):
    """Both kinds, plus a slower copy of the x86-64 variant (its benchmark edited), so x86-64 has two candidates."""
    slow = tmp_path / "slow-x86-64"
    shutil.copytree(tuned_variants["kinds"]["x86-64"], slow)
    bench = json.loads((slow / "benchmark.json").read_text())
    bench["engines"][bench["engine"]]["latency_ms"] = 1e6  # the chosen engine's figure, which the ranking reads
    (slow / "benchmark.json").write_text(json.dumps(bench))
    return [
        candidate_from_folder(str(slow), variant_id="slow"),
        *(candidate_from_folder(str(tuned_variants["kinds"][k]), variant_id=k) for k in ("x86-64", "x86-64-v3")),
    ]


def test_candidates_zip_layout_and_ranking(three_candidates, reference, tmp_path):
    path = Path(build_candidates_zip(three_candidates, str(tmp_path / "out")))
    assert path.name == "CandidateModels.zip"
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert_safe_names(names)
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in zf.infolist())
        ranking = json.loads(zf.read("models_rank.json"))
        zf.extractall(tmp_path / "x")
    assert ranking == rank(three_candidates)
    assert [e["rank"] for e in ranking] == [1, 2, 3] and ranking[-1]["variant_id"] == "slow"
    by_id = {e["variant_id"]: e["model_config"]["config"]["model_path"] for e in ranking}
    engines = {c.variant_id: c.metadata["engine"] for c in three_candidates}
    files = {e: (engine_named(e).model_type, engine_named(e).artifact) for e in ENGINES}
    assert by_id == {
        "x86-64": f"CandidateModels/x86-64/BestCandidateModel_1/model/{files[engines['x86-64']][1]}",
        "slow": f"CandidateModels/x86-64/BestCandidateModel_2/model/{files[engines['slow']][1]}",
        "x86-64-v3": f"CandidateModels/x86-64-v3/BestCandidateModel_1/model/{files[engines['x86-64-v3']][1]}",
    }
    assert all(e["model_config"]["type"] == files[engines[e["variant_id"]]][0] for e in ranking)
    assert {"SampleCode/run_model.py", "SampleCode/README.txt", "models_rank.json"} <= set(names)
    ids = {path: variant_id for variant_id, path in by_id.items()}
    for model_path in by_id.values():
        folder = model_path.rsplit("/model/", 1)[0]
        assert not {f"{folder}/model/{f}" for _, f in files.values()} - {model_path} & set(names)
        assert {
            f"{folder}/{f}"
            for f in (
                "model/metadata.json",
                f"model/{files[engines[ids[model_path]]][1]}",
                "tuning_history.json",
                "metrics.json",
                "inference_settings.json",
            )
        } <= set(names)
    root = tmp_path / "x" / "CandidateModels" / "x86-64-v3" / "BestCandidateModel_1"
    settings = json.loads((root / "inference_settings.json").read_text())
    assert (settings["device"], settings["kind"], settings["target"]["mcpu"]) == ("cpu", "x86-64-v3", "x86-64-v3")
    if settings["engine"] == "onnxruntime":  # Olive's inference settings, as the farm measured them fastest
        assert settings["execution_provider"] == ["CPUExecutionProvider"] and "session_options" in settings
    assert settings["engine"] == engines["x86-64-v3"] and settings["inputs"] == [
        {"name": "input", "dtype": "float32", "shape": [1, 3, 8, 8]}
    ]
    history = json.loads((root / "tuning_history.json").read_text())
    assert history["source_model"]["name"] == "tiny.onnx" and history["tuning"]["kind"] == "x86-64-v3"
    assert json.loads((root / "metrics.json").read_text())["metrics"]["agrees"] is True
    with load_model(root / "model", threads=1) as model:
        assert_matches(reference, model.run(reference["inputs"]))

    proc = subprocess.run(
        [sys.executable, "SampleCode/run_model.py"],
        cwd=tmp_path / "x",
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    best = json.loads(proc.stdout)
    assert best["folder"] == str(tmp_path / "x" / Path(ranking[0]["model_config"]["config"]["model_path"]).parent)
    assert list(best["outputs"]) == reference["output_names"]


def test_candidates_zip_top_k_and_priorities(three_candidates, tmp_path):
    priorities = parse_priorities("-max_abs_diff")
    path = build_candidates_zip(three_candidates, str(tmp_path), priorities=priorities, name="Best", top_k=1)
    with zipfile.ZipFile(path) as zf:
        names = set(zf.namelist())
        ranking = json.loads(zf.read("models_rank.json"))
    assert Path(path).name == "Best.zip" and not any("BestCandidateModel_2" in n for n in names)
    assert sorted(e["target"] for e in ranking) == ["x86-64", "x86-64-v3"]
    assert [set(e["metrics"]) for e in ranking] == [{"max_abs_diff"}] * 2
    with pytest.raises(PackagingError, match="top_k"):
        build_candidates_zip(three_candidates, str(tmp_path), top_k=0)
    with pytest.raises(PackagingError, match="no candidates"):
        build_candidates_zip([], str(tmp_path))


def test_docker_context(tuned_variants, tmp_path):
    path = Path(build_docker_context(str(tuned_variants["kinds"]["x86-64"]), str(tmp_path)))
    assert path.name == "tiny-x86-64-docker.tar.gz"
    with tarfile.open(path) as tar:
        names = tar.getnames()
        assert_safe_names(names)
        dockerfile = tar.extractfile("Dockerfile").read().decode()
        serve = tar.extractfile("serve.py").read().decode()
    wheel = "farm_model_tiny_x86_64-1.0.0-py3-none-linux_x86_64.whl"
    assert sorted(names) == sorted(["Dockerfile", "serve.py", wheel])
    lines = dockerfile.splitlines()
    assert "FROM python:3.11-slim" in lines and "EXPOSE 8080" in lines
    assert f"COPY {wheel} serve.py ./" in lines
    assert f"RUN pip install --no-cache-dir ./{wheel}" in lines
    assert lines[-1] == 'CMD ["python", "serve.py", "--port", "8080"]'
    assert "from farm_model_tiny_x86_64 import METADATA, load" in serve
    compile(serve, "serve.py", "exec")


def test_incomplete_or_corrupt_variants_are_refused(tuned_variants, tmp_path):
    with pytest.raises(PackagingError, match="no metadata.json"):
        build_tarball(str(tmp_path), str(tmp_path / "out"))
    broken = with_engine(tuned_variants["kinds"]["x86-64"], "tvm", tmp_path / "broken")
    with open(broken / "model.so", "r+b") as f:
        f.truncate(1000)
    with pytest.raises(PackagingError, match="SHA-256"):
        build_tarball(str(broken), str(tmp_path / "out"))
    (broken / "model.so").unlink()
    with pytest.raises(PackagingError, match="model.so named by .* is missing"):
        candidate_from_folder(str(broken))
    (broken / "metadata.json").write_text("{not json")
    with pytest.raises(PackagingError, match="not readable JSON"):
        build_tarball(str(broken), str(tmp_path / "out"))
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_wheel_name_and_version_options(tuned_variants, tmp_path):
    variant = with_engine(tuned_variants["kinds"]["x86-64"], "tvm", tmp_path / "variant")
    path = Path(build_wheel(str(variant), str(tmp_path), name="Acme Vision!", version="2.1"))
    assert path.name == "acme_vision-2.1-py3-none-linux_x86_64.whl"
    with zipfile.ZipFile(path) as zf:
        assert (
            "acme_vision/model/model.so" in zf.namelist()
            and "__version__ = '2.1'" in zf.read("acme_vision/__init__.py").decode()
        )
    with pytest.raises(PackagingError, match="building the wheel"):
        build_wheel(str(tuned_variants["kinds"]["x86-64"]), str(tmp_path), version="not a version")
    with pytest.raises(PackagingError, match="no valid Python package name"):
        build_wheel(str(tuned_variants["kinds"]["x86-64"]), str(tmp_path), name="3d")


def test_a_hybrid_variant_is_packaged_with_its_plan_and_runs_from_every_package(hybrid_variant, reference, tmp_path):
    path = Path(build_tarball(str(hybrid_variant), str(tmp_path / "out")))
    with tarfile.open(path) as tar:
        assert "tiny-x86-64/hybrid.zip" in tar.getnames()
        tar.extractall(tmp_path / "x", filter="data")
    with load_model(tmp_path / "x" / "tiny-x86-64") as model:
        assert type(model).__name__ == "HybridModel"
        assert_matches(reference, model.run(reference["inputs"]))

    candidate = candidate_from_folder(str(hybrid_variant), variant_id="hybrid")
    entry = rank([candidate])[0]
    config = entry["model_config"]
    assert config["type"] == "TVMOnnxRuntimeHybrid" and config["config"]["model_path"].endswith("/model/hybrid.zip")
    settings = config["config"]["inference_settings"]
    assert settings["engine"] == "hybrid" and settings["threads"] == 1
    assert settings["session_options"] == {"use_per_session_threads": False}
    assert settings["global_thread_pool"] == {"intra_op_num_threads": 1, "inter_op_num_threads": 1}
    with zipfile.ZipFile(build_candidates_zip([candidate], str(tmp_path / "zip"))) as zf:
        assert "CandidateModels/x86-64/BestCandidateModel_1/model/hybrid.zip" in zf.namelist()

    wheel = Path(build_wheel(str(hybrid_variant), str(tmp_path / "wheel")))
    with zipfile.ZipFile(wheel) as zf:
        requires = [
            line
            for line in zf.read(next(n for n in zf.namelist() if n.endswith("METADATA"))).decode().splitlines()
            if line.startswith("Requires-Dist:")
        ]
        assert any(n.endswith("/model/hybrid.zip") for n in zf.namelist())
    assert any("onnxruntime==" in r for r in requires) and any("apache-tvm==" in r for r in requires)

    (tmp_path / "broken").mkdir()
    shutil.copytree(hybrid_variant, tmp_path / "broken" / "x86-64")
    (tmp_path / "broken" / "x86-64" / "hybrid.zip").write_bytes(b"damaged")
    with pytest.raises(PackagingError, match="hybrid.zip is corrupt: its SHA-256"):
        build_tarball(str(tmp_path / "broken" / "x86-64"), str(tmp_path / "never"))
