"""Production settings and the edges around them: no debug pages by default, a secret
key without configuration only for the embedded mode, HTTPS settings that can be turned
on (and are, in docker-compose), chunked bodies refused rather than read as empty,
custom CSS without "<", and a PromptLab Markdown export that keeps theme and caching."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from jobs.models import Job
from templates_app.formats.service import export_template, import_template
from templates_app.models import Template, ThemeLogo, Visibility
from templates_app.theme import ThemeError, check_custom_css, parse_theme

from .conftest import wait_until
from .test_themes import GOOD_THEME, tiny_png

BASE_DIR = Path(__file__).resolve().parent.parent
SETTINGS_PROBE = (
    "from django.conf import settings as s; "
    "print(repr((s.DEBUG, s.SECRET_KEY, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
    "s.SECURE_HSTS_SECONDS, s.SECURE_HSTS_INCLUDE_SUBDOMAINS, s.SECURE_SSL_REDIRECT, "
    "s.SECURE_PROXY_SSL_HEADER)))"
)


def read_settings(var_dir: Path, **env: str) -> tuple[Any, ...]:
    """The settings a fresh process reads from exactly this environment."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("SECURE_", "DATABASE_", "REDIS_"))}
    clean.pop("SECRET_KEY", None)
    clean.pop("DEBUG", None)
    clean |= {"DJANGO_SETTINGS_MODULE": "promptlab.settings", "PROMPTLAB_VAR_DIR": str(var_dir), **env}
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {SETTINGS_PROBE}"],
        cwd=BASE_DIR, env=clean, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(result.stderr)
    return eval(result.stdout)  # noqa: S307 - our own repr of plain values


def test_the_embedded_mode_without_secret_key_makes_one_keeps_it_private_and_serves_without_debug(
    tmp_path: Path,
) -> None:
    first = read_settings(tmp_path)
    again = read_settings(tmp_path)
    debug, key = first[0], first[1]
    assert debug is False
    assert len(key) >= 50 and key == again[1]
    key_file = tmp_path / "secret_key"
    assert key_file.read_text().strip() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert read_settings(tmp_path / "elsewhere")[1] != key  # made per install, never a fixed one


def test_a_shared_server_without_secret_key_refuses_to_start(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="Set SECRET_KEY"):
        read_settings(tmp_path, DATABASE_URL="postgres://promptlab@127.0.0.1:5432/promptlab")
    assert not (tmp_path / "secret_key").exists()


