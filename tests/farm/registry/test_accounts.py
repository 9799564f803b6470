"""Users, roles and tokens: validation, the token shown once and stored hashed, and authentication's distinct refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from farm.registry.accounts import (
    authenticate,
    create_token,
    create_user,
    get_user,
    hash_token,
    list_tokens,
    list_users,
    revoke_token,
    update_user,
    user_count,
)
from farm.registry.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from farm.registry.schema import ApiToken, utcnow


def test_users_get_roles_and_emails_are_checked_and_unique(registry):
    with registry.session() as s:
        assert user_count(s) == 0
        admin = create_user(s, " Admin@Example.com ", admin=True)
        reader = create_user(s, "reader@example.com", read_only=True)
        optimizer = create_user(s, "opt@example.com")
        assert (admin.email, admin.is_admin, admin.is_active) == ("admin@example.com", True, True)
        assert (reader.is_admin, reader.can_optimize) == (False, False)
        assert (optimizer.is_admin, optimizer.can_optimize) == (False, True)
        assert [u.email for u in list_users(s)] == ["admin@example.com", "reader@example.com", "opt@example.com"]
        assert user_count(s) == 3
        with pytest.raises(Conflict, match="admin@example.com already exists"):
            create_user(s, "ADMIN@example.com")
        for bad in ["", "no-at-sign", "a@b", "two words@example.com"]:
            with pytest.raises(InvalidInput, match="is not an email address"):
                create_user(s, bad)
        with pytest.raises(InvalidInput, match="both an admin and read-only"):
            create_user(s, "x@example.com", admin=True, read_only=True)
        with pytest.raises(NotFound, match="user nope not found"):
            get_user(s, "nope")


def test_update_user_changes_only_what_is_given_and_keeps_an_admin(registry):
    with registry.session() as s:
        admin = create_user(s, "admin@example.com", admin=True)
        user = create_user(s, "user@example.com")
        update_user(s, user.id, can_optimize=False, webhook_url="https://hooks.example.com/farm")
        assert (user.can_optimize, user.is_admin, user.webhook_url) == (False, False, "https://hooks.example.com/farm")
        update_user(s, user.id, webhook_url="")
        assert user.webhook_url is None
        with pytest.raises(InvalidInput, match="http:// or https://"):
            update_user(s, user.id, webhook_url="ftp://example.com")
        with pytest.raises(Conflict, match="last active admin"):
            update_user(s, admin.id, is_active=False)
        with pytest.raises(Conflict, match="last active admin"):
            update_user(s, admin.id, is_admin=False)
        update_user(s, user.id, is_admin=True)
        update_user(s, admin.id, is_active=False)
        assert not admin.is_active


def test_the_token_is_returned_once_and_only_its_hash_is_stored(registry, user_id):
    with registry.session() as s:
        record, token = create_token(s, user_id, "laptop")
        assert token.startswith("farm_") and len(token) > 40
        assert (record.prefix, record.name, record.token_hash) == (token[:8], "laptop", hash_token(token))
    with registry.engine.connect() as c:
        stored = c.execute(select(ApiToken.__table__)).mappings().one()
    assert token not in [str(v) for v in stored.values()]
    with registry.session() as s:
        assert authenticate(s, token).id == user_id
        assert [t.id for t in list_tokens(s, user_id)] == [record.id]
        assert list_tokens(s, user_id)[0].last_used_at is not None


def test_unknown_revoked_and_deactivated_are_refused_with_distinct_messages(registry, user_id):
    with registry.session() as s:
        create_user(s, "admin@example.com", admin=True)
        revoked, revoked_token = create_token(s, user_id, "old")
        _, live_token = create_token(s, user_id)
        assert revoke_token(s, revoked.id).revoked_at is not None
        first_revocation = revoked.revoked_at
        assert revoke_token(s, revoked.id).revoked_at == first_revocation
    with registry.session() as s:
        with pytest.raises(PermissionDenied, match="unknown API token"):
            authenticate(s, "farm_not-a-real-token")
        with pytest.raises(PermissionDenied, match="unknown API token"):
            authenticate(s, "")
        with pytest.raises(PermissionDenied, match=r"API token farm_...… \('old'\) was revoked"):
            authenticate(s, revoked_token)
        assert authenticate(s, live_token).id == user_id
        update_user(s, user_id, is_active=False)
        with pytest.raises(PermissionDenied, match="owner@example.com is deactivated"):
            authenticate(s, live_token)
        with pytest.raises(NotFound):
            revoke_token(s, "missing")


def test_a_token_expires_and_its_last_use_is_written_at_most_once_a_minute(registry, user_id):
    """Issue 12 items 3 and 9: tokens can expire; authentication does not write on every request."""
    with registry.session() as s:
        record, token = create_token(s, user_id, "ci", expires_in=timedelta(days=30))
        assert timedelta(days=29) < record.expires_at - utcnow() <= timedelta(days=30)
        for bad in (timedelta(0), timedelta(days=-1), timedelta(days=4000)):
            with pytest.raises(InvalidInput, match="lifetime"):
                create_token(s, user_id, "bad", expires_in=bad)
    with registry.session() as s:
        authenticate(s, token)
        first_use = get_token(s, record.id).last_used_at
        authenticate(s, token)
        assert get_token(s, record.id).last_used_at == first_use, "a second use within the minute writes nothing"
        get_token(s, record.id).last_used_at = first_use - timedelta(minutes=2)
        authenticate(s, token)
        assert get_token(s, record.id).last_used_at > first_use
        get_token(s, record.id).expires_at = utcnow() - timedelta(seconds=1)  # thirty days later
        with pytest.raises(PermissionDenied, match=r"API token farm_...… \('ci'\) expired at"):
            authenticate(s, token)


def get_token(s, token_id: str) -> ApiToken:
    return s.get(ApiToken, token_id)
