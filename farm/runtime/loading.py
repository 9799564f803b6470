"""`load_model`: a model folder opened on a device of this host by the engine it names, through the runtime's engine table.

The folder is read and checked once (`farm.runtime.container`), the device chosen by the
variant's platform, and the engine's own module (`farm.runtime.engines`) opens it: nothing
here imports an engine, so a package whose engine is ONNX Runtime never imports TVM. What
engines that run native code compiled for one CPU share (the architecture and CPU-flag
check, the thread count the farm measured) is here too.
"""

from __future__ import annotations

import os

from .container import ModelFolder, read_model_folder
from .errors import DeviceError, InvalidArgumentError
from .local_info import DeviceInfo, find_device, get_local_info, host_cpu_flags

ARCH_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}  # platform.machine() spellings -> LLVM triple's
NUM_THREADS_VAR = "TVM_NUM_THREADS"


def choose_device(container: ModelFolder, available: list[DeviceInfo], devices: object) -> DeviceInfo:
    """The first device (of `devices`, else of this host) of the platform the model is built for."""
    if devices is None:
        candidates, where = available, "this host has"
    else:
        items = [devices] if isinstance(devices, (str, DeviceInfo)) else devices
        if not isinstance(items, (list, tuple)) or not items:
            raise InvalidArgumentError(
                f"devices must be a device id ('cpu:0', 'cuda:0'), a DeviceInfo or a non-empty list of them, got {devices!r}"
            )
        candidates = [find_device(d.id if isinstance(d, DeviceInfo) else d, available) for d in items]
        where = "the devices given are"
    for device in candidates:
        if device.platform == container.platform:
            return device
    raise DeviceError(
        f"model {container.name!r} runs on a {container.platform} device (TVM target {container.metadata['target']['kind']!r}); "
        f"{where}: {', '.join(d.id for d in candidates)}"
    )


def check_cpu(container: ModelFolder, architecture: str) -> None:
    """`DeviceError` unless this CPU can execute the folder's compiled code: its architecture, and every CPU flag it needs."""
    arch = str(container.metadata["target"].get("mtriple", "")).split("-", 1)[0]
    machine = ARCH_ALIASES.get(architecture.lower(), architecture.lower())
    if arch and machine and arch != machine:
        raise DeviceError(f"model {container.name!r} is built for {arch} CPUs, this host is {machine}")
    flags = host_cpu_flags()
    missing = sorted(set(container.cpu_flags) - flags) if flags is not None else []
    if missing:
        raise DeviceError(
            f"model {container.name!r} (kind {container.metadata.get('kind', '?')}) needs CPU features this host lacks: "
            f"{', '.join(missing)}; its code would die with SIGILL here: load the variant of this host's kind"
        )


def compiled_threads(container: ModelFolder, engine: str, device: DeviceInfo, threads: int | None) -> int | None:
    """For code TVM compiled: the CPU checked, and the threads to run (given, else measured fastest, else
    `$TVM_NUM_THREADS`'s choice when set (None), else the device's cores)."""
    if device.platform != "cpu":
        return threads
    import platform

    check_cpu(container, platform.machine())
    threads = threads or container.figures(engine).threads
    if threads is None and NUM_THREADS_VAR not in os.environ:
        threads = device.cores
    return threads


def load_model(
    folder: str | os.PathLike,
    devices: str | DeviceInfo | list | None = None,
    threads: int | None = None,
    engine: str | None = None,
):
    """The model of `folder` loaded on the first of `devices` (ids such as 'cpu:0') that can run it, else on this host's first.

    `engine`: one of `farm.runtime.engines.RUNTIME_ENGINES` (`tvm`, `onnxruntime`, `hybrid`);
    default the one the farm chose for the folder (`metadata.json`'s `engine`), with the
    settings it measured fastest. `threads`: the threads the engine computes with; default
    the count the farm chose, else the engine's own default for this device.
    """
    from .engines import runtime_engine

    if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
        raise InvalidArgumentError(f"threads must be an integer >= 1 or None, got {threads!r}")
    if engine is not None:
        runtime_engine(engine)
    container = read_model_folder(folder, engine)
    engine = engine or container.engine
    loader = runtime_engine(engine).loader()  # imports the engine: TVM's, where it runs, names the CPU's kind
    device = choose_device(container, get_local_info(load_tvm=container.platform != "cpu").devices, devices)
    return loader.open_model(container, device, threads, engine)
