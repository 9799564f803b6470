"""Users and API tokens: admins manage users; every user manages their own tokens.

A user may create, list and revoke their own tokens whatever their role (a token grants
no more than its user's role, and a leaked one must be revocable by its owner); an admin
may do so for anyone. Another user's token is reported as not found.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status

from farm.api.auth import Admin, CurrentUser
from farm.api.deps import SessionDep, WebhookPolicyDep
from farm.api.schemas import MeOut, TokenCreate, TokenCreated, TokenOut, UserCreate, UserOut, UserUpdate
from farm.registry import accounts
from farm.registry.errors import NotFound
from farm.registry.schema import ApiToken, User
from farm.workflows.notify import check_webhook_destination

router = APIRouter(tags=["users"])


@router.post("/users", status_code=status.HTTP_201_CREATED, response_model=UserOut)
def create_user(body: UserCreate, _: Admin, s: SessionDep) -> User:
    """Create a user with the roles given. Admins only."""
    return accounts.create_user(
        s, body.email, admin=body.admin, can_optimize=body.can_optimize, read_only=body.read_only
    )


@router.get("/users", response_model=list[UserOut])
def list_users(_: Admin, s: SessionDep) -> list[User]:
    """Every user. Admins only."""
    return accounts.list_users(s)


@router.get("/users/me", response_model=MeOut)
def me(user: CurrentUser) -> User:
    """The calling user, with the secret that signs their webhooks."""
    return user


@router.patch("/users/{user_id}", response_model=UserOut)
def update_user(user_id: str, body: UserUpdate, _: Admin, s: SessionDep, webhooks: WebhookPolicyDep) -> User:
    """Change a user's roles, active state or webhook URL. Admins only."""
    check_webhook_destination(body.webhook_url, webhooks)
    return accounts.update_user(s, user_id, **body.roles(), is_active=body.is_active, webhook_url=body.webhook_url)


def _check_self_or_admin(user: User, user_id: str) -> None:
    if user.id != user_id and not user.is_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{user.email} may manage only their own tokens")


def _created(record: ApiToken, token: str) -> TokenCreated:
    return TokenCreated(**TokenOut.model_validate(record).model_dump(), token=token)


@router.post("/users/{user_id}/tokens", status_code=status.HTTP_201_CREATED, response_model=TokenCreated)
def create_user_token(user_id: str, body: TokenCreate, user: CurrentUser, s: SessionDep) -> TokenCreated:
    """Create an API token for a user: the token is in this answer only. The user themself or an admin."""
    _check_self_or_admin(user, user_id)
    return _created(*accounts.create_token(s, user_id, body.name, body.expires_in))


@router.get("/users/{user_id}/tokens", response_model=list[TokenOut])
def list_user_tokens(user_id: str, user: CurrentUser, s: SessionDep) -> list[ApiToken]:
    """A user's tokens (never the tokens themselves). The user themself or an admin."""
    _check_self_or_admin(user, user_id)
    return accounts.list_tokens(s, user_id)


@router.post("/tokens", status_code=status.HTTP_201_CREATED, response_model=TokenCreated)
def create_token(body: TokenCreate, user: CurrentUser, s: SessionDep) -> TokenCreated:
    """Create an API token for the calling user: the token is in this answer only."""
    return _created(*accounts.create_token(s, user.id, body.name, body.expires_in))


@router.get("/tokens", response_model=list[TokenOut])
def list_tokens(user: CurrentUser, s: SessionDep) -> list[ApiToken]:
    """The calling user's tokens (never the tokens themselves)."""
    return accounts.list_tokens(s, user.id)


@router.delete("/tokens/{token_id}", response_model=TokenOut)
def revoke_token(token_id: str, user: CurrentUser, s: SessionDep) -> ApiToken:
    """Revoke a token at once. Its owner or an admin."""
    if not user.is_admin and token_id not in {t.id for t in accounts.list_tokens(s, user.id)}:
        raise NotFound(f"API token {token_id} not found")
    return accounts.revoke_token(s, token_id)
