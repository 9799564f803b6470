"""`farm example`: write one of the example ONNX models the farm generates."""

from __future__ import annotations

from typing import Annotated

import typer

from .output import console, fail


def example(
    name: Annotated[str, typer.Argument(help="resnet, mobilenet or transformer.")],
    path: Annotated[str, typer.Argument(help="Where to write the .onnx file.")],
    size: Annotated[
        int, typer.Option("--size", help="Input height and width (CNNs) or sequence length (transformer).")
    ] = 32,
    dynamic_batch: Annotated[bool, typer.Option("--dynamic-batch", help="Make the batch dimension symbolic.")] = False,
) -> None:
    """Write an example model (random weights, realistic structure) to PATH."""
    import onnx

    from ..models.examples import EXAMPLES

    if name not in EXAMPLES:
        fail(f"no example model {name!r} (choose from {', '.join(sorted(EXAMPLES))})")
    if name == "transformer":
        onnx.save(EXAMPLES[name](seq=size, dynamic_batch=dynamic_batch), path)
    else:
        onnx.save(EXAMPLES[name](size=size, dynamic_batch=dynamic_batch), path)
    console.print(f"wrote {name} (size {size}) to {path}")
