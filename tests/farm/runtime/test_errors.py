"""Every way a model folder, a device or an argument can be wrong ends in its own typed error, with a clear message."""

from __future__ import annotations

import hashlib
import json
import pickle

import numpy as np
import pytest

from farm import runtime as rt


@pytest.fixture(scope="module")
def model(variant):
    with rt.load_model(variant) as loaded:
        yield loaded


def _zeros(model) -> dict[str, np.ndarray]:
    return {t.name: np.zeros(t.shape, t.dtype) for t in model.inputs}


def test_inputs_are_checked_before_anything_runs(model):
    name, info = model.input_names[0], model.inputs[0]
    request = model.create_request()
    with pytest.raises(rt.TypeMismatchError, match=f"{name}.*float32.*float64") as wrong_dtype:
        request.infer({name: np.zeros(info.shape, np.float64)})
    assert isinstance(wrong_dtype.value, TypeError)
    with pytest.raises(rt.ShapeError, match=rf"{name}.*expected shape \(1, 3, 8, 8\), got \(1, 3, 8, 7\)"):
        request.infer({name: np.zeros((1, 3, 8, 7), np.float32)})
    with pytest.raises(rt.InvalidArgumentError, match=f"missing input '{name}'"):
        request.infer({})
    with pytest.raises(rt.InvalidArgumentError, match="unknown input 'nope'"):
        request.infer({**_zeros(model), "nope": np.zeros(1)})
    with pytest.raises(rt.InvalidArgumentError, match="expected 1 input"):
        request.infer([])
    with pytest.raises(rt.InvalidArgumentError, match="numpy array, got list"):
        request.infer({name: [0.0] * info.count})
    with pytest.raises(rt.InvalidArgumentError, match="list of numpy arrays"):
        request.infer(np.zeros(info.shape, np.float32))
    assert request.status is rt.InferStatus.READY  # nothing was queued


def test_preallocated_outputs_are_checked(model):
    info = model.outputs[0]
    with pytest.raises(rt.TypeMismatchError, match=info.name):
        model.run(_zeros(model), [np.zeros(info.shape, np.float16)])
    with pytest.raises(rt.ShapeError, match=info.name):
        model.run(_zeros(model), {info.name: np.zeros((2, *info.shape), info.dtype)})
    read_only = np.zeros(info.shape, info.dtype)
    read_only.flags.writeable = False
    with pytest.raises(rt.InvalidArgumentError, match="read-only"):
        model.run(_zeros(model), [read_only])


def test_unknown_tensor_name_lists_the_names(model):
    with pytest.raises(rt.InvalidArgumentError, match=f"no tensor 'nope'.*{model.input_names[0]}"):
        model.get_tensor("nope")


def test_bad_arguments(model, variant):
    with pytest.raises(rt.InvalidArgumentError, match="threads"):
        rt.load_model(variant, threads=0)
    with pytest.raises(rt.InvalidArgumentError, match="repeat"):
        model.profile(repeat=0)
    with pytest.raises(rt.InvalidArgumentError, match="warmup"):
        model.profile(warmup=-1)
    with pytest.raises(rt.InvalidArgumentError, match="timeout_us"):
        model.create_request().wait(timeout_us=-1)
    with pytest.raises(rt.InvalidArgumentError, match="callable"):
        model.create_request().set_callback("not a function")


@pytest.mark.parametrize(
    "devices, error, message",
    [
        ("cuda:0", rt.DeviceError, "'cuda:0' does not exist on this host"),
        (["cpu:3"], rt.DeviceError, "'cpu:3' does not exist on this host"),
        ("gpu", rt.InvalidArgumentError, "device ids look like"),
        ([], rt.InvalidArgumentError, "non-empty list"),
        (7, rt.InvalidArgumentError, "devices must be"),
    ],
)
def test_devices_that_do_not_exist_or_are_malformed(variant, devices, error, message):
    if devices == "cuda:0" and any(d.platform == "cuda" for d in rt.get_local_info().devices):
        pytest.skip("this host has a GPU")
    with pytest.raises(error, match=message):
        rt.load_model(variant, devices=devices)


