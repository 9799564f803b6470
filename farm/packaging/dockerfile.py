"""A variant as a Docker build context: its wheel, a standard-library HTTP inference server and a Dockerfile.

`<model>-<kind>-docker.tar.gz` holds, at its root, the variant's wheel (`build_wheel`),
`serve.py` and a `Dockerfile` (python:3.11-slim, the wheel installed with pip, port 8080),
so `docker build -t NAME - < <model>-<kind>-docker.tar.gz` builds the image. `serve.py`
answers POST /infer (`{"inputs": {name: nested list}}` → `{"outputs": {name: nested list}}`),
GET /health and GET /metadata, running the model through the wheel's `load()`.
"""

from __future__ import annotations

import json
import os
import tempfile

from ..archive import write_tar_gz
from .variant import read_variant
from .wheel import build_wheel, names

PORT = 8080

# serve.py and the Dockerfile take no data as code: serve.py reads the model's names from the wheel's METADATA,
# the Dockerfile's one comment carries them JSON-quoted (a newline in a name cannot start an instruction), and
# every other substitution is a slug, a file name derived from slugs, or a number.
SERVE = '''"""HTTP inference server of the packaged model (its wheel's METADATA says which), standard library only.

    python serve.py [--host 0.0.0.0] [--port 8080] [--threads N]

POST /infer   {{"inputs": {{name: nested list}}}} -> {{"outputs": {{name: nested list}}}} (inputs take the model's dtypes)
GET /health   {{"status": "ok", "model": ..., "kind": ...}}
GET /metadata the model's metadata (inputs, outputs, target, benchmark)
A bad request gets 400, a failed inference 500, both with {{"error": message}}.
"""

import argparse
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np

from {package} import METADATA, load
from {package}.runtime import InvalidArgumentError, ShapeError, TypeMismatchError


def parse_inputs(body) -> dict:
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), dict):
        raise ValueError('expected a JSON object {{"inputs": {{name: nested list}}}}')
    dtypes = {{t["name"]: t["dtype"] for t in METADATA["inputs"]}}
    unknown = sorted(set(body["inputs"]) - set(dtypes))
    if unknown:
        raise ValueError(f"unknown inputs {{unknown}}; the model's inputs are {{list(dtypes)}}")
    return {{name: np.asarray(value, dtype=dtypes[name]) for name, value in body["inputs"].items()}}


class Handler(BaseHTTPRequestHandler):
    model = None

    def reply(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/health":
            self.reply(200, {{"status": "ok", "model": METADATA["model"], "kind": METADATA["kind"]}})
        elif self.path == "/metadata":
            self.reply(200, METADATA)
        else:
            self.reply(404, {{"error": f"no route GET {{self.path}}"}})

    def do_POST(self) -> None:
        if self.path != "/infer":
            self.reply(404, {{"error": f"no route POST {{self.path}}"}})
            return
        try:
            inputs = parse_inputs(json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0))))
            outputs = self.model.run(inputs)
        except (ValueError, TypeError, InvalidArgumentError, ShapeError, TypeMismatchError) as e:
            self.reply(400, {{"error": str(e)}})
            return
        except Exception as e:
            self.reply(500, {{"error": f"inference failed: {{e}}"}})
            return
        self.reply(200, {{"outputs": {{name: value.tolist() for name, value in outputs.items()}}}})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default={port})
    parser.add_argument("--threads", type=int, default=None, help="TVM threads (default: the runtime's)")
    args = parser.parse_args()
    Handler.model = load(threads=args.threads)
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"serving {{json.dumps(METADATA['model'])}} ({{METADATA['kind']}}) on http://{{args.host}}:{{server.server_port}}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
'''

DOCKERFILE = """# {model} compiled by Apache TVM for {kind}: docker build -t {dist} - < {stem}-docker.tar.gz
FROM python:3.11-slim
WORKDIR /app
COPY {wheel} serve.py ./
RUN pip install --no-cache-dir ./{wheel}
EXPOSE {port}
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/health', timeout=4)"
CMD ["python", "serve.py", "--port", "{port}"]
"""


def build_docker_context(variant_dir: str, out_dir: str) -> str:
    """Write `<model>-<kind>-docker.tar.gz` (wheel, serve.py, Dockerfile) into `out_dir` and return its path."""
    variant = read_variant(variant_dir)
    meta = variant.metadata
    dist, package = names(meta)
    with tempfile.TemporaryDirectory(prefix="farm-docker-") as work:
        wheel_path = build_wheel(variant.folder, work)
        with open(wheel_path, "rb") as f:
            wheel = f.read()
    wheel_name = os.path.basename(wheel_path)
    files = {
        wheel_name: wheel,
        "serve.py": SERVE.format(package=package, port=PORT).encode(),
        "Dockerfile": DOCKERFILE.format(
            model=json.dumps(meta["model"]),
            kind=json.dumps(meta["kind"]),
            dist=dist,
            stem=variant.stem,
            wheel=wheel_name,
            port=PORT,
        ).encode(),
    }
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(os.path.abspath(out_dir), f"{variant.stem}-docker.tar.gz")
    write_tar_gz(path, files.items())
    return path
