"""The CLI against a live server: `farm admin create-user --json` on the data folder, then commands with its token."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from farm.cli.main import app


@pytest.fixture(scope="module")
def admin_token(server) -> str:
    """The first admin, created by the installed `farm` command directly on the registry the server uses."""
    proc = subprocess.run(
        ["farm", "admin", "create-user", "boss@farm.test", "--admin", "--data-dir", server.data_dir, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    created = json.loads(proc.stdout)
    assert created["email"] == "boss@farm.test" and created["role"] == "admin" and len(created["user_id"]) == 32
    return created["token"]


@pytest.fixture
def farm(server, admin_token):
    """Run `farm …` in this process with FARM_URL and FARM_API_TOKEN set; `farm(*args, code=0)` returns stdout."""
    runner = CliRunner()

    def run(*args: str, code: int = 0, token: str | None = None) -> str:
        result = runner.invoke(app, list(args), env={"FARM_URL": server.url, "FARM_API_TOKEN": token or admin_token})
        assert result.exit_code == code, (result.stdout, result.stderr)
        return result.stdout if code == 0 else result.stderr

    return run


def test_catalog_commands(farm, model_file, tmp_path):
    project = json.loads(farm("project", "create", "vision", "--description", "image models", "--json"))
    assert project["name"] == "vision"
    model = json.loads(
        farm("model", "upload", model_file, "--project", "vision", "--label", "cnn", "--label", "small,edge", "--json")
    )
    assert (
        model["project_id"] == project["id"] and model["labels"] == ["cnn", "small", "edge"] and model["name"] == "tiny"
    )

    assert [m["id"] for m in json.loads(farm("model", "list", "--label", "edge", "--json"))] == [model["id"]]
    assert json.loads(farm("model", "list", "--project", "vision", "--label", "gpu", "--json")) == []
    shown = json.loads(farm("project", "show", "vision", "--json"))
    assert shown["id"] == project["id"] and [m["id"] for m in shown["models"]] == [model["id"]]
    details = json.loads(farm("model", "show", model["id"], "--json"))
    assert details["inputs"][0]["shape"] == [1, 3, 8, 8] and [v["kind"] for v in details["variants"]] == ["original"]
    assert json.loads(farm("model", "move", model["id"], "--detach", "--json"))["project_id"] is None
    saved = json.loads(farm("model", "download", details["variants"][0]["id"], "--out", str(tmp_path), "--json"))
    assert (
        saved["path"] == str(tmp_path / "tiny.onnx")
        and Path(saved["path"]).read_bytes() == Path(model_file).read_bytes()
    )
    assert "tiny" in farm("model", "list")
    assert "vision" in farm("project", "list")

    assert "give either a PROJECT" in farm("model", "move", model["id"], code=2)
    assert "a project named 'vision' already exists (HTTP 409)" in farm("project", "create", "vision", code=2)


def test_workflow_commands(farm, model_file):
    model = json.loads(farm("model", "upload", model_file, "--name", "wf", "--json"))
    workflow = json.loads(
        farm(
            "workflow",
            "create",
            model["id"],
            "--target",
            "x86-64,x86-64-v3",
            "--trials",
            "8",
            "--input-shape",
            "input:1,3,8,8",
            "--stages",
            "autotune",
            "--json",
        )
    )
    assert workflow["state"] == "pending" and workflow["targets"] == ["x86-64", "x86-64-v3"]
    assert workflow["options"]["stages"] == {"autotune": True, "benchmark": False, "package": False}
    assert workflow["options"]["input_shapes"] == {"input": [1, 3, 8, 8]}
    assert [w["id"] for w in json.loads(farm("workflow", "list", "--model", model["id"], "--json"))] == [workflow["id"]]
    assert json.loads(farm("workflow", "show", workflow["id"], "--json"))["progress"]["x86-64"]["stage"] == "pending"

    assert f"workflow {workflow['id']} still pending after 0.2 s" in farm(
        "workflow", "wait", workflow["id"], "--timeout", "0.2", "--poll", "0.05", code=1
    )
    assert json.loads(farm("workflow", "cancel", workflow["id"], "--json"))["state"] == "cancelled"
    stderr = farm("workflow", "wait", workflow["id"], "--poll", "0.05", code=1)
    assert f"workflow {workflow['id']}: cancelled" in stderr and "[x86-64-v3] pending: 0/? trials" in stderr
    assert "unknown stage(s) tune" in farm(
        "workflow", "create", model["id"], "--target", "x86-64", "--stages", "tune", code=2
    )
    assert "the autotune stage cannot be turned off" in farm(
        "workflow", "create", model["id"], "--target", "x86-64", "--stages", "benchmark", code=2
    )


def test_tokens_and_roles(farm, server):
    created = json.loads(farm("token", "create", "--name", "ci", "--json"))
    assert created["name"] == "ci" and created["token"].startswith("farm_")
    assert json.loads(farm("project", "list", "--json", token=created["token"])) is not None

    viewer = json.loads(
        farm("admin", "create-user", "viewer@farm.test", "--read-only", "--data-dir", server.data_dir, "--json")
    )
    assert viewer["role"] == "read-only"
    assert "viewer@farm.test is read-only" in farm("project", "create", "nope", token=viewer["token"], code=2)
    assert "unknown API token" in farm("project", "list", token="farm_bogus", code=2)


def test_sharing_a_project(farm, server):
    colleague = json.loads(farm("admin", "create-user", "mate@farm.test", "--data-dir", server.data_dir, "--json"))
    farm("project", "create", "team")
    assert farm("project", "list", "--json", token=colleague["token"]) == "[]\n"
    shared = json.loads(farm("project", "share", "team", "mate@farm.test", "--role", "viewer", "--json"))
    assert shared["role"] == "viewer" and shared["user_id"] == colleague["user_id"]
    assert [p["name"] for p in json.loads(farm("project", "list", "--json", token=colleague["token"]))] == ["team"]
    members = json.loads(farm("project", "members", "team", "--json", token=colleague["token"]))
    assert [(m["email"], m["role"]) for m in members] == [("boss@farm.test", "owner"), ("mate@farm.test", "viewer")]
    assert "this needs owner" in farm("project", "share", "team", "x@farm.test", token=colleague["token"], code=2)
    farm("project", "unshare", "team", "mate@farm.test", token=colleague["token"])
    assert farm("project", "list", "--json", token=colleague["token"]) == "[]\n"
