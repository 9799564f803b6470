"""Downloads never deliver a damaged file: the server checks a stored blob against its SHA-256 before its last bytes
leave (a mismatch cuts the response short of its Content-Length, so no client sees a clean end), every download says
its SHA-256 (`Repr-Digest`, RFC 9530), the SDK and the CLI check it and keep nothing that does not match, and storing
the same bytes again repairs a damaged blob of the same size."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from farm.cli.main import app
from farm.client import Client, DownloadError
from farm.registry import catalog


@pytest.fixture(scope="module")
def owner(server):
    _, token = server.user("downloads@farm.test")
    with Client(server.url, token) as client:
        yield client, token


def repr_digest(data: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(data).digest()).decode()}:"


def test_a_blob_damaged_in_the_store_never_reaches_a_clean_end_and_storing_it_again_repairs_it(
    server, owner, model_file, tmp_path
):
    client, token = owner
    good = Path(model_file).read_bytes()
    model = client.upload_model(model_file, name="downloaded")
    (original,) = model.variants()
    blob = Path(server.registry.artifacts.root) / "sha256" / original.artifact_key[:2] / original.artifact_key
    url = f"{server.url}/api/v1/variants/{original.id}/download"
    headers = {"Authorization": f"Bearer {token}"}

    clean = httpx.get(url, headers=headers)
    assert clean.content == good and clean.headers["Repr-Digest"] == repr_digest(good)
    assert Path(original.download(str(tmp_path / "clean.onnx"))).read_bytes() == good

    rotted = bytearray(good)
    rotted[len(good) // 2] ^= 1  # same size, one bit flipped on disk
    blob.write_bytes(bytes(rotted))
    with pytest.raises(httpx.RemoteProtocolError):  # the body ends before its Content-Length
        httpx.get(url, headers=headers)
    saved = tmp_path / "saved"
    saved.mkdir()
    with pytest.raises(DownloadError, match="nothing was saved"):
        original.download(str(saved))
    cli = CliRunner().invoke(
        app, ["model", "download", original.id, "--out", str(saved), "--url", server.url, "--token", token]
    )
    assert cli.exit_code == 2 and "nothing was saved" in cli.output
    assert list(saved.iterdir()) == [], "neither the file nor its partial download is left"

    client.upload_model(model_file, name="uploaded-again")
    assert blob.read_bytes() == good, "storing the same bytes again rewrote the damaged blob"
    assert Path(original.download(str(saved))).read_bytes() == good


def test_a_package_says_its_sha256_in_its_record_and_its_download(server, owner, model_file):
    client, token = owner
    model = client.upload_model(model_file, name="packaged")
    (original,) = model.variants()
    with server.registry.session() as s:
        package = catalog.add_package(
            s,
            original.id,
            format="zip",
            artifact_key=original.artifact_key,
            artifact_name="tiny.zip",
            size_bytes=original.size_bytes,
        )
    listed = client.package(package.id)
    body = Path(model_file).read_bytes()
    assert listed.artifact_key == hashlib.sha256(body).hexdigest()
    download = httpx.get(
        f"{server.url}/api/v1/packages/{package.id}/download", headers={"Authorization": f"Bearer {token}"}
    )
    assert download.content == body and download.headers["Repr-Digest"] == repr_digest(body)
