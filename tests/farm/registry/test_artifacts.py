"""The content-addressed artifact store: keys, de-duplication, deterministic folders, atomic writes, local and S3."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path

import pytest

from farm.registry.artifacts import ArtifactStore
from farm.registry.errors import CorruptArtifact, InvalidInput, NotFound


def stored_files(root) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, files in os.walk(root) for f in files)


def make_folder(path, mode: int = 0o644) -> str:
    (path / "lib").mkdir(parents=True)
    (path / "empty").mkdir()
    (path / "lib" / "model.so").write_bytes(b"\x7fELF" + bytes(range(256)) * 50)
    (path / "README.md").write_text("a packaged model\n")
    (path / "run.sh").write_text("#!/bin/sh\necho run\n")
    os.chmod(path / "run.sh", 0o755)
    os.chmod(path / "README.md", mode)
    return str(path)


def test_the_key_is_the_sha256_and_the_same_file_is_stored_once(tmp_path):
    store = ArtifactStore(str(tmp_path / "store"))
    src = tmp_path / "model.onnx"
    src.write_bytes(b"onnx bytes" * 1000)
    key = store.put_file(str(src))
    assert key == hashlib.sha256(src.read_bytes()).hexdigest()
    path = tmp_path / "store" / "sha256" / key[:2] / key
    first_write = os.stat(path).st_ino  # a rewrite renames a new file into place
    copy = tmp_path / "copy.onnx"
    copy.write_bytes(src.read_bytes())
    assert store.put_file(str(copy)) == key
    assert stored_files(tmp_path / "store") == [f"sha256/{key[:2]}/{key}"]
    assert os.stat(path).st_ino == first_write  # not written again (only its time refreshed, for `farm admin gc`)
    assert store.exists(key) and store.size(key) == src.stat().st_size
    with store.open(key) as f:
        assert f.read() == src.read_bytes()
    assert Path(store.get_file(key, str(tmp_path / "out" / "back.onnx"))).read_bytes() == src.read_bytes()


def test_the_same_folder_content_gives_the_same_key_and_extracts_back(tmp_path):
    store = ArtifactStore(str(tmp_path / "store"))
    first = make_folder(tmp_path / "a")
    second = make_folder(tmp_path / "b", mode=0o664)
    os.utime(os.path.join(second, "README.md"), (1, 1))
    key = store.put_folder(first)
    assert store.put_folder(second) == key
    (tmp_path / "b" / "README.md").write_text("changed\n")
    assert store.put_folder(second) != key
    out = tmp_path / "out"
    store.extract_folder(key, str(out))
    assert stored_files(out) == ["README.md", "lib/model.so", "run.sh"]
    assert (out / "empty").is_dir()
    assert (out / "lib" / "model.so").read_bytes() == (tmp_path / "a" / "lib" / "model.so").read_bytes()
    assert os.stat(out / "run.sh").st_mode & 0o111


def test_a_reader_never_sees_half_a_file(tmp_path):
    store = ArtifactStore(str(tmp_path / "store"))
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(32 << 20))
    key = hashlib.sha256(src.read_bytes()).hexdigest()
    final = tmp_path / "store" / "sha256" / key[:2] / key
    seen: list[int] = []
    done = threading.Event()

    def watch() -> None:
        while not (done.is_set() and seen):
            if final.exists():
                seen.append(final.stat().st_size)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        store.put_file(str(src))
    finally:
        done.set()
        watcher.join()
    assert set(seen) == {32 << 20}
    assert stored_files(tmp_path / "store") == [f"sha256/{key[:2]}/{key}"]


def test_a_damaged_blob_is_never_handed_on_and_the_next_put_of_its_bytes_repairs_it(tmp_path):
    """Issue 12 item 7: reads verify the bytes against the key; a blob cut short is rewritten by the next put."""
    store = ArtifactStore(str(tmp_path / "store"))
    src = tmp_path / "model.onnx"
    src.write_bytes(bytes(range(256)) * 10_000)
    key = store.put_file(str(src))
    blob = tmp_path / "store" / "sha256" / key[:2] / key
    blob.write_bytes(src.read_bytes()[: 1 << 20])  # a crash cut the write short
    with pytest.raises(CorruptArtifact, match="damaged"):
        store.get_file(key, str(tmp_path / "out" / "back.onnx"))
    with store.open(key) as f, pytest.raises(CorruptArtifact):
        while f.read(4096):
            pass
    assert store.put_file(str(src)) == key
    assert blob.read_bytes() == src.read_bytes()
    flipped = bytearray(src.read_bytes())
    flipped[1234] ^= 1  # same size, one bit rotted
    blob.write_bytes(bytes(flipped))
    with pytest.raises(CorruptArtifact):
        store.get_file(key, str(tmp_path / "out" / "again.onnx"))


def test_keys_are_validated_before_any_path_is_built(tmp_path):
    store = ArtifactStore(str(tmp_path / "store"))
    for bad in ["../../etc/passwd", "A" * 64, "a" * 63, "a" * 64 + "/x", ""]:
        with pytest.raises(InvalidInput, match="is not an artifact key"):
            store.open(bad)
    with pytest.raises(NotFound, match="not in the artifact store"):
        store.open("a" * 64)
    with pytest.raises(NotFound):
        store.size("a" * 64)
    assert not store.exists("a" * 64)


def test_a_file_that_is_not_a_stored_folder_does_not_extract(tmp_path):
    store = ArtifactStore(str(tmp_path / "store"))
    src = tmp_path / "plain.txt"
    src.write_text("not an archive")
    with pytest.raises(InvalidInput, match="not a stored folder"):
        store.extract_folder(store.put_file(str(src)), str(tmp_path / "out"))


@pytest.mark.s3
def test_the_store_works_the_same_on_s3(tmp_path, s3_uri):
    store = ArtifactStore(s3_uri)
    src = tmp_path / "model.onnx"
    src.write_bytes(b"weights" * 4096)
    key = store.put_file(str(src))
    assert store.put_file(str(src)) == key and store.exists(key) and store.size(key) == src.stat().st_size
    with store.open(key) as f:
        assert f.read() == src.read_bytes()
    folder_key = store.put_folder(make_folder(tmp_path / "pkg"))
    assert store.put_folder(make_folder(tmp_path / "pkg2")) == folder_key
    store.extract_folder(folder_key, str(tmp_path / "out"))
    assert (tmp_path / "out" / "README.md").read_text() == "a packaged model\n"
