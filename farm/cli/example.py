"""`farm example`: write one of the example ONNX models the farm generates."""

from __future__ import annotations

from typing import Annotated

import typer

from .output import console, fail


def example(
    name: Annotated[str, typer.Argument(help="resnet or mobilenet.")],
    path: Annotated[str, typer.Argument(help="Where to write the .onnx file.")],
    size: Annotated[int, typer.Option("--size", help="Input height and width.")] = 32,
    dynamic_batch: Annotated[bool, typer.Option("--dynamic-batch", help="Make the batch dimension symbolic.")] = False,
) -> None:
    """Write an example model (random weights, realistic structure) to PATH."""
    import onnx

    from ..models.examples import EXAMPLES

    if name not in EXAMPLES:
        fail(f"no example model {name!r} (choose from {', '.join(sorted(EXAMPLES))})")
    onnx.save(EXAMPLES[name](size=size, dynamic_batch=dynamic_batch), path)
    console.print(f"wrote {name} ({size}x{size} input) to {path}")
