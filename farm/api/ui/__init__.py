"""The web dashboard at `/ui`: server-rendered pages over the registry, for people who would rather look than read JSON.

Jinja2 templates and the static files ship as package data; charts are SVG drawn on the
server (`charts`), live updates a few lines of JavaScript (`static/live.js`); nothing is
loaded from another origin, so the dashboard works offline and from `pip install`. It is
left out of the OpenAPI schema. Sign-in and CSRF: `session`; the pages: `pages`.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, HTTPException, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.staticfiles import StaticFiles

from farm.api.errors import registry_error, status_of
from farm.api.ui.pages import render, router
from farm.api.ui.session import LoginRequired, login_redirect
from farm.registry.errors import RegistryError

PREFIX = "/ui"


def is_page_path(path: str) -> bool:
    """Whether `path` is one of the dashboard's (its pages, forms and static files)."""
    return path == PREFIX or path.startswith(PREFIX + "/")


def install_ui(app: FastAPI) -> None:
    """Serve the dashboard's pages and static files from `app`; errors on its pages are pages too."""
    app.include_router(router)
    app.mount(PREFIX + "/static", StaticFiles(directory=str(files("farm.api.ui") / "static")), name="ui-static")

    async def login_required(request: Request, exc: LoginRequired):
        return login_redirect(request, exc)

    async def registry_failure(request: Request, exc: RegistryError):
        if not is_page_path(request.url.path):
            return await registry_error(request, exc)
        response = render(request, None, "error.html", status=status_of(exc), message=exc.message)
        response.status_code = status_of(exc)
        return response

    async def http_failure(request: Request, exc: HTTPException):
        if not is_page_path(request.url.path) or exc.status_code < 400:
            return await http_exception_handler(request, exc)
        response = render(request, None, "error.html", status=exc.status_code, message=str(exc.detail))
        response.status_code = exc.status_code
        return response

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(RegistryError, registry_failure)
    app.add_exception_handler(HTTPException, http_failure)
