"""The farm's REST API: a FastAPI app over the registry, with token auth and roles (`create_app`)."""

from farm.api.app import create_app

__all__ = ["create_app"]