def test_a_device_of_another_platform_is_refused(variant_copy):
    def cuda(metadata):
        metadata["target"] = {"kind": "cuda", "arch": "sm_80"}

    if any(d.platform == "cuda" for d in rt.get_local_info().devices):
        pytest.skip("this host has a GPU")
    with pytest.raises(rt.DeviceError, match="runs on a cuda device.*this host has: cpu:0"):
        rt.load_model(variant_copy(cuda))


def test_missing_cpu_flags_are_named(variant_copy):
    folder = variant_copy(lambda m: m.update(cpu_flags=["sse2", "avx_imaginary_9000"]))
    with pytest.raises(rt.DeviceError, match="lacks: avx_imaginary_9000;.*SIGILL"):
        rt.load_model(folder)


def test_the_host_cpu_flags_are_accepted(variant_copy):
    folder = variant_copy(lambda m: m.update(cpu_flags=["sse2"]))
    with rt.load_model(folder) as model:
        assert model.run(_zeros(model))


def test_a_library_for_another_architecture_is_refused(variant_copy):
    folder = variant_copy(lambda m: m["target"].update(mtriple="riscv64-linux-gnu"))
    with pytest.raises(rt.DeviceError, match="built for riscv64 CPUs"):
        rt.load_model(folder)


def test_unsupported_target_is_a_model_error(variant_copy):
    with pytest.raises(rt.ModelError, match="'opencl'"):
        rt.load_model(variant_copy(lambda m: m.update(target={"kind": "opencl"})))


def _rehash(folder) -> None:
    """Record the library's current SHA-256 in the metadata, so damage gets past the checksum."""
    path = folder / "metadata.json"
    metadata = json.loads(path.read_text())
    metadata["library_sha256"] = hashlib.sha256((folder / metadata["library"]).read_bytes()).hexdigest()
    path.write_text(json.dumps(metadata))


def test_corrupt_libraries(variant_copy):
    truncated = variant_copy()
    library = truncated / "model.so"
    library.write_bytes(library.read_bytes()[: library.stat().st_size // 2])
    with pytest.raises(rt.ContainerError, match="model.so is corrupt: its SHA-256 is"):
        rt.load_model(truncated)
    _rehash(truncated)  # dlopen would die of SIGBUS on it: the runtime reads the ELF headers first
    with pytest.raises(rt.ContainerError, match="model.so is truncated: its ELF headers describe"):
        rt.load_model(truncated)
    garbage = variant_copy()
    (garbage / "model.so").write_bytes(b"not a shared library\n" * 64)
    _rehash(garbage)
    with pytest.raises(rt.ContainerError, match="cannot load the library .*model.so"):
        rt.load_model(garbage)
    missing = variant_copy()
    (missing / "model.so").unlink()
    with pytest.raises(rt.ContainerError, match="library .*model.so named by .*metadata.json is missing"):
        rt.load_model(missing)


def test_bad_metadata(variant_copy, tmp_path):
    with pytest.raises(rt.ContainerError, match="does not exist"):
        rt.load_model(tmp_path / "nowhere")
    no_metadata = variant_copy()
    (no_metadata / "metadata.json").unlink()
    with pytest.raises(rt.ContainerError, match="metadata.json is missing: not a model folder"):
        rt.load_model(no_metadata)
    bad_json = variant_copy()
    (bad_json / "metadata.json").write_text("{not json")
    with pytest.raises(rt.ContainerError, match="metadata.json is not readable JSON"):
        rt.load_model(bad_json)
    with pytest.raises(rt.ContainerError, match="lacks library_sha256"):
        rt.load_model(variant_copy(lambda m: m.pop("library_sha256")))
    with pytest.raises(rt.ContainerError, match="model.so is corrupt"):
        rt.load_model(variant_copy(lambda m: m.update(library_sha256="0" * 64)))
    with pytest.raises(rt.ContainerError, match="not a tensor description"):
        rt.load_model(variant_copy(lambda m: m["inputs"][0].update(shape=[1, "batch"])))
    with pytest.raises(rt.ContainerError, match="a file name inside the folder"):
        rt.load_model(variant_copy(lambda m: m.update(library="../model.so")))


def test_errors_pickle_as_themselves():
    for error in (rt.ShapeError("input 'x': expected shape (1,), got (2,)"), rt.DeviceError("no GPU")):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error)
