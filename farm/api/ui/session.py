"""The dashboard's sign-in: an API token exchanged for an HttpOnly, SameSite=Strict cookie, and CSRF tokens for its forms.

The cookie holds the API token itself, so a revoked or expired token, or a deactivated
user, ends the dashboard session at the next request exactly as it ends API access (one
check: `farm.api.auth.authenticate_request`), and a server restart signs nobody out.
Scripts on the page cannot read it (HttpOnly) and no other site's page sends it
(SameSite=Strict). Every form that changes state carries a CSRF token derived from the
cookie's token by HMAC: a page of another origin can neither read the cookie nor compute
the token, and the server refuses a form without it.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse

from farm.api.auth import authenticate_request
from farm.registry.errors import PermissionDenied
from farm.registry.schema import User

COOKIE = "farm_session"
LOGIN_PATH = "/ui/login"
SESSION_DAYS = 30


class LoginRequired(Exception):
    """The request has no valid session: the page answers with a redirect to the login page."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


def csrf_token(token: str) -> str:
    """The CSRF token of a session whose cookie holds `token`."""
    return hmac.new(token.encode(), b"farm-dashboard-csrf", hashlib.sha256).hexdigest()


def check_csrf(request: Request, submitted: str | None) -> None:
    """Refuse a form whose CSRF token is not the session's (`PermissionDenied`, a 403)."""
    token = request.cookies.get(COOKIE) or ""
    if not token or not submitted or not hmac.compare_digest(csrf_token(token), submitted):
        raise PermissionDenied("this form's CSRF token is missing or wrong: reload the page and try again")


def page_user(request: Request) -> User:
    """The signed-in user of a dashboard request; `LoginRequired` when there is none (or the token no longer works)."""
    token = request.cookies.get(COOKIE)
    if not token:
        raise LoginRequired()
    try:
        return authenticate_request(request.app.state.registry, token)
    except PermissionDenied as e:
        raise LoginRequired(e.message) from None


def signed_in(request: Request, token: str, to: str = "/ui/workflows") -> RedirectResponse:
    """Check `token` and answer with the session cookie and a redirect to `to` (`PermissionDenied` for a bad token)."""
    authenticate_request(request.app.state.registry, token)
    response = RedirectResponse(to, status_code=303)
    response.set_cookie(
        COOKIE,
        token,
        max_age=SESSION_DAYS * 86400,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


def signed_out() -> RedirectResponse:
    """A redirect to the login page that drops the session cookie."""
    response = RedirectResponse(LOGIN_PATH, status_code=303)
    response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict")
    return response


def login_redirect(request: Request, exc: LoginRequired) -> RedirectResponse:
    """Where a page without a session sends the browser: the login page, with the reason and the page to come back to."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    query = f"?next={quote(target, safe='')}" + (f"&reason={quote(exc.reason, safe='')}" if exc.reason else "")
    return RedirectResponse(LOGIN_PATH + query, status_code=303)