def test_https_settings_are_off_by_default_and_set_from_the_environment(tmp_path: Path) -> None:
    assert read_settings(tmp_path)[2:] == (False, False, 0, False, False, None)
    env = {
        "SECURE_COOKIES": "1",
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
        "SECURE_SSL_REDIRECT": "1",
        "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    }
    assert read_settings(tmp_path, **env)[2:] == (
        True, True, 31536000, True, True, ("HTTP_X_FORWARDED_PROTO", "https"),
    )  # fmt: skip


def test_docker_compose_turns_the_https_settings_on() -> None:
    compose = yaml.safe_load((BASE_DIR / "docker-compose.yml").read_text())
    env = compose["x-app"]["environment"]
    assert env["SECURE_COOKIES"].endswith(":-1}")
    assert env["SECURE_HSTS_SECONDS"].endswith(":-31536000}")
    assert env["SECURE_PROXY_SSL_HEADER"].endswith(":-X-Forwarded-Proto}")


def test_hsts_is_sent_on_https_requests_behind_the_configured_proxy(client, settings) -> None:
    settings.SECURE_HSTS_SECONDS = 600
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert "Strict-Transport-Security" not in client.get("/health/")
    response = client.get("/health/", headers={"X-Forwarded-Proto": "https"})
    assert response["Strict-Transport-Security"] == "max-age=600"


def _make_dry_run(target: str) -> str:
    env = {k: v for k, v in os.environ.items() if k != "DEBUG"}
    result = subprocess.run(
        ["make", "-n", target], cwd=BASE_DIR, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return next(line for line in result.stdout.splitlines() if "honcho" in line or "HOST=" in line)


def test_make_run_serves_without_debug_and_make_dev_with_it() -> None:
    assert "DEBUG=0 " in _make_dry_run("run")
    assert "DEBUG=1 " in _make_dry_run("dev")


# --- Chunked bodies -------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_chunked_body_without_content_length_is_refused_with_411_not_read_as_empty(
    live_server_url: str, worker: Any
) -> None:
    user = User.objects.create_user("chunked@example.com", "a long passphrase 42")
    template = Template.objects.create(
        slug="chunked", name="Chunked", owner=user, visibility=Visibility.PUBLIC
    )
    template.create_version(
        body="Say {{ word }}.",
        parameters=[{"name": "word", "type": "string", "default": "default-word", "required": False}],
    )

    def chunks(body: bytes) -> Any:
        yield body[:5]
        yield body[5:]

    api = httpx.post(
        f"{live_server_url}/api/v1/templates/chunked/generate",
        content=chunks(b'{"inputs": {"word": "chosen"}}'),
        headers={
            "Authorization": f"Bearer {AccessToken.for_user(user)}",
            "Content-Type": "application/json",
            "Accept-Language": "pt-br",
        },
        timeout=10,
    )
    assert api.request.headers.get("Transfer-Encoding") == "chunked"
    assert api.status_code == 411, api.text
    assert api.json()["error"]["code"] == "validation_error"
    assert (
        "Content-Length" in api.json()["error"]["message"] and "recusados" in api.json()["error"]["message"]
    )
    site = httpx.post(
        f"{live_server_url}/t/chunked/",
        content=chunks(b"word=chosen"),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert site.status_code == 411 and "Content-Length" in site.text
    assert not Job.objects.exists()
    # The same request with its length is read as sent.
    sized = httpx.post(
        f"{live_server_url}/api/v1/templates/chunked/generate",
        json={"inputs": {"word": "chosen"}},
        headers={"Authorization": f"Bearer {AccessToken.for_user(user)}"},
        timeout=10,
    )
    assert sized.status_code == 202, sized.text
    assert Job.objects.get().inputs == {"word": "chosen"}
    # Ended before the test does: a job still finishing in the worker when the database is
    # emptied for the next test deadlocked with the TRUNCATE (its finish touches several tables).
    wait_until(lambda: Job.objects.get().is_terminal, timeout=60)


# --- Custom CSS -----------------------------------------------------------------------


@pytest.mark.parametrize("css", [".a { color: red; }</style><script>alert(1)</script>", "a < b { }"])
def test_custom_css_with_a_less_than_sign_is_refused(css: str) -> None:
    assert check_custom_css(css) == ["Custom CSS may not contain “<”."]
    with pytest.raises(ThemeError):
        parse_theme({"custom_css": css})


# --- The PromptLab Markdown export ------------------------------------------------------


@pytest.mark.django_db
def test_the_promptlab_export_keeps_theme_and_cache_results_and_says_the_logo_stays_behind(staff) -> None:
    template = Template.objects.create(slug="themed", name="Themed", owner=staff, cache_results=False)
    logo = ThemeLogo.store(tiny_png())
    theme = GOOD_THEME | {"custom_css": ".field { margin: 0; }"}
    version = template.create_version(
        body="Hi", theme=theme | {"logo": logo.digest}, author=staff, logo=tiny_png()
    )
    assert version.theme["logo"] == logo.digest
    exported = export_template(template, "promptlab")
    assert "cache_results: false" in exported.content
    assert [w for w in exported.warnings if "logo" in w], exported.warnings
    assert "# - The theme's logo" in exported.content  # the file says so too
    again, warnings = import_template(exported.content, owner=staff, format_name="promptlab")
    assert again.slug == "themed-2"
    assert again.cache_results is False
    assert again.published_version.theme == parse_theme_dict(theme)


def parse_theme_dict(theme: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in theme.items() if key != "logo"}


@pytest.mark.django_db
def test_importing_custom_css_as_someone_not_staff_drops_it_with_a_warning(owner) -> None:
    text = (
        "---\nslug: css\nname: CSS\ncache_results: true\n"
        "theme: {primary: '#0b5394', custom_css: '.field { margin: 0; }'}\n---\nHi\n"
    )
    template, warnings = import_template(text, owner=owner, format_name="promptlab")
    assert template.published_version.theme == {"primary": "#0b5394"}
    assert any("custom CSS" in warning for warning in warnings)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("front_matter", "problem"),
    [
        ("cache_results: maybe", "cache_results"),
        ("theme: [red]", "theme"),
        ("theme: {primary: red}", "Theme"),
    ],
)
def test_a_bad_theme_or_cache_results_in_an_import_names_it(owner, front_matter, problem) -> None:
    from templates_app.formats import FormatError

    with pytest.raises(FormatError, match=problem):
        import_template(f"---\nslug: bad\n{front_matter}\n---\nHi\n", owner=owner, format_name="promptlab")
    assert not Template.objects.exists()


def test_the_debug_error_page_hides_connection_urls(rf, settings) -> None:
    import secrets

    from django.views.debug import technical_500_response

    settings.DEBUG = True
    # Made here, held only by the settings: the page also shows this test's source and locals.
    settings.DATABASE_URL = f"postgres://promptlab:{secrets.token_hex(8)}@db:5432/promptlab"
    settings.REDIS_URL = f"redis://:{secrets.token_hex(8)}@redis:6379/0"
    settings.CELERY_BROKER_URL = settings.REDIS_URL
    try:
        raise ValueError("boom")
    except ValueError:
        page = technical_500_response(rf.get("/"), *sys.exc_info()).content.decode()
    assert "ValueError" in page
    for url in (settings.DATABASE_URL, settings.REDIS_URL):
        password = url.split("@")[0].rsplit(":", 1)[1]
        assert password not in page
