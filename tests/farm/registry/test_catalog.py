"""The catalog: projects, ONNX uploads checked before anything is stored, moves, label filters, pages, variants and results."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import func, select

from farm.registry.catalog import (
    add_benchmark,
    add_package,
    add_variant,
    create_project,
    delete_model,
    delete_project,
    get_model,
    get_project,
    list_benchmarks,
    list_models,
    list_packages,
    list_projects,
    list_variants,
    move_model,
    update_model,
    update_project,
    upload_model,
)
from farm.registry.errors import Conflict, InvalidInput, NotFound
from farm.registry.schema import BenchmarkResult, Model, Package, Variant, Workflow
from farm.registry.workflow_records import cancel_workflow, create_workflow
from tests.farm.registry.conftest import tiny_onnx


def artifact_files(registry) -> list[str]:
    return [f for _, _, files in os.walk(registry.artifacts.root) for f in files]


def count(registry, cls) -> int:
    with registry.session() as s:
        return s.scalar(select(func.count()).select_from(cls))


def upload(registry, path: str, name: str, **kw) -> Model:
    with registry.session() as s:
        return upload_model(s, registry.artifacts, path, name=name, **kw)


def test_projects_are_created_listed_renamed_and_deleted_only_when_empty(registry, onnx_file):
    with registry.session() as s:
        ids = [create_project(s, name).id for name in ["gamma", "alpha", "beta"]]
        with pytest.raises(Conflict, match="'alpha' already exists"):
            create_project(s, "alpha")
        assert [p.name for p in list_projects(s)[0]] == ["alpha", "beta", "gamma"]
        page, total = list_projects(s, offset=1, limit=1)
        assert ([p.name for p in page], total) == (["beta"], 3)
        assert update_project(s, ids[0], name="delta", description="d").description == "d"
        with pytest.raises(Conflict):
            update_project(s, ids[0], name="beta")
        with pytest.raises(InvalidInput, match="must not contain '/'"):
            create_project(s, "a/b")
        with pytest.raises(InvalidInput, match="limit must be 1 or more"):
            list_projects(s, limit=0)
    upload(registry, onnx_file, "resnet", project_id=ids[1])
    with registry.session() as s:
        with pytest.raises(Conflict, match=r"project 'alpha' still holds models \(resnet\)"):
            delete_project(s, ids[1])
        delete_project(s, ids[2])
        with pytest.raises(NotFound, match=f"project {ids[2]} not found"):
            get_project(s, ids[2])


def test_an_upload_stores_the_file_and_creates_the_model_with_its_original_variant(registry, tmp_path, user_id):
    path = tiny_onnx(tmp_path / "dyn.onnx", batch="batch", width=8)
    model = upload(registry, path, "tiny", description="one relu", labels=[" cnn ", "edge", "cnn"], created_by=user_id)
    with registry.session() as s:
        model = get_model(s, model.id)
        assert (model.name, model.description, model.labels, model.project_id, model.created_by) == (
            "tiny",
            "one relu",
            ["cnn", "edge"],
            None,
            user_id,
        )
        assert model.inputs == [{"name": "x", "dtype": "float32", "shape": ["batch", 8]}]
        assert model.outputs == [{"name": "y", "dtype": "float32", "shape": ["batch", 8]}]
        (variant,) = list_variants(s, model.id)
    assert (variant.kind, variant.artifact_name, variant.size_bytes) == ("original", "tiny.onnx", os.path.getsize(path))
    with registry.artifacts.open(variant.artifact_key) as f:
        assert f.read() == Path(path).read_bytes()
    named = upload(registry, path, "named.onnx")
    with registry.session() as s:
        assert list_variants(s, named.id)[0].artifact_name == "named.onnx"


@pytest.mark.parametrize(
    "content,name,message",
    [
        (b"this is not an onnx model at all", "model", "upload.onnx is not a readable ONNX model"),
        ("truncated", "model", "upload.onnx is not a readable ONNX model"),
        ("valid", "../escape", "must not contain '/'"),
        ("valid", "a\\b", "must not contain '/' or '\\\\'"),
        ("valid", "a..b", "must not contain '..'"),
        ("valid", "bell\x07", "control characters"),
        ("valid", "", "1 to 128 characters"),
        ("valid", "x" * 129, "1 to 128 characters"),
    ],
)
def test_a_bad_upload_is_refused_and_nothing_is_stored(registry, tmp_path, content, name, message):
    path = tmp_path / "incoming.bin"
    if content == "valid":
        tiny_onnx(path)
    elif content == "truncated":
        whole = Path(tiny_onnx(tmp_path / "whole.onnx")).read_bytes()
        path.write_bytes(whole[: len(whole) // 2])
    else:
        path.write_bytes(content)
    with pytest.raises(InvalidInput, match=message), registry.session() as s:
        upload_model(s, registry.artifacts, str(path), name=name, filename="upload.onnx")
    assert count(registry, Model) == 0 and count(registry, Variant) == 0
    assert artifact_files(registry) == []


def test_names_are_unique_where_a_model_lives_and_moves_respect_that(registry, onnx_file):
    with registry.session() as s:
        vision, audio = create_project(s, "vision").id, create_project(s, "audio").id
    in_vision = upload(registry, onnx_file, "net", project_id=vision)
    in_audio = upload(registry, onnx_file, "net", project_id=audio)
    detached = upload(registry, onnx_file, "net")
    with pytest.raises(Conflict, match="'net' already exists in project 'vision'"), registry.session() as s:
        upload_model(s, registry.artifacts, onnx_file, name="net", project_id=vision)
    with pytest.raises(Conflict, match="'net' already exists among detached models"), registry.session() as s:
        upload_model(s, registry.artifacts, onnx_file, name="net")
    assert len(artifact_files(registry)) == 1
    with registry.session() as s:
        with pytest.raises(Conflict, match="in project 'audio'"):
            move_model(s, in_vision.id, audio)
        with pytest.raises(Conflict, match="among detached models"):
            move_model(s, in_vision.id, None)
        with pytest.raises(NotFound, match="project nowhere not found"):
            move_model(s, in_vision.id, "nowhere")
        update_model(s, detached.id, name="net-2")
        assert move_model(s, in_vision.id, None).project_id is None
        assert move_model(s, detached.id, vision).project_id == vision
        assert move_model(s, in_audio.id, audio).project_id == audio
        assert {m.name for m in list_models(s, project_id=vision)[0]} == {"net-2"}
        assert [m.id for m in list_models(s, detached=True)[0]] == [in_vision.id]
        assert list_models(s, detached=False)[1] == 2
        update_model(s, in_audio.id, name="net-2")
        with pytest.raises(Conflict, match="'net-2' already exists in project 'vision'"):
            move_model(s, in_audio.id, vision)
        with pytest.raises(Conflict, match="'net' already exists among detached models"):
            update_model(s, upload_model(s, registry.artifacts, onnx_file, name="fresh").id, name="net")


def test_label_filters_and_pages(registry, onnx_file):
    labelled = {
        "m0": ["cnn", "edge"],
        "m1": ["cnn"],
        "m2": [],
        "m3": ["cnn", "edge", "int8"],
        "m4": ["edge"],
        "m5": ["cnn", "edge"],
        "m6": ["cnn"],
    }
    ids = {name: upload(registry, onnx_file, name, labels=labels).id for name, labels in labelled.items()}
    with registry.session() as s:
        assert list_models(s)[1] == 7
        cnn, total = list_models(s, labels=["cnn"])
        assert ([m.name for m in cnn], total) == (["m0", "m1", "m3", "m5", "m6"], 5)
        both, total = list_models(s, labels=("edge", "cnn"))
        assert ([m.name for m in both], total) == (["m0", "m3", "m5"], 3)
        pages = [list_models(s, labels=["cnn"], offset=o, limit=2) for o in (0, 2, 4)]
        assert [[m.name for m in p] for p, _ in pages] == [["m0", "m1"], ["m3", "m5"], ["m6"]]
        assert {t for _, t in pages} == {5}
        everything = [m.id for o in (0, 3, 6) for m in list_models(s, offset=o, limit=3)[0]]
        assert everything == list(ids.values())
        assert list_models(s, labels=["nothing"]) == ([], 0)
        update_model(s, ids["m2"], labels=["cnn", "edge"], description="now labelled")
        assert list_models(s, labels=["cnn", "edge"])[1] == 4
        with pytest.raises(InvalidInput, match="must not contain commas"):
            update_model(s, ids["m2"], labels=["a,b"])
        with pytest.raises(InvalidInput, match="list of strings"):
            list_models(s, labels="cnn")


def test_variants_benchmarks_and_packages_are_recorded_and_filtered(registry, onnx_file, user_id):
    model = upload(registry, onnx_file, "net")
    other = upload(registry, onnx_file, "other")
    key = "b" * 64
    with registry.session() as s:
        (original,) = list_variants(s, model.id)
        workflow = create_workflow(s, model.id, targets=["x86-64-v3"], options={"trials": 8}, created_by=user_id)
        tuned = add_variant(
            s,
            model.id,
            kind="x86-64-v3",
            artifact_key=key,
            artifact_name="net-x86-64-v3.tar.gz",
            size_bytes=1234,
            target={"kind": "llvm", "mcpu": "haswell"},
            target_key="llvm-haswell",
            parent_id=original.id,
            workflow_id=workflow.id,
            metrics={"latency_ms": 1.5},
        )
        assert [v.kind for v in list_variants(s, model.id)] == ["original", "x86-64-v3"]
        with pytest.raises(InvalidInput, match="is not a variant of model"):
            add_variant(
                s,
                other.id,
                kind="x86-64",
                artifact_key=key,
                artifact_name="o.tar.gz",
                size_bytes=1,
                parent_id=original.id,
            )
        with pytest.raises(InvalidInput, match="is not an artifact key"):
            add_variant(s, model.id, kind="x86-64", artifact_key="../x", artifact_name="o.tar.gz", size_bytes=1)
        with pytest.raises(InvalidInput, match="must not contain '/'"):
            add_variant(s, model.id, kind="x86-64", artifact_key=key, artifact_name="../o.tar.gz", size_bytes=1)
        add_benchmark(s, tuned.id, kind="x86-64-v3", results={"tvm": {"mean_ms": 1.5}}, workflow_id=workflow.id)
        add_benchmark(s, original.id, kind="x86-64-v3", results={"onnxruntime": {"mean_ms": 2.0}})
        (other_original,) = list_variants(s, other.id)
        add_benchmark(s, other_original.id, kind="x86-64", results={})
        assert len(list_benchmarks(s, model_id=model.id)) == 2
        assert [b.results for b in list_benchmarks(s, workflow_id=workflow.id)] == [{"tvm": {"mean_ms": 1.5}}]
        assert [b.variant_id for b in list_benchmarks(s, variant_id=other_original.id)] == [other_original.id]
        assert len(list_benchmarks(s)) == 3
        add_package(
            s,
            tuned.id,
            format="wheel",
            artifact_key=key,
            artifact_name="net-0.1-py3-none-any.whl",
            size_bytes=99,
            workflow_id=workflow.id,
        )
        assert [p.format for p in list_packages(s, model_id=model.id)] == ["wheel"]
        assert list_packages(s, model_id=other.id) == []


def test_deleting_a_model_waits_for_its_workflows_then_removes_its_records_but_keeps_artifacts(
    registry, onnx_file, user_id
):
    model = upload(registry, onnx_file, "net")
    keep = upload(registry, onnx_file, "keep")
    with registry.session() as s:
        (original,) = list_variants(s, model.id)
        workflow = create_workflow(s, model.id, targets=["x86-64"], options={}, created_by=user_id)
        tuned = add_variant(
            s,
            model.id,
            kind="x86-64",
            artifact_key="c" * 64,
            artifact_name="t.tar.gz",
            size_bytes=3,
            parent_id=original.id,
            workflow_id=workflow.id,
        )
        add_benchmark(s, tuned.id, kind="x86-64", results={}, workflow_id=workflow.id)
        add_package(
            s,
            tuned.id,
            format="zip",
            artifact_key="c" * 64,
            artifact_name="ranked.zip",
            size_bytes=3,
            workflow_id=workflow.id,
        )
        with pytest.raises(Conflict, match="pending or running: cancel it first"):
            delete_model(s, model.id)
        cancel_workflow(s, workflow.id)
    with registry.session() as s:
        delete_model(s, model.id)
        with pytest.raises(NotFound):
            get_model(s, model.id)
        assert [m.id for m in list_models(s)[0]] == [keep.id]
    assert (
        count(registry, Variant),
        count(registry, Workflow),
        count(registry, BenchmarkResult),
        count(registry, Package),
    ) == (1, 0, 0, 0)
    assert len(artifact_files(registry)) == 1
