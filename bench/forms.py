"""Generated forms: build-and-render time of a 40-parameter schema (cold, and cached
per version content and language), and requests/s of every demo form page against a
hello-world Django view served the same way (uvicorn x2 + the dispatcher, as `make run`)
in the same run.

Usage: python bench/forms.py   (uses DATABASE_URL / REDIS_URL when set)
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret")
os.environ["RATELIMIT_ENABLE"] = "0"

from bench.common import PYTHON, ROOT, env, web_server  # noqa: E402


def forty_parameters() -> list[dict]:
    """Every type, with constraints, groups and bilingual labels: 40 parameters."""
    kinds = [
        {"type": "string", "max_length": 80, "pattern": "[A-Za-z ]+", "pattern_message": "Letters only"},
        {"type": "text", "min_length": 3, "max_length": 2000},
        {"type": "integer", "min": 0, "max": 100, "step": 5, "default": 10},
        {"type": "number", "min": 0, "max": 1, "step": 0.1, "default": 0.5},
        {"type": "boolean", "default": True},
        {"type": "choice", "choices": [{"value": v, "label": {"en": v, "pt": v.upper()}} for v in "abc"]},
        {"type": "choice", "choices": [f"option {i}" for i in range(12)]},
        {"type": "multichoice", "choices": ["x", "y", "z"], "min_items": 1},
        {"type": "email", "required": False},
        {"type": "url", "required": False},
        {"type": "date", "min": "2020-01-01", "max": "2030-12-31"},
        {"type": "json", "schema": {"type": "array"}, "required": False},
        {"type": "file", "extensions": [".txt"], "required": False},
    ]  # fmt: skip
    parameters = []
    for index in range(40):
        parameter = {
            "name": f"p{index}",
            **kinds[index % len(kinds)],
            "label": {"en": f"Parameter {index}", "pt": f"Parâmetro {index}"},
            "help": {"en": "Some help.", "pt": "Alguma ajuda."},
        }
        if index % 4 == 0:
            parameter["group"] = {"en": f"Group {index // 8}", "pt": f"Grupo {index // 8}"}
        parameters.append(parameter)
    return parameters


def time_forms() -> list[tuple[str, float]]:
    import django

    django.setup()
    from django.template.loader import render_to_string
    from django.utils import translation

    from templates_app.forms import _empty_form_html, _form_class
    from templates_app.models import parsed_schema
    from templates_app.schema import ParameterSchema

    parameters = forty_parameters()
    ParameterSchema.parse(parameters)  # import and template-loader warm-up, not counted
    import json

    key = json.dumps(parameters, sort_keys=True)
    rows = []
    for language in ("en", "pt-br"):
        with translation.override(language):
            cold = []
            for _ in range(30):
                start = time.perf_counter()
                form = ParameterSchema.parse(parameters).form_class(language)()
                render_to_string("includes/parameter_fields.html", {"form": form})
                cold.append(time.perf_counter() - start)
            _empty_form_html(key, language)
            cached = []
            for _ in range(2000):
                start = time.perf_counter()
                _empty_form_html(key, language)
                cached.append(time.perf_counter() - start)
            rows.append((f"40 parameters, build + render, cold ({language})", statistics.median(cold) * 1000))
            form_class = _form_class(key, language)
            failed = []
            for _ in range(30):
                start = time.perf_counter()
                form = form_class({})
                form.is_valid()
                render_to_string("includes/parameter_fields.html", {"form": form})
                failed.append(time.perf_counter() - start)
            rows.append(
                (f"40 parameters, a failed submit re-rendered ({language})", statistics.median(failed) * 1000)
            )
            rows.append(
                (
                    f"40 parameters, cached per version and language ({language})",
                    statistics.median(cached) * 1000,
                )
            )
    _form_class.cache_clear()
    parsed_schema.cache_clear()
    return rows


def main() -> None:
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env(), check=True)
    subprocess.run([PYTHON, "manage.py", "createcachetable"], cwd=ROOT, env=env(), check=True)
    subprocess.run([PYTHON, "manage.py", "seed_demo"], cwd=ROOT, env=env(), check=True, capture_output=True)
    for name, ms in time_forms():
        print(f"{name:62} {ms:10.1f} ms" if ms >= 1 else f"{name:62} {ms * 1000:10.1f} µs")
    from templates_app.demo import demo_templates

    seconds = int(os.environ.get("BENCH_SECONDS", "5"))
    rounds = int(os.environ.get("BENCH_ROUNDS", "3"))
    # BENCH_MODES=anonymous,signed_in (the default: both). A signed-in visitor's page
    # also reads the session and the user, and shows what is theirs: measured apart.
    modes = os.environ.get("BENCH_MODES", "anonymous,signed_in").split(",")
    pages = [f"/t/{demo.slug}/" for demo in demo_templates()]
    cookies = {"anonymous": None, "signed_in": f"sessionid={signed_in_session()}"}
    with web_server("promptlab") as url:
        for mode in modes:
            cookie = cookies[mode]
            for path in ["/bench/hello/", *pages]:
                # warm-up: every worker builds and caches each page's form
                run_wrk(f"{url}{path}", 1, cookie=cookie if path != "/bench/hello/" else None)
            # The machine is shared and noisy: each page is measured right after the
            # baseline, in several rounds, and the median of the paired ratios is reported.
            results: dict[str, list[tuple[float, float]]] = {path: [] for path in pages}
            for _round in range(rounds):
                for path in pages:
                    hello = run_wrk(f"{url}/bench/hello/", seconds)
                    page = run_wrk(f"{url}{path}", seconds, cookie=cookie)
                    results[path].append((hello, page))
            title = f"form page ({mode.replace('_', '-')} GET)"
            print(f"{title:40} {'hello req/s':>12} {'page req/s':>11} {'x hello':>8}")
            for path, pairs in results.items():
                hello = statistics.median(h for h, _p in pairs)
                page = statistics.median(p for _h, p in pairs)
                ratio = statistics.median(p / h for h, p in pairs)
                print(f"{path:40} {hello:12.0f} {page:11.0f} {ratio:8.2f}")


def signed_in_session() -> str:
    """A session key of a signed-in benchmark user (made here, as the login view would)."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    from accounts.models import User

    SessionStore = import_module(settings.SESSION_ENGINE).SessionStore  # noqa: N806

    user = User.objects.filter(email="bench@example.com").first() or User.objects.create_user(
        "bench@example.com", "benchmark passphrase 42"
    )
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


def run_wrk(url: str, seconds: int, *, cookie: str | None = None) -> float:
    """Requests/s (wrk -t2 -c32, no warm-up); non-2xx responses are an error."""
    headers = ["-H", f"Cookie: {cookie}"] if cookie else []
    out = subprocess.run(
        ["wrk", "-t2", "-c32", f"-d{seconds}s", *headers, url], capture_output=True, text=True, check=True
    ).stdout
    if "Non-2xx" in out:
        raise SystemExit(f"{url} answered errors:\n{out}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


if __name__ == "__main__":
    main()
