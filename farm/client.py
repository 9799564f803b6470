"""The farm's Python SDK: a thin, typed client of the REST API.

```python
from farm.client import Client

farm = Client()                      # $FARM_URL (default http://127.0.0.1:8000) and $FARM_API_TOKEN
model = farm.upload_model("resnet.onnx", project="vision", labels=["cnn"])
workflow = model.optimize(targets=["x86-64-v3", "znver4"], trials=200)
workflow.wait(on_progress=lambda w: print(w.progress))
for variant in workflow.variants():
    variant.download("variants/")
```

Records (`Project`, `Model`, `Variant`, `Workflow`, `Package`) are the API's own response
models (`farm.schemas`) holding the client that fetched them, so their methods talk to the
same server. Every HTTP error raises `FarmAPIError` with the status and the server's
message; a download that breaks off or does not match its SHA-256 raises `DownloadError`; a workflow that ends failed or cancelled makes `Workflow.wait` raise `WorkflowFailed`.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, PrivateAttr
from typing_extensions import Self

from farm.schemas import ModelOut, OfferOut, PackageOut, ProjectOut, VariantOut, WorkflowOut, repr_digest
from farm.workflow_options import WorkflowOptions, build_options

DEFAULT_URL = "http://127.0.0.1:8000"
PAGE = 500
TERMINAL = ("completed", "failed", "cancelled")


class FarmAPIError(Exception):
    """The server refused a request: `status` is the HTTP status, `detail` its message."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


class DownloadError(Exception):
    """A download did not arrive whole, or its bytes do not match the SHA-256 the server sent; nothing was saved."""


class WorkflowFailed(Exception):
    """A workflow ended failed or cancelled; `workflow` is its final record."""

    def __init__(self, workflow: Workflow) -> None:
        super().__init__(f"workflow {workflow.id} {workflow.state}" + (f": {workflow.error}" if workflow.error else ""))
        self.workflow = workflow


def _detail(response: httpx.Response) -> str:
    """The server's message: its `detail` (validation errors joined into one line), else the body."""
    try:
        detail = response.json()["detail"]
    except (ValueError, KeyError, TypeError):
        return response.text or response.reason_phrase
    if isinstance(detail, list):
        return "; ".join(f"{'.'.join(str(p) for p in e.get('loc', [])[1:])}: {e.get('msg')}" for e in detail)
    return str(detail)


def _parse(cls: type[R], client: Client, data: dict) -> R:
    """A record of `cls` from the API's JSON (unknown keys ignored, times parsed), bound to `client`."""
    record = cls.model_validate(data)
    record._client = client
    return record


class _Record(BaseModel):
    """What every record shares: the client that fetched it (so its methods talk to the same server), its fields as JSON."""

    _client: Client = PrivateAttr()

    @property
    def client(self) -> Client:
        return self._client

    def as_json(self) -> dict:
        """The record as the API sent it (times as ISO strings)."""
        return self.model_dump(mode="json")

    def _update(self, data: dict) -> None:
        """Take the fields of a newer copy of this record from the API."""
        fresh = type(self).model_validate(data)
        for name in type(self).model_fields:
            setattr(self, name, getattr(fresh, name))


R = TypeVar("R", bound=_Record)


class Project(_Record, ProjectOut):
    """A project of the farm: its members see its models (viewer), change and optimize them (member), manage it (owner)."""

    def members(self) -> list[dict]:
        """Its members: user_id, email, role, created_at; owners first."""
        return self.client._request("GET", f"/projects/{self.id}/members")

    def set_member(self, user: str, role: str) -> dict:
        """Add a user (id or email) as viewer, member or owner, or change their role. Owners only."""
        return self.client._request("PUT", f"/projects/{self.id}/members/{quote(user)}", json={"role": role})

    def remove_member(self, user: str) -> None:
        """Take a user (id or email) out; owners remove anyone, members themselves. The last owner stays."""
        self.client._request("DELETE", f"/projects/{self.id}/members/{quote(user)}")


class Variant(_Record, VariantOut):
    """A model's original or tuned variant."""

    def download(self, path: str = ".") -> str:
        """Save the artifact to `path` (a folder gets it under its artifact name); returns the file written."""
        return self.client._download(f"/variants/{self.id}/download", path, self.artifact_name)


