"""The two bases of every JSON document the farm exchanges: `Schema` (a body) and `Record` (a body read from an ORM record).

They live apart from the documents themselves (`farm.schemas`, `farm.workflow_options`) so
that each of those can build on them without importing the other.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Schema(BaseModel):
    """A JSON document of the API; the docstring under each field is its description in the OpenAPI schema (`/docs`)."""

    model_config = ConfigDict(use_attribute_docstrings=True)


class Record(Schema):
    """A response built from an ORM record's attributes."""

    model_config = ConfigDict(from_attributes=True, use_attribute_docstrings=True)
