"""A workflow's stages, in order: one constant for the registry, the engine, the SDK and the CLI.

`autotune` tunes a variant per device kind and cannot be turned off (the other stages
work on its variants); `benchmark` times each variant against ONNX Runtime on a node of
its kind; `package` ranks them and builds the packages.
"""

STAGES = ("autotune", "benchmark", "package")
DEFAULT_STAGES = ("autotune", "benchmark")
REQUIRED_STAGES = ("autotune",)
