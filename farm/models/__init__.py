"""Models: ONNX import and the example models the farm generates."""
