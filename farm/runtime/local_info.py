"""This host and the devices on it that the runtime can run models on (`get_local_info`).

Device ids are `cpu:0` (one CPU device for the whole processor) and `cuda:N` for every
GPU TVM can drive. A device's `kind` uses the farm's names for device kinds: LLVM's name
for the CPU (`znver4`), `cuda-sm<compute capability>` for a GPU.
"""

from __future__ import annotations

import os
import platform
import re
import socket
import sys
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from .errors import DeviceError, InvalidArgumentError

if TYPE_CHECKING:
    import tvm

CPUINFO = "/proc/cpuinfo"
DEVICE_ID = re.compile(r"(cpu|cuda):(\d+)")


@dataclass(frozen=True)
class DeviceInfo:
    """A device of this host: `id` (`cpu:0`), `platform` (`cpu`/`cuda`), `kind`, model `name`, `cores`, `index`.

    `cores` is the physical cores a CPU device may use, the streaming multiprocessors of a GPU.
    """

    id: str
    platform: str
    kind: str
    name: str
    cores: int
    index: int

    def tvm_device(self) -> tvm.runtime.Device:
        """This device as TVM addresses it."""
        import tvm

        return tvm.device(self.platform, self.index)


@dataclass(frozen=True)
class HostInfo:
    """This host: hostname, OS, architecture, Python and TVM versions, and its devices."""

    name: str
    os: str
    architecture: str
    python: str
    tvm_version: str | None
    devices: list[DeviceInfo] = field(default_factory=list)

    def as_json(self) -> dict:
        return asdict(self)


def _cpuinfo_blocks() -> list[dict[str, str]]:
    """/proc/cpuinfo as one dict per logical processor (empty where there is no such file)."""
    try:
        with open(CPUINFO) as f:
            text = f.read()
    except OSError:
        return []
    blocks = []
    for chunk in text.split("\n\n"):
        fields = dict(line.split(":", 1) for line in chunk.splitlines() if ":" in line)
        if fields:
            blocks.append({k.strip(): v.strip() for k, v in fields.items()})
    return blocks


def host_cpu_flags() -> set[str] | None:
    """The CPU flags the kernel reports for this machine; None where it reports none (not Linux)."""
    for block in _cpuinfo_blocks():
        if "flags" in block:
            return set(block["flags"].split())
    return None


def _usable_cpus() -> set[int] | None:
    return os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None


def physical_cores() -> int:
    """Physical cores this process may run on: distinct (physical id, core id) of its usable processors."""
    usable = _usable_cpus()
    cores = {
        (b.get("physical id", "0"), b["core id"])
        for b in _cpuinfo_blocks()
        if "core id" in b and (usable is None or int(b.get("processor", -1)) in usable)
    }
    return len(cores) or len(usable or ()) or os.cpu_count() or 1


def _tvm(load: bool = True):
    """TVM, when this environment has it (and, unless `load`, when this process already imported it): a package whose
    engine is not TVM runs without it, and need not pay for its import."""
    if not load:
        return sys.modules.get("tvm")
    try:
        import tvm
    except ImportError:
        return None
    return tvm


def _cpu_device(load_tvm: bool = True) -> DeviceInfo:
    names = [b["model name"] for b in _cpuinfo_blocks() if "model name" in b]
    name = names[0] if names else platform.processor()
    # the farm names CPU kinds by LLVM's name for the CPU; without TVM (and its LLVM) the architecture stands in
    kind = platform.machine()
    if _tvm(load_tvm) is not None:
        from tvm.target import codegen

        kind = str(codegen.llvm_get_system_cpu())
    return DeviceInfo("cpu:0", "cpu", kind, name, physical_cores(), 0)


def _cuda_devices(load_tvm: bool = True) -> list[DeviceInfo]:
    """Every CUDA GPU TVM can drive (none without TVM)."""
    tvm = _tvm(load_tvm)
    if tvm is None:
        return []
    devices = []
    while tvm.cuda(len(devices)).exist:
        index = len(devices)
        dev = tvm.cuda(index)
        kind = "cuda-sm" + dev.compute_version.replace(".", "")
        devices.append(
            DeviceInfo(f"cuda:{index}", "cuda", kind, str(dev.device_name or ""), int(dev.multi_processor_count), index)
        )
    return devices


def get_local_info(load_tvm: bool = True) -> HostInfo:
    """This host and its devices: the CPU, then every CUDA GPU TVM can drive (`tvm_version` None without TVM).

    The CPU's kind is LLVM's name for it, which TVM knows; without TVM (`load_tvm` False and
    not imported yet, or not installed) it is the architecture, and no GPU is listed."""
    tvm = _tvm(load_tvm)
    return HostInfo(
        name=socket.gethostname(),
        os=platform.system(),
        architecture=platform.machine(),
        python=platform.python_version(),
        tvm_version=tvm.__version__ if tvm else None,
        devices=[_cpu_device(load_tvm), *_cuda_devices(load_tvm)],
    )


def find_device(device_id: str, devices: list[DeviceInfo]) -> DeviceInfo:
    """The device of `devices` named `device_id` (`cpu:0`, `cuda:1`)."""
    if not isinstance(device_id, str) or not DEVICE_ID.fullmatch(device_id):
        raise InvalidArgumentError(f"device {device_id!r}: device ids look like 'cpu:0' or 'cuda:0'")
    for device in devices:
        if device.id == device_id:
            return device
    raise DeviceError(f"device {device_id!r} does not exist on this host (devices: {', '.join(d.id for d in devices)})")