class Package(_Record, PackageOut):
    """A package built from a variant."""

    def download(self, path: str = ".") -> str:
        """Save the package to `path` (a folder gets it under its file name); returns the file written."""
        return self.client._download(f"/packages/{self.id}/download", path, self.artifact_name)


class Model(_Record, ModelOut):
    """An uploaded ONNX model."""

    def move(self, project: str | Project | None) -> Model:
        """Move into a project (id, name or `Project`), or detach with None."""
        project_id = self.client._project_id(project) if project is not None else None
        self._update(self.client._request("POST", f"/models/{self.id}/move", json={"project_id": project_id}))
        return self

    def variants(self) -> list[Variant]:
        """The original and every tuned variant."""
        return [_parse(Variant, self.client, v) for v in self.client._request("GET", f"/models/{self.id}/variants")]

    def set_sample_inputs(self, path: str | None) -> Model:
        """Give the model sample inputs (an `.npz` of arrays named by its inputs, the first axis indexing samples): its
        workflows measure agreement on them; None removes them (agreement is then measured on generated inputs)."""
        if path is None:
            self._update(self.client._request("DELETE", f"/models/{self.id}/sample-inputs"))
            return self
        with open(path, "rb") as f:
            file = {"file": (os.path.basename(path), f, "application/octet-stream")}
            self._update(self.client._request("PUT", f"/models/{self.id}/sample-inputs", files=file))
        return self

    def optimize(
        self,
        targets: Iterable[str],
        options: WorkflowOptions | None = None,
        webhook_url: str | None = None,
        **fields: object,
    ) -> Workflow:
        """Start a workflow tuning this model for each device kind in `targets` (see `Client.create_workflow`)."""
        return self.client.create_workflow(self.id, targets, options=options, webhook_url=webhook_url, **fields)

    def packages(self) -> list[Package]:
        """Every package built from this model's variants."""
        return self.client.packages(model_id=self.id)


class Offer(_Record, OfferOut):
    """A faster variant the tuning database's newer records promise for a model's best variant of a kind."""

    def accept(self) -> Workflow:
        """Start the workflow that compiles it from the records and keeps it only if it is faster on the device."""
        self._update(self.client._request("POST", f"/offers/{self.id}/accept"))
        return self.client.workflow(self.workflow_id)

    def dismiss(self) -> Offer:
        """Decline it."""
        self._update(self.client._request("POST", f"/offers/{self.id}/dismiss"))
        return self

    def refresh(self) -> Offer:
        """Read its state again (an accepted offer settles when its workflow ends)."""
        self._update(self.client._request("GET", f"/offers/{self.id}"))
        return self


class Workflow(_Record, WorkflowOut):
    """A workflow tuning, benchmarking and packaging a model."""

    def status(self) -> str:
        """Refresh from the server and return the state."""
        self._update(self.client._request("GET", f"/workflows/{self.id}"))
        return self.state

    def wait(
        self, timeout: float | None = None, poll: float = 2.0, on_progress: Callable[[Workflow], None] | None = None
    ) -> Workflow:
        """Poll until the workflow ends; `on_progress(self)` after every poll. Raises `WorkflowFailed` or `TimeoutError`."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            self.status()
            if on_progress is not None:
                on_progress(self)
            if self.state == "completed":
                return self
            if self.state in TERMINAL:
                raise WorkflowFailed(self)
            if deadline is not None and time.monotonic() >= deadline:
                raise TimeoutError(f"workflow {self.id} still {self.state} after {timeout:g} s")
            time.sleep(poll if deadline is None else max(0.0, min(poll, deadline - time.monotonic())))

    def cancel(self) -> Workflow:
        self._update(self.client._request("POST", f"/workflows/{self.id}/cancel"))
        return self

    def variants(self) -> list[Variant]:
        """The variants this workflow produced."""
        variants = self.client._request("GET", f"/models/{self.model_id}/variants")
        return [_parse(Variant, self.client, v) for v in variants if v["workflow_id"] == self.id]

    def metrics(self) -> list[dict]:
        """The benchmark results of this workflow's variants."""
        return self.client.benchmarks(workflow_id=self.id)

    def ranking(self) -> list[dict]:
        """The variants ranked by the workflow's metric priorities (`models_rank.json`), once its package stage ran."""
        self.status()
        return self.outputs.get("ranking", [])

    def packages(self, format: str | None = None) -> list[Package]:
        """The packages this workflow built (wheel, tarball, zip, dockerfile), optionally of one format."""
        return self.client.packages(workflow_id=self.id, format=format)


