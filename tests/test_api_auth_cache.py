"""API callers are remembered briefly in the shared cache; a change to their rights is not."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import PersonalToken, User

pytestmark = pytest.mark.django_db

ME = "/api/v1/auth/me"


def bearer(raw: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {raw}"}


@pytest.mark.needs_redis  # counts queries: on the embedded defaults the cache itself is the database
def test_a_known_personal_token_is_answered_without_a_query(client: Client, owner: User) -> None:
    _token, raw = PersonalToken.issue(owner, "script")
    assert client.get(ME, headers=bearer(raw)).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert client.get(ME, headers=bearer(raw)).json()["email"] == owner.email
    assert len(queries) == 0, [q["sql"] for q in queries]


@pytest.mark.needs_redis  # counts queries: on the embedded defaults the cache itself is the database
def test_a_known_jwt_user_is_answered_without_a_query(client: Client, owner: User) -> None:
    access = str(AccessToken.for_user(owner))
    assert client.get(ME, headers=bearer(access)).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert client.get(ME, headers=bearer(access)).status_code == 200
    assert len(queries) == 0, [q["sql"] for q in queries]


@pytest.mark.parametrize("how", ["revoke", "delete", "admin edit"])
def test_a_revoked_token_is_refused_at_once_though_it_was_cached(
    client: Client, owner: User, how: str
) -> None:
    token, raw = PersonalToken.issue(owner, "script")
    assert client.get(ME, headers=bearer(raw)).status_code == 200  # now cached
    if how == "revoke":
        token.revoke()
    elif how == "delete":
        token.delete()
    else:
        token.revoked_at = timezone.now()
        token.save()
    response = client.get(ME, headers=bearer(raw))
    assert response.status_code == 401 and response.json()["error"]["code"] == "not_authenticated"


def test_a_token_revoked_through_the_api_is_refused_on_the_next_request(client: Client, owner: User) -> None:
    token, raw = PersonalToken.issue(owner, "script")
    assert client.get(ME, headers=bearer(raw)).status_code == 200
    assert client.delete(f"/api/v1/auth/tokens/{token.pk}", headers=bearer(raw)).status_code == 204
    assert client.get(ME, headers=bearer(raw)).status_code == 401


def test_a_cached_token_that_expires_is_refused_when_it_expires(client: Client, owner: User) -> None:
    token, raw = PersonalToken.issue(owner, "short", expires_at=timezone.now() + timedelta(hours=1))
    assert client.get(ME, headers=bearer(raw)).status_code == 200
    # Move its expiry into the past behind the cache's back: expiry needs no invalidation.
    PersonalToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    cached = PersonalToken.objects.get(pk=token.pk)
    from accounts import principals

    entry = principals.recall(principals.token_key(cached.key_hash))
    entry.expires_at = cached.expires_at
    from django.core.cache import cache

    cache.set(principals.token_key(cached.key_hash), entry, principals.PRINCIPAL_CACHE_SECONDS)
    assert client.get(ME, headers=bearer(raw)).status_code == 401


@pytest.mark.parametrize("credential", ["token", "jwt"])
def test_a_deactivated_user_is_refused_at_once(client: Client, owner: User, credential: str) -> None:
    raw = (
        PersonalToken.issue(owner, "script")[1] if credential == "token" else str(AccessToken.for_user(owner))
    )
    assert client.get(ME, headers=bearer(raw)).status_code == 200
    owner.is_active = False
    owner.save()
    assert client.get(ME, headers=bearer(raw)).status_code == 401


def test_a_deleted_user_is_refused_at_once(client: Client, owner: User) -> None:
    access = str(AccessToken.for_user(owner))
    assert client.get(ME, headers=bearer(access)).status_code == 200
    owner.delete()
    assert client.get(ME, headers=bearer(access)).status_code == 401


def test_a_password_change_refuses_earlier_access_tokens_at_once(client: Client, owner: User) -> None:
    access = str(AccessToken.for_user(owner))
    assert client.get(ME, headers=bearer(access)).status_code == 200
    owner.set_password("a brand new passphrase")
    owner.save()
    assert client.get(ME, headers=bearer(access)).status_code == 401
    assert client.get(ME, headers=bearer(str(AccessToken.for_user(owner)))).status_code == 200


def test_a_plan_change_is_seen_on_the_next_request(client: Client, owner: User) -> None:
    _token, raw = PersonalToken.issue(owner, "script")
    assert client.get(ME, headers=bearer(raw)).json()["plan"] == "free"
    owner.plan = "enterprise"
    owner.save()
    assert client.get(ME, headers=bearer(raw)).json()["plan"] == "enterprise"


def test_a_stale_read_cannot_put_a_revoked_token_back(owner: User) -> None:
    """A request that read the token just before it was revoked must not cache it afterwards."""
    from accounts import principals

    token, _raw = PersonalToken.issue(owner, "script")
    before = PersonalToken.objects.select_related("user").get(pk=token.pk)  # read, not yet cached
    token.revoke()
    principals.remember(principals.token_key(token.key_hash), before)  # the late write
    assert principals.recall(principals.token_key(token.key_hash)) is None


def test_last_used_is_written_at_most_once_a_minute(client: Client, owner: User) -> None:
    token, raw = PersonalToken.issue(owner, "script")
    client.get(ME, headers=bearer(raw))
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    with CaptureQueriesContext(connection) as queries:
        for _ in range(3):
            client.get(ME, headers=bearer(raw))
    table = PersonalToken._meta.db_table  # not the cache's own table (the embedded defaults' cache)
    assert not [q for q in queries if q["sql"].startswith("UPDATE") and table in q["sql"]]
    token.refresh_from_db()
    assert token.last_used_at == first


def test_recording_a_tokens_use_never_rewrites_its_cache_entry(
    client: Client, owner: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read-then-set of the entry could land after a revocation and overwrite its tombstone."""
    from django.core.cache import cache

    token, raw = PersonalToken.issue(owner, "script")
    assert client.get(ME, headers=bearer(raw)).status_code == 200  # cached, use recorded
    PersonalToken.objects.filter(pk=token.pk).update(last_used_at=timezone.now() - timedelta(hours=1))
    cache.delete(f"auth:token-used:{token.pk}")  # a minute later
    written: list[str] = []
    real_set = cache.set
    monkeypatch.setattr(cache, "set", lambda key, *a, **k: written.append(key) or real_set(key, *a, **k))
    assert client.get(ME, headers=bearer(raw)).status_code == 200
    token.refresh_from_db()
    assert token.last_used_at > timezone.now() - timedelta(minutes=1)  # the use is still recorded
    assert not [key for key in written if key.startswith("auth:token:")]


def test_users_deleted_in_bulk_from_the_admin_lose_api_access_at_once(
    client: Client, owner: User, staff: User
) -> None:
    _token, raw = PersonalToken.issue(owner, "script")
    access = str(AccessToken.for_user(owner))
    assert client.get(ME, headers=bearer(raw)).status_code == 200  # both now cached
    assert client.get(ME, headers=bearer(access)).status_code == 200
    admin = Client()
    admin.force_login(staff)
    response = admin.post(
        "/admin/accounts/user/",
        {"action": "delete_selected", "_selected_action": [owner.pk], "post": "yes"},
    )
    assert response.status_code == 302 and not User.objects.filter(pk=owner.pk).exists()
    assert client.get(ME, headers=bearer(raw)).status_code == 401
    assert client.get(ME, headers=bearer(access)).status_code == 401
