"""What a password change, a stolen refresh token and a bad JWT do to API credentials."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from accounts.models import PersonalToken, User

pytestmark = pytest.mark.django_db

API = "/api/v1"
PASSWORD = "correct horse battery"


def sign_in(client: Client, user: User, password: str = PASSWORD) -> dict[str, str]:
    response = client.post(
        f"{API}/auth/token", {"email": user.email, "password": password}, content_type="application/json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def refresh(client: Client, token: str) -> Any:
    return client.post(f"{API}/auth/token/refresh", {"refresh": token}, content_type="application/json")


def me(client: Client, bearer: str) -> int:
    return client.get(f"{API}/auth/me", headers={"Authorization": f"Bearer {bearer}"}).status_code


def change_password(user: User, password: str = "a brand new passphrase 7") -> None:
    user.set_password(password)
    user.save()


def test_a_password_change_revokes_personal_tokens_even_cached_ones(client: Client, owner: User) -> None:
    token, raw = PersonalToken.issue(owner, "nightly")
    assert me(client, raw) == 200 and me(client, raw) == 200  # now in the principal cache
    change_password(User.objects.get(pk=owner.pk))
    assert me(client, raw) == 401
    token.refresh_from_db()
    assert token.revoked_at is not None
    # A token made after the change works.
    _new, fresh = PersonalToken.issue(owner, "after")
    assert me(client, fresh) == 200


def test_a_hash_upgrade_at_sign_in_is_not_a_password_change(client: Client, owner: User, settings) -> None:
    _token, raw = PersonalToken.issue(owner, "nightly")
    # A hasher added in front: the next sign-in rehashes the stored password.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    before = User.objects.get(pk=owner.pk).password
    sign_in(client, owner)
    assert User.objects.get(pk=owner.pk).password != before  # rehashed
    assert me(client, raw) == 200


def test_an_old_refresh_token_stops_rotating_after_a_password_change(client: Client, owner: User) -> None:
    old = sign_in(client, owner)
    change_password(User.objects.get(pk=owner.pk))
    refused = refresh(client, old["refresh"])
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "not_authenticated"
    assert me(client, old["access"]) == 401
    new = sign_in(client, owner, "a brand new passphrase 7")
    assert refresh(client, new["refresh"]).status_code == 200


def test_reusing_a_refresh_token_revokes_the_one_it_was_rotated_into(client: Client, owner: User) -> None:
    stolen = sign_in(client, owner)["refresh"]
    elsewhere = sign_in(client, owner)  # another sign-in: another family
    rotated = refresh(client, stolen)
    assert rotated.status_code == 200
    descendant = rotated.json()["refresh"]
    grandchild = refresh(client, descendant).json()
    assert me(client, grandchild["access"]) == 200  # now in the principal cache

    reused = refresh(client, stolen)
    assert reused.status_code == 401
    assert "already used" in reused.json()["error"]["message"]
    assert refresh(client, grandchild["refresh"]).status_code == 401  # the whole line is revoked
    assert me(client, grandchild["access"]) == 401  # and its access tokens with it
    assert me(client, elsewhere["access"]) == 200  # other sign-ins are not
    assert refresh(client, elsewhere["refresh"]).status_code == 200


def test_a_forged_reuse_revokes_nothing(client: Client, owner: User) -> None:
    """Only a token we signed can name a family to revoke."""
    tokens = sign_in(client, owner)
    rotated = refresh(client, tokens["refresh"]).json()["refresh"]
    header, payload, _signature = tokens["refresh"].split(".")
    assert refresh(client, f"{header}.{payload}.AAAA").status_code == 401
    assert refresh(client, rotated).status_code == 200


def test_jwt_errors_carry_a_plain_message_not_a_printed_dict(client: Client) -> None:
    response = client.get(f"{API}/auth/me", headers={"Authorization": "Bearer not.a.jwt"})
    error = response.json()["error"]
    assert response.status_code == 401 and error["code"] == "not_authenticated"
    assert "{" not in error["message"] and "detail" not in error["message"]
    assert error["message"] == "Given token not valid for any token type"
    assert error["details"]["token"] and all(isinstance(reason, str) for reason in error["details"]["token"])
    pt = client.get(
        f"{API}/auth/me", headers={"Authorization": "Bearer not.a.jwt"}, HTTP_ACCEPT_LANGUAGE="pt-BR"
    )
    assert "{" not in pt.json()["error"]["message"]