class Client:
    """A connection to a farm server; use as a context manager or call `close()`."""

    def __init__(self, url: str | None = None, token: str | None = None, *, timeout: float = 300.0) -> None:
        self.url = (url or os.environ.get("FARM_URL") or DEFAULT_URL).rstrip("/")
        token = token or os.environ.get("FARM_API_TOKEN")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=f"{self.url}/api/v1", headers=headers, timeout=timeout)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.is_error:
            raise FarmAPIError(response.status_code, _detail(response))
        return response.json() if response.content else None

    @contextmanager
    def _stream(self, path: str) -> Iterator[httpx.Response]:
        """A streamed GET whose errors raise `FarmAPIError`."""
        with self._http.stream("GET", path) as response:
            if response.is_error:
                response.read()
                raise FarmAPIError(response.status_code, _detail(response))
            yield response

    def _download(self, path: str, dest: str, filename: str) -> str:
        """Stream a GET of `path` into `dest` (a folder gets `filename`) through a partial file, checked against the
        response's `Repr-Digest`; the file written. `DownloadError`, and nothing saved, if it is cut short or differs."""
        if os.path.isdir(dest):
            dest = os.path.join(dest, filename)
        partial = f"{dest}.part"
        digest = hashlib.sha256()
        try:
            with self._stream(path) as response, open(partial, "wb") as out:
                expected = response.headers.get("Repr-Digest")
                for chunk in response.iter_bytes():
                    digest.update(chunk)
                    out.write(chunk)
            if expected is not None and expected != repr_digest(digest.digest()):
                raise DownloadError(
                    f"{filename} arrived with SHA-256 {digest.hexdigest()}, not the server's; nothing was saved"
                )
            os.replace(partial, dest)
        except httpx.RemoteProtocolError:
            raise DownloadError(
                f"the download of {filename} broke off before its end (the server found its stored copy damaged, or the "
                "connection dropped); nothing was saved"
            ) from None
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
        return dest

    def _pages(self, path: str, params: dict) -> list[dict]:
        items: list[dict] = []
        while True:
            page = self._request("GET", path, params={**params, "offset": len(items), "limit": PAGE})
            items += page["items"]
            if not page["items"] or len(items) >= page["total"]:
                return items

    def _project_id(self, project: str | Project) -> str:
        return project.id if isinstance(project, Project) else self.project(project).id

    def create_token(self, name: str = "default", expires_in_days: int | None = None) -> dict:
        """A new API token for this client's user, valid for `expires_in_days` (None: until revoked); `token` in the result is shown this once."""
        return self._request("POST", "/tokens", json={"name": name, "expires_in_days": expires_in_days})

    def create_project(self, name: str, description: str = "") -> Project:
        return _parse(
            Project, self, self._request("POST", "/projects", json={"name": name, "description": description})
        )

    def projects(self) -> list[Project]:
        return [_parse(Project, self, p) for p in self._pages("/projects", {})]

    def project(self, project: str) -> Project:
        """The project with this id or name."""
        try:
            return _parse(Project, self, self._request("GET", f"/projects/{project}"))
        except FarmAPIError as e:
            if e.status != 404:
                raise
        match = next((p for p in self.projects() if p.name == project), None)
        if match is None:
            raise FarmAPIError(404, f"no project with id or name {project!r}")
        return match

    def upload_model(
        self,
        path: str,
        name: str | None = None,
        project: str | Project | None = None,
        labels: Iterable[str] = (),
        description: str = "",
    ) -> Model:
        """Upload an ONNX file as a new model (named after the file by default), detached or in `project` (id, name or `Project`)."""
        data = {
            "name": name or os.path.splitext(os.path.basename(path))[0],
            "description": description,
            "labels": ",".join(labels),
        }
        if project is not None:
            data["project_id"] = self._project_id(project)
        with open(path, "rb") as f:
            created = self._request(
                "POST", "/models", data=data, files={"file": (os.path.basename(path), f, "application/octet-stream")}
            )
        return _parse(Model, self, created)

    def models(self, project: str | Project | None = None, labels: Iterable[str] = ()) -> list[Model]:
        """Every model, or those of a project, carrying every label given."""
        params = {"labels": ",".join(labels)}
        if project is not None:
            params["project_id"] = self._project_id(project)
        return [_parse(Model, self, m) for m in self._pages("/models", params)]

    def model(self, model_id: str) -> Model:
        return _parse(Model, self, self._request("GET", f"/models/{model_id}"))

    def variant(self, variant_id: str) -> Variant:
        return _parse(Variant, self, self._request("GET", f"/variants/{variant_id}"))

    def create_workflow(
        self,
        model_id: str,
        targets: Iterable[str],
        *,
        options: WorkflowOptions | None = None,
        webhook_url: str | None = None,
        **fields: object,
    ) -> Workflow:
        """Start a workflow tuning a model for each device kind in `targets`.

        Its options are `options`, else built from `fields`, the fields of
        `farm.workflow_options.WorkflowOptions` (`trials`, `trials_per_task`, `input_shapes`,
        `stages`, `benchmark`, `priorities`), each at the schema's default when not given;
        a wrong field raises `ValueError` before anything is sent.
        """
        if options is not None and fields:
            raise ValueError(f"give options or its fields, not both ({', '.join(fields)})")
        options = options or build_options(**fields)
        body = {"model_id": model_id, "targets": list(targets), "webhook_url": webhook_url, **options.model_dump()}
        return _parse(Workflow, self, self._request("POST", "/workflows", json=body))

    def workflow(self, workflow_id: str) -> Workflow:
        return _parse(Workflow, self, self._request("GET", f"/workflows/{workflow_id}"))

    def workflows(self, model_id: str | None = None, state: str | None = None) -> list[Workflow]:
        """Workflows, newest first, of a model or in a state."""
        params = {k: v for k, v in {"model_id": model_id, "state": state}.items() if v is not None}
        return [_parse(Workflow, self, w) for w in self._pages("/workflows", params)]

    def benchmarks(
        self, model_id: str | None = None, variant_id: str | None = None, workflow_id: str | None = None
    ) -> list[dict]:
        params = {
            k: v
            for k, v in {"model_id": model_id, "variant_id": variant_id, "workflow_id": workflow_id}.items()
            if v is not None
        }
        return self._request("GET", "/benchmarks", params=params)

    def packages(
        self,
        model_id: str | None = None,
        variant_id: str | None = None,
        workflow_id: str | None = None,
        format: str | None = None,
    ) -> list[Package]:
        """Packages matching every filter given, oldest first."""
        params = {
            k: v
            for k, v in {
                "model_id": model_id,
                "variant_id": variant_id,
                "workflow_id": workflow_id,
                "format": format,
            }.items()
            if v is not None
        }
        return [_parse(Package, self, p) for p in self._request("GET", "/packages", params=params)]

    def package(self, package_id: str) -> Package:
        return _parse(Package, self, self._request("GET", f"/packages/{package_id}"))

    def offers(self, model_id: str | None = None, state: str | None = None) -> list[Offer]:
        """Re-optimization offers of the models this user may see, newest first, of a model or in a state."""
        params = {k: v for k, v in {"model_id": model_id, "state": state}.items() if v is not None}
        return [_parse(Offer, self, o) for o in self._request("GET", "/offers", params=params)]

    def offer(self, offer_id: str) -> Offer:
        return _parse(Offer, self, self._request("GET", f"/offers/{offer_id}"))

    def check_offers(self, threshold: float = 0.1) -> list[Offer]:
        """Check every model's best variants against today's tuning records now (admins); the offers made."""
        made = self._request("POST", "/offers/check", params={"threshold": threshold})
        return [_parse(Offer, self, o) for o in made]

    def prices(self) -> dict[str, float]:
        """The hourly price of each device kind that has one, in US dollars."""
        return {p["kind"]: p["usd_per_hour"] for p in self._request("GET", "/prices")}

    def set_price(self, kind: str, usd_per_hour: float) -> dict:
        """Set what an hour of `kind` costs (admins only); benchmarks then report cost per million inferences."""
        return self._request("PUT", f"/prices/{kind}", json={"usd_per_hour": usd_per_hour})

    def delete_price(self, kind: str) -> None:
        self._request("DELETE", f"/prices/{kind}")

    def targets(self) -> list[dict]:
        """The device kinds the farm's cluster serves: name, platform, TVM target, nodes."""
        return self._request("GET", "/targets")
