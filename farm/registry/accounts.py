"""Users, roles and API tokens: create and update accounts, issue and revoke tokens, authenticate a token.

Roles: an admin may do everything (user management included), a user who `can_optimize`
may change the catalog and spend cluster time, anyone else is read-only. A token is
`farm_` + 43 URL-safe characters; only its SHA-256 is stored, the plaintext is returned
once by `create_token`. The registry refuses to take the admin role from, or deactivate,
the last active admin, so a farm can always be administered.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from farm.registry.errors import Conflict, InvalidInput, PermissionDenied
from farm.registry.queries import fetch
from farm.registry.schema import ApiToken, User, utcnow
from farm.registry.validation import check_webhook_url

TOKEN_PREFIX = "farm_"
MAX_TOKEN_LIFE = timedelta(days=3650)
LAST_USED_EVERY = timedelta(
    minutes=1
)  # how stale a token's `last_used_at` may get: authentication writes at most once a minute per token
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


def hash_token(token: str) -> str:
    """The SHA-256 hex stored for a token."""
    return hashlib.sha256(token.encode()).hexdigest()


def _email(email: str) -> str:
    email = email.strip().lower() if isinstance(email, str) else ""
    if len(email) > 320 or not _EMAIL.fullmatch(email):
        raise InvalidInput(f"{email!r} is not an email address (expected name@domain.tld)")
    return email


def _other_active_admins(s: Session, user_id: str) -> int:
    return (
        s.scalar(select(func.count()).select_from(User).where(User.is_admin, User.is_active, User.id != user_id)) or 0
    )


def create_user(
    s: Session, email: str, *, admin: bool = False, can_optimize: bool = True, read_only: bool = False
) -> User:
    """A new active user; `read_only` means neither admin nor optimizer. A taken email is a `Conflict`."""
    email = _email(email)
    if read_only and admin:
        raise InvalidInput("a user cannot be both an admin and read-only")
    if s.scalar(select(User.id).where(User.email == email)):
        raise Conflict(f"a user with email {email} already exists")
    user = User(email=email, is_admin=admin, can_optimize=can_optimize and not read_only, is_active=True)
    s.add(user)
    s.flush()
    return user


def update_user(
    s: Session,
    user_id: str,
    *,
    is_admin: bool | None = None,
    can_optimize: bool | None = None,
    is_active: bool | None = None,
    webhook_url: str | None = None,
) -> User:
    """Change the fields given (None leaves one as it is; an empty `webhook_url` removes it)."""
    user = fetch(s, User, user_id)
    demoted = (is_admin is False or is_active is False) and user.is_admin and user.is_active
    if demoted and not _other_active_admins(s, user.id):
        raise Conflict(f"{user.email} is the last active admin: make another user admin first")
    if is_admin is not None:
        user.is_admin = is_admin
    if can_optimize is not None:
        user.can_optimize = can_optimize
    if is_active is not None:
        user.is_active = is_active
    if webhook_url is not None:
        user.webhook_url = check_webhook_url(webhook_url)
    s.flush()
    return user


def list_users(s: Session) -> list[User]:
    """Every user, oldest first."""
    return list(s.scalars(select(User).order_by(User.created_at, User.id)))


def get_user(s: Session, user_id: str) -> User:
    """The user with this id, or `NotFound`."""
    return fetch(s, User, user_id)


def user_count(s: Session) -> int:
    """How many users exist (0 on a fresh farm)."""
    return s.scalar(select(func.count()).select_from(User)) or 0


def create_token(
    s: Session, user_id: str, name: str = "default", expires_in: timedelta | None = None
) -> tuple[ApiToken, str]:
    """A new token for the user, valid for `expires_in` (None: until revoked): the record and the plaintext, which is not stored and cannot be shown again."""
    fetch(s, User, user_id)
    name = name.strip() if isinstance(name, str) else ""
    if not 1 <= len(name) <= 128:
        raise InvalidInput("a token name must be 1 to 128 characters")
    if expires_in is not None and not timedelta(0) < expires_in <= MAX_TOKEN_LIFE:
        raise InvalidInput(f"a token's lifetime must be positive and at most {MAX_TOKEN_LIFE.days} days")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = utcnow() + expires_in if expires_in is not None else None
    record = ApiToken(user_id=user_id, name=name, token_hash=hash_token(token), prefix=token[:8], expires_at=expires_at)
    s.add(record)
    s.flush()
    return record, token


def revoke_token(s: Session, token_id: str) -> ApiToken:
    """Revoke a token (revoking it again keeps the first revocation time)."""
    record = fetch(s, ApiToken, token_id)
    if record.revoked_at is None:
        record.revoked_at = utcnow()
        s.flush()
    return record


def list_tokens(s: Session, user_id: str) -> list[ApiToken]:
    """The user's tokens, revoked ones included, oldest first."""
    fetch(s, User, user_id)
    return list(
        s.scalars(select(ApiToken).where(ApiToken.user_id == user_id).order_by(ApiToken.created_at, ApiToken.id))
    )


def identify(s: Session, token: str) -> tuple[User, ApiToken]:
    """The active user a token belongs to, and the token's record; reads only. Unknown, revoked, expired and
    deactivated each say so (`PermissionDenied`)."""
    record = (
        s.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
        if isinstance(token, str) and token
        else None
    )
    if record is None:
        raise PermissionDenied("unknown API token: check FARM_API_TOKEN or create a token with `farm token create`")
    if record.revoked_at is not None:
        raise PermissionDenied(
            f"API token {record.prefix}… ({record.name!r}) was revoked at {record.revoked_at.isoformat()}"
        )
    now = utcnow()
    if record.expires_at is not None and record.expires_at <= now:
        raise PermissionDenied(
            f"API token {record.prefix}… ({record.name!r}) expired at {record.expires_at.isoformat()}: create a new one"
        )
    user = fetch(s, User, record.user_id)
    if not user.is_active:
        raise PermissionDenied(f"user {user.email} is deactivated: ask an admin to reactivate the account")
    return user, record


def use_is_due(record: ApiToken) -> bool:
    """Whether the token's last use should be recorded now: at most once per `LAST_USED_EVERY`, not a write per request."""
    return record.last_used_at is None or utcnow() - record.last_used_at >= LAST_USED_EVERY


def record_use(s: Session, token_id: str) -> None:
    """Record that the token was used now."""
    fetch(s, ApiToken, token_id).last_used_at = utcnow()
    s.flush()


def authenticate(s: Session, token: str) -> User:
    """The active user a token belongs to (`identify`), recording the token's use when it is due."""
    user, record = identify(s, token)
    if use_is_due(record):
        record_use(s, record.id)
    return user
