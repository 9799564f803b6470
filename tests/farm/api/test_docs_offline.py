"""/docs and /redoc work offline: every script, style and icon they load comes from the farm's own server."""

from __future__ import annotations

import re

import httpx
import pytest


@pytest.mark.parametrize(("page", "script"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")])
def test_the_docs_pages_load_their_assets_from_this_server(server, page, script):
    html = httpx.get(server.url + page).text
    urls = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html) + re.findall(r"url: *['\"]([^'\"]+)['\"]", html)
    assert urls and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
    assert not re.search(r"https?://", html), "no address outside this server"
    for url in urls:
        asset = httpx.get(server.url + url)
        assert asset.status_code == 200 and len(asset.content) > 0, url
    assert any(u.endswith(script) for u in urls)
    assert "/docs" not in httpx.get(server.url + "/openapi.json").json()["paths"]
