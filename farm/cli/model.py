"""`farm model …`: upload ONNX models to the farm server, list, show and move them, give them sample inputs, download
their variants."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.table import Table

from ..client import Model
from .output import console, emit_json, fail
from .remote import JsonOption, TokenOption, UrlOption, connect, plain

app = typer.Typer(help="Models: uploaded ONNX files and their variants.", no_args_is_help=True)

LabelOption = Annotated[list[str] | None, typer.Option("--label", help="A label (repeatable, or comma-separated).")]


def _labels(values: list[str] | None) -> list[str]:
    return [v.strip() for value in values or [] for v in value.split(",") if v.strip()]


def _shapes(model: Model) -> str:
    return ", ".join(f"{t.name}{t.shape}" for t in model.inputs)


@app.command()
def upload(
    path: Annotated[str, typer.Argument(help="The ONNX file.")],
    name: Annotated[
        str | None, typer.Option("--name", help="Model name (default: the file's name without .onnx).")
    ] = None,
    project: Annotated[str | None, typer.Option("--project", help="Project id or name (default: detached).")] = None,
    label: LabelOption = None,
    description: Annotated[str, typer.Option("--description", help="What the model is.")] = "",
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Upload an ONNX model; the server validates it and infers its inputs."""
    if not os.path.isfile(path):
        fail(f"{path}: no such file")
    with connect(url, token) as client:
        model = client.upload_model(path, name=name, project=project, labels=_labels(label), description=description)
    if as_json:
        emit_json(model.as_json())
    else:
        console.print(f"uploaded {model.name} ({model.id}): inputs {_shapes(model)}", highlight=False, markup=False)


@app.command("list")
def list_models(
    project: Annotated[str | None, typer.Option("--project", help="Only this project's models (id or name).")] = None,
    label: LabelOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """List models, of a project or carrying every label given."""
    with connect(url, token) as client:
        models = client.models(project=project, labels=_labels(label))
    if as_json:
        emit_json([m.as_json() for m in models])
        return
    table = Table("id", "name", "project", "labels", "inputs")
    for m in models:
        table.add_row(*plain(m.id, m.name, m.project_id or "-", ", ".join(m.labels), _shapes(m)))
    console.print(table)


@app.command()
def show(
    model_id: Annotated[str, typer.Argument(help="Model id.")],
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show a model with its inputs, outputs and variants."""
    with connect(url, token) as client:
        model = client.model(model_id)
        variants = model.variants()
    if as_json:
        emit_json({**model.as_json(), "variants": [v.as_json() for v in variants]})
        return
    console.print(
        f"model {model.name} ({model.id}) in {model.project_id or 'no project'}, labels: {', '.join(model.labels) or '-'}",
        highlight=False,
        markup=False,
    )
    console.print(f"inputs {_shapes(model)}", highlight=False, markup=False)
    table = Table("variant id", "kind", "file", "bytes", "created")
    for v in variants:
        table.add_row(*plain(v.id, v.kind, v.artifact_name, f"{v.size_bytes:,}", f"{v.created_at:%Y-%m-%d %H:%M}"))
    console.print(table)


@app.command()
def samples(
    model_id: Annotated[str, typer.Argument(help="Model id.")],
    path: Annotated[
        str | None, typer.Argument(help="An .npz of arrays named by input, the first axis indexing samples.")
    ] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Forget the model's sample inputs.")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Give a model sample inputs, on which its workflows measure each engine's agreement (else on generated inputs)."""
    if (path is not None) == remove:
        fail("give either the sample inputs' PATH or --remove")
    if path is not None and not os.path.isfile(path):
        fail(f"{path}: no such file")
    with connect(url, token) as client:
        model = client.model(model_id).set_sample_inputs(path)
    if as_json:
        emit_json(model.as_json())
    elif model.sample_inputs_count is None:
        console.print(f"{model.name} ({model.id}) has no sample inputs now", highlight=False, markup=False)
    else:
        count = model.sample_inputs_count
        console.print(
            f"{model.name} ({model.id}): agreement is measured on {count} sample{'s' if count != 1 else ''}",
            highlight=False,
            markup=False,
        )


@app.command()
def move(
    model_id: Annotated[str, typer.Argument(help="Model id.")],
    project: Annotated[str | None, typer.Argument(help="Project id or name to move into.")] = None,
    detach: Annotated[bool, typer.Option("--detach", help="Take the model out of its project.")] = False,
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move a model into a project, or detach it with --detach."""
    if (project is not None) == detach:
        fail("give either a PROJECT to move into or --detach")
    with connect(url, token) as client:
        model = client.model(model_id).move(project)
    if as_json:
        emit_json(model.as_json())
    else:
        console.print(
            f"{model.name} ({model.id}) is now in {model.project_id or 'no project'}", highlight=False, markup=False
        )


@app.command()
def download(
    variant_id: Annotated[str, typer.Argument(help="Variant id (see `farm model show`).")],
    out: Annotated[str, typer.Option("--out", help="File, or folder to save it in under its own name.")] = ".",
    url: UrlOption = None,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Download a variant: the original ONNX file, or a tuned variant's folder as .tar.gz."""
    with connect(url, token) as client:
        variant = client.variant(variant_id)
        path = variant.download(out)
    if as_json:
        emit_json({**variant.as_json(), "path": os.path.abspath(path)})
    else:
        console.print(f"{variant.kind} variant of model {variant.model_id} → {path}", highlight=False, markup=False)
