"""Token authentication and roles: `Authorization: Bearer <token>` identifies the user; admin, optimizer or read-only.

Authentication reads in a read-only transaction of its own, so it never waits for a writer
and a route's own transaction never waits on it; the token's last use is recorded in a
short write transaction at most once a minute. A missing, unknown or revoked token, or a
deactivated user, is a 401 with a message saying which; a role that does not allow the
route is a 403.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from farm.api.deps import RegistryDep
from farm.registry.accounts import identify, record_use, use_is_due
from farm.registry.database import Registry
from farm.registry.errors import PermissionDenied
from farm.registry.schema import User

bearer = HTTPBearer(auto_error=False, description="An API token from `farm admin create-user` or `farm token create`.")
CHALLENGE = {"WWW-Authenticate": "Bearer"}
MISSING_TOKEN = "missing API token: send `Authorization: Bearer <token>` (set FARM_API_TOKEN for the CLI and SDK)"


def authenticate_request(registry: Registry, token: str) -> User:
    """The active user of a request's token (`PermissionDenied` otherwise): read without waiting for writers."""
    with registry.session(read_only=True) as s:
        user, record = identify(s, token)
    if use_is_due(record):
        with registry.session() as s:
            record_use(s, record.id)
    return user


def current_user(
    registry: RegistryDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    """The active user whose token the request carries."""
    if credentials is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, MISSING_TOKEN, headers=CHALLENGE)
    try:
        return authenticate_request(registry, credentials.credentials)
    except PermissionDenied as e:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, e.message, headers=CHALLENGE) from None


CurrentUser = Annotated[User, Depends(current_user)]


def require_optimizer(user: CurrentUser) -> User:
    """An admin or a user who may optimize: the role that changes the catalog and spends cluster time."""
    if not (user.is_admin or user.can_optimize):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, f"{user.email} is read-only: this needs the can-optimize role (ask an admin)"
        )
    return user


def require_admin(user: CurrentUser) -> User:
    """An admin: the role that manages users."""
    if not user.is_admin:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"{user.email} is not an admin: this needs the admin role (managing users, setting device prices)",
        )
    return user


Optimizer = Annotated[User, Depends(require_optimizer)]
Admin = Annotated[User, Depends(require_admin)]
