"""With the cache's Redis not answering, the site and the API degrade: reads and
request limits go on from the database, sign-in answers a clear, translated 503."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.test import Client

from accounts.models import PersonalToken
from promptlab.cache import CacheUnavailable

from .conftest import _free_port

pytestmark = pytest.mark.django_db


@pytest.fixture
def redis_down(settings) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """The cache on a Redis port where nothing listens."""
    settings.CACHES = {
        "default": {
            "BACKEND": "promptlab.cache.RedisCache",
            "LOCATION": f"redis://127.0.0.1:{_free_port()}/0",
            "KEY_PREFIX": "promptlab",
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }
    settings.RATELIMIT_ENABLE = True
    yield


def test_the_redis_cache_raises_one_error_when_redis_does_not_answer(redis_down) -> None:
    with pytest.raises(CacheUnavailable):
        cache.get("anything")


def test_api_requests_go_on_without_the_cache(redis_down, owner) -> None:
    _token, raw = PersonalToken.issue(owner, "script")
    client = Client(headers={"Authorization": f"Bearer {raw}"})
    response = client.get("/api/v1/auth/me")
    assert response.status_code == 200, response.content
    assert response.json()["email"] == owner.email
    assert client.get("/api/v1/jobs").status_code == 200


def test_sign_in_without_the_cache_is_a_translated_503_not_a_500(redis_down, owner) -> None:
    client = Client(headers={"Accept-Language": "pt-br"})
    response = client.post("/accounts/login/", {"username": owner.email, "password": "correct horse battery"})
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "indisponível por um instante" in response.content.decode()


def test_api_token_request_without_the_cache_is_a_503_in_the_error_envelope(redis_down, owner) -> None:
    response = Client().post(
        "/api/v1/auth/token",
        {"email": owner.email, "password": "correct horse battery"},
        content_type="application/json",
    )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "service_unavailable"
