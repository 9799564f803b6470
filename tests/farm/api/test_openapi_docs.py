"""`/docs` explains the API: every route and every field of every schema the farm defines has a description."""

from __future__ import annotations

from farm.api.app import create_app
from farm.registry import Registry

FASTAPIS_OWN = {"HTTPValidationError", "ValidationError"}  # FastAPI's validation-error schemas, not the farm's


def test_every_route_and_schema_field_is_described(tmp_path):
    spec = create_app(Registry(f"sqlite:///{tmp_path}/registry.db", str(tmp_path / "artifacts"))).openapi()
    routes = [(method.upper(), path) for path, ops in spec["paths"].items() for method, op in ops.items()]
    assert len(routes) > 30
    undescribed = [(m, p) for p, ops in spec["paths"].items() for m, op in ops.items() if not op.get("description")]
    assert undescribed == [], "routes without a docstring"
    fields = [
        f"{name}.{field}"
        for name, schema in spec["components"]["schemas"].items()
        if name not in FASTAPIS_OWN
        for field, prop in schema.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert fields == [], "schema fields without a description"
