"""An uploaded ONNX file read and checked in a process of its own, under memory and time limits.

An upload is untrusted: a crafted protobuf can ask the parser for gigabytes, and a large
honest model takes seconds to parse and check, during which protobuf holds the GIL (a
600,000-node model stalled every request of the API server for 0.9 s). So the server
runs `load_onnx` here, in a fresh interpreter whose address space is capped with
`resource.setrlimit` before anything is read, with a wall-clock deadline; it answers the
model's inputs and outputs as JSON, or the importer's error. A model that exceeds a
limit is a clear `ModelImportError`, and the server stays up.

    python -m farm.models.onnx_check PATH MEMORY_BYTES
"""

from __future__ import annotations

import json
import subprocess
import sys

from .onnx_import import ModelImportError, graph_inputs, load_onnx, tensor_info

MEMORY_BYTES = 4 << 30  # address space of the checking process
TIMEOUT_S = 120.0


def check_onnx_file(
    path: str, memory_bytes: int = MEMORY_BYTES, timeout_s: float = TIMEOUT_S
) -> tuple[list[dict], list[dict]]:
    """The inputs and outputs (as JSON) of the ONNX file at `path`, read and checked in a limited subprocess; `ModelImportError` if it is not a model we can take."""
    command = [sys.executable, "-m", __name__, path, str(memory_bytes)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise ModelImportError(f"{path} could not be read and checked within {timeout_s:g} s") from None
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else {}
    except ValueError:
        answer = {}
    if "error" in answer:
        raise ModelImportError(answer["error"])
    if done.returncode or "inputs" not in answer:
        raise ModelImportError(
            f"{_too_big(path, memory_bytes)} (the checking process ended with code {done.returncode})"
        )
    return answer["inputs"], answer["outputs"]


def _too_big(path: str, memory_bytes: int) -> str:
    return f"{path} could not be read within {memory_bytes / (1 << 30):g} GiB of memory"


def _main(path: str, memory_bytes: int) -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    try:
        proto = load_onnx(path)
        answer = {
            "inputs": [i.as_json() for i in graph_inputs(proto)],
            "outputs": [tensor_info(v).as_json() for v in proto.graph.output],
        }
    except ModelImportError as e:
        answer = {"error": str(e)}
    except MemoryError:
        answer = {"error": _too_big(path, memory_bytes)}
    print(json.dumps(answer))


if __name__ == "__main__":
    _main(sys.argv[1], int(sys.argv[2]))
