"""Rendering is bounded in time, memory and size wherever it happens: on save (the trial
render on sample inputs), on a form submission, on the API, with the server answering
meanwhile. Each bomb below is the issue's, refused within a wall-clock bound."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import translation

from jobs.models import Job
from templates_app.models import Template, Visibility
from templates_app.rendering import PromptRenderError, referenced_names, render_prompt

from .conftest import BASE_DIR, wait_until
from .test_api import API, assert_error, jwt_for

NESTED_RANGES = "{% for a in range(n) %}{% for b in range(n) %}{% endfor %}{% endfor %}done"
JOIN_BOMB = "{{ ('x'*100000)|join('y'*100000) }}"
POWER_BOMB = "{{ 9**(9**7) }}"
# ~ (concatenation) is no operator the sandbox can intercept: only the memory limit stops it.
DOUBLING = "{% set ns = namespace(s='x') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"
RANGE_LIMIT = "range() may give at most 10000 items"


@contextmanager
def finishes_within(seconds: float) -> Iterator[None]:
    started = time.monotonic()
    yield
    elapsed = time.monotonic() - started
    assert elapsed < seconds, f"took {elapsed:.2f} s"


def refusal(source: str, inputs: dict[str, Any] | None = None) -> str:
    with pytest.raises(PromptRenderError) as caught:
        render_prompt(source, inputs or {})
    return str(caught.value)


# --- The renderer ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "inputs", "limit"),
    [
        (NESTED_RANGES, {"n": 100000}, RANGE_LIMIT),
        (JOIN_BOMB, {}, "longer than the limit of 1000000 characters"),
        (POWER_BOMB, {}, "at most 4300 digits"),
        ("{{ 'x' * 10**9 }}", {}, "longer than the limit of 1000000 characters"),
        ("{{ 'x'.ljust(10**9) }}", {}, "longer than the limit of 1000000 characters"),
        ("{{ '%0999999999d' % 1 }}", {}, "longer than the limit of 1000000 characters"),
        ("{{ '{:>999999999}'.format(1) }}", {}, "longer than the limit of 1000000 characters"),
        ("{{ 'ab'|replace('', 'z' * 999999) }}", {}, "longer than the limit of 1000000 characters"),
        ("{% for i in range(2000) %}{{ 'x' * 1000 }}{% endfor %}", {}, "limit of 1000000 characters"),
        (DOUBLING, {}, "memory limit of 256 MB"),
    ],
)
def test_each_bomb_is_refused_quickly_naming_its_limit(
    source: str, inputs: dict[str, Any], limit: str
) -> None:
    with finishes_within(3.0):
        assert limit in refusal(source, inputs)
    assert render_prompt("still {{ x }}", {"x": "fine"}) == "still fine"  # the next render works


def test_a_slow_loop_is_stopped_at_the_time_limit(settings) -> None:
    settings.RENDER_TIMEOUT = 0.5
    with finishes_within(3.0):
        message = refusal(NESTED_RANGES, {"n": 10000})  # 10⁸ empty iterations: minutes
    assert "time limit of 0.5 seconds" in message
    assert render_prompt("{{ n }}", {"n": 1}) == "1"  # a new render process took over


def test_a_long_c_call_is_stopped_even_when_the_sandbox_would_allow_it(settings) -> None:
    # One bigint power never returns to the interpreter: no in-process check could stop it.
    settings.RENDER_TIMEOUT = 0.5
    settings.RENDER_MAX_DIGITS = 10**9
    with finishes_within(3.0):
        assert "time limit of 0.5 seconds" in refusal(POWER_BOMB)


def test_limits_are_configurable_and_messages_translated(settings) -> None:
    settings.RENDER_MAX_RANGE = 5
    assert render_prompt("{{ range(5)|list|length }}", {}) == "5"
    with translation.override("pt-br"):
        assert "range() pode dar no máximo 5 itens" in refusal("{{ range(6)|list }}")


def test_ordinary_bodies_render_as_before() -> None:
    body = "{% for i in range(3) %}{{ i * 2 }},{% endfor %} {{ 2 ** 10 }} {{ '-' * 3 }} {{ [1] + [2] }}"
    assert render_prompt(body, {}) == "0,2,4, 1024 --- [1, 2]"
    assert render_prompt("{{ items|join(', ') }} {{ '%5s|' % 'a' }}", {"items": ["a", "b"]}) == "a, b     a|"
    # join measures what it joins: a generator (map, select) is read once, not lost
    people = {"people": [{"name": "Ana"}, {"name": "Bo"}]}
    mapped = "{{ people|map(attribute='name')|join(', ') }}|{{ '-'.join(people|map(attribute='name')) }}"
    assert render_prompt(mapped, people) == "Ana, Bo|Ana-Bo"


# --- On save: the trial render on sample inputs ------------------------------------


@pytest.mark.django_db
def test_saving_a_body_with_the_bounds_written_in_is_refused_on_the_body() -> None:
    template = Template.objects.create(slug="t", name="T")
    body = NESTED_RANGES.replace("range(n)", "range(100000)")
    with finishes_within(3.0), pytest.raises(ValidationError) as caught:
        template.create_version(body=body, parameters=[])
    assert RANGE_LIMIT in caught.value.message_dict["body"][0]
    assert template.versions.count() == 0


@pytest.mark.django_db
def test_saving_a_body_that_renders_too_long_is_refused_at_the_time_limit(settings) -> None:
    settings.RENDER_TIMEOUT = 0.5
    template = Template.objects.create(slug="t", name="T")
    body = NESTED_RANGES.replace("range(n)", "range(10000)")
    with finishes_within(3.0), pytest.raises(ValidationError) as caught:
        template.create_version(body=body, parameters=[])
    assert "time limit of 0.5 seconds" in caught.value.message_dict["body"][0]


@pytest.mark.django_db
@pytest.mark.parametrize("body", ["{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}", "{% if a %}" * 3000])
def test_a_body_nested_too_deep_to_parse_is_refused_on_save_not_a_500(body: str) -> None:
    template = Template.objects.create(slug="t", name="T")
    with pytest.raises(ValidationError) as caught:
        template.create_version(body=body, parameters=[])
    assert "nest more than" in caught.value.message_dict["body"][0]


@pytest.mark.django_db
def test_the_editor_refuses_a_bomb_at_the_body_field(client: Client, owner) -> None:
    from .test_editor import new_template_post

    client.force_login(owner)
    with finishes_within(3.0):
        response = client.post("/templates/new/", new_template_post(**{"editor-body": POWER_BOMB}))
    assert response.status_code == 200
    errors = response.content.decode().split('id="id_editor-body_error"')[1].split("</ul>")[0]
    assert "at most 4300 digits" in errors
    assert not Template.objects.exists()


@pytest.mark.django_db
def test_the_admin_editor_refuses_a_bomb_at_the_body_field(client: Client, make_template, staff) -> None:
    from .editor_helpers import editor_post

    template = make_template()
    client.force_login(staff)
    url = f"/admin/templates_app/template/{template.pk}/editor/"
    with finishes_within(3.0):
        response = client.post(url, editor_post(template, **{"editor-body": JOIN_BOMB}))
    assert response.status_code == 200
    assert "1000000 characters" in response.content.decode()
    assert template.versions.count() == 1


@pytest.mark.django_db
def test_the_api_and_import_refuse_a_bomb_with_a_400_naming_the_body(client: Client, owner) -> None:
    headers = {"Authorization": f"Bearer {jwt_for(owner)}"}
    with finishes_within(3.0):
        created = client.post(
            f"{API}/templates",
            data=json.dumps({"slug": "bomb", "name": "Bomb", "body": JOIN_BOMB}),
            content_type="application/json",
            headers=headers,
        )
    error = assert_error(created, 400, "validation_error")
    assert "1000000 characters" in error["details"]["body"][0]
    content = f"---\nslug: bomb\nname: Bomb\n---\n{JOIN_BOMB}\n"
    with finishes_within(3.0):
        imported = client.post(
            f"{API}/templates/import",
            data=json.dumps({"format": "promptlab", "content": content}),
            content_type="application/json",
            headers=headers,
        )
    assert "1000000 characters" in json.dumps(assert_error(imported, 400, "validation_error")["details"])
    assert not Template.objects.exists()


# --- On submit: the form and the API -----------------------------------------------


def _nested_range_template(owner: Any, *, most: int = 100000) -> Template:
    template = Template.objects.create(slug="loops", name="Loops", owner=owner, visibility=Visibility.PUBLIC)
    template.create_version(
        body=NESTED_RANGES, parameters=[{"name": "n", "type": "integer", "min": 1, "max": most}]
    )
    return template


@pytest.mark.django_db
def test_an_anonymous_form_post_with_a_huge_n_is_refused_and_makes_no_job(client: Client, owner) -> None:
    template = _nested_range_template(owner)
    with finishes_within(3.0):
        response = client.post(template.get_absolute_url(), {"n": "100000"})
    assert response.status_code == 200
    assert RANGE_LIMIT in response.content.decode()
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_the_api_refuses_a_huge_n_with_a_400_naming_the_limit(client: Client, owner) -> None:
    template = _nested_range_template(owner)
    with finishes_within(3.0):
        response = client.post(
            f"{API}/templates/{template.slug}/generate",
            data=json.dumps({"inputs": {"n": 100000}}),
            content_type="application/json",
            headers={"Authorization": f"Bearer {jwt_for(owner)}"},
        )
    assert RANGE_LIMIT in assert_error(response, 400, "validation_error")["details"]["inputs"][0]
    assert not Job.objects.exists()


# --- The live server stays responsive -------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_live_server_answers_health_while_slow_renders_are_refused(live_server_url, owner) -> None:
    """Anonymous posts on a public template: n=100000 is refused by the range limit at
    once; two posts of n=10000 (10⁸ iterations each, minutes of work) are refused at the
    time limit (2 s, the default). /health/ stays fast all the while."""
    template = _nested_range_template(owner)
    url = f"{live_server_url}{template.get_absolute_url()}"
    answers: dict[str, tuple[httpx.Response, float]] = {}

    def post_as_a_new_visitor(n: str, label: str) -> None:
        with httpx.Client(timeout=30) as visitor:
            page = visitor.get(url).text
            token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
            started = time.monotonic()
            response = visitor.post(url, data={"n": n, "csrfmiddlewaretoken": token})
            answers[label] = (response, time.monotonic() - started)

    posts = [
        threading.Thread(target=post_as_a_new_visitor, args=args)
        for args in (("10000", "slow 1"), ("10000", "slow 2"), ("100000", "huge"))
    ]
    for post in posts:
        post.start()
    health_times = []
    while any(post.is_alive() for post in posts):
        started = time.monotonic()
        assert httpx.get(f"{live_server_url}/health/", timeout=5).status_code == 200
        health_times.append(time.monotonic() - started)
    for post in posts:
        post.join()
    huge, huge_seconds = answers["huge"]
    # It may have waited for one of the two render processes (RENDER_PROCESSES=2).
    assert huge.status_code == 200 and RANGE_LIMIT in huge.text and huge_seconds < 8
    for label in ("slow 1", "slow 2"):
        response, seconds = answers[label]
        assert response.status_code == 200 and "time limit of 2 seconds" in response.text, label
        assert seconds < 8, (label, seconds)
    assert len(health_times) >= 3 and max(health_times) < 2.0, health_times
    assert not Job.objects.exists()


def test_a_render_process_killed_while_idle_is_replaced_without_failing_a_render() -> None:
    from templates_app import isolation

    assert render_prompt("{{ a }}", {"a": 1}) == "1"
    idle = isolation._pool.idle  # type: ignore[union-attr]
    for child in list(idle):
        child.process.kill()
        child.process.wait()
    assert render_prompt("{{ a }}", {"a": 2}) == "2"


@pytest.mark.parametrize(
    "source",
    [
        "{{ lipsum(10**6) }}",
        "{{ [1]|batch(10**9, 'x')|list }}",
        "{{ [1]|slice(10**9)|list }}",
        "{{ 'ab'|wordwrap(1, wrapstring='y' * 999999) }}",
        "{{ ('a' * 1000).translate({97: 'x' * 100000}) }}",
        "{{ 'x'.encode() * 10**9 }}",
    ],
)
def test_the_less_obvious_builders_are_capped_too(source: str) -> None:
    with finishes_within(3.0):
        assert "limit of 1000000 characters" in refusal(source)


def test_an_orphaned_render_process_is_stopped_by_the_kernel_at_its_cpu_limit(settings) -> None:
    """If the server process dies mid-render nobody kills its child: RLIMIT_CPU does."""
    import json as _json
    import pickle
    import struct
    import subprocess
    import sys
    from dataclasses import asdict

    from templates_app.sandbox import Limits

    limits = Limits(seconds=0.5, max_digits=10**9)
    child = subprocess.Popen(
        [sys.executable, "-m", "templates_app.isolation", _json.dumps(asdict(limits))],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=BASE_DIR,
    )
    assert child.stdout.read(4)  # type: ignore[union-attr]  # the ready message's header
    # Not POWER_BOMB: 9**(9**7) can end within the 0.5 s + 2 on a quick, quiet machine, and
    # the child, having answered, lived on until this test's deadline. 9**(9**8) is some
    # thirty times that work: it always outlasts the limit.
    request = pickle.dumps(("render", "{{ 9**(9**8) }}", {}))
    child.stdin.write(struct.pack("!I", len(request)) + request)  # type: ignore[union-attr]
    child.stdin.flush()  # type: ignore[union-attr]
    try:
        # Wall time depends on load; the CPU time the kernel counts does not.
        _pid, status, usage = wait_until(lambda: _exited(child.pid), timeout=60)
    except AssertionError:
        child.kill()
        child.wait()
        raise
    child.returncode = status  # reaped here (wait4 gives its CPU time): Popen must not wait again
    child.stdin.close()  # type: ignore[union-attr]
    child.stdout.close()  # type: ignore[union-attr]
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU
    assert usage.ru_utime + usage.ru_stime < 4


def _exited(pid: int) -> tuple[int, int, Any] | None:
    found = os.wait4(pid, os.WNOHANG)
    return found if found[0] else None


def test_a_render_waiting_for_a_busy_process_runs_once_the_slow_one_is_killed(settings) -> None:
    from templates_app import isolation

    settings.RENDER_PROCESSES = 1
    settings.RENDER_TIMEOUT = 0.5
    assert render_prompt("{{ a }}", {"a": 0}) == "0"  # the one process is started
    slow: list[str] = []
    blocker = threading.Thread(target=lambda: slow.append(refusal(NESTED_RANGES, {"n": 10000})))
    blocker.start()
    wait_until(lambda: not isolation._pool.idle)  # type: ignore[union-attr]  # the slow one took it
    with finishes_within(3.0):
        assert render_prompt("{{ a }}", {"a": 1}) == "1"
    blocker.join()
    assert "time limit" in slow[0]


def test_render_processes_get_none_of_the_servers_environment(monkeypatch) -> None:
    from templates_app import isolation

    monkeypatch.setenv("PROMPTLAB_TEST_SECRET", "s3cret")
    if isolation._pool is not None:  # children started from now on see the variable
        isolation._pool.close()
        isolation._pool = None
    render_prompt("{{ a }}", {"a": 1})
    pool = isolation._pool
    assert pool is not None and pool.idle
    with open(f"/proc/{pool.idle[0].process.pid}/environ", "rb") as environ:
        assert b"s3cret" not in environ.read()


def test_render_processes_that_fail_to_start_give_their_place_back(settings, monkeypatch) -> None:
    """A child that never says it is ready is "crashed", and its place in the pool is free
    again: two failed start-ups left every later render in the process "busy" for good."""
    from templates_app import isolation

    settings.RENDER_PROCESSES = 2
    settings.RENDER_TIMEOUT = 0.5
    monkeypatch.setattr(isolation, "_STARTUP_SECONDS", 0.0)  # no child is ready in no time
    for attempt in range(3):
        assert "unexpectedly" in refusal("{{ a }}", {"a": attempt})
    monkeypatch.setattr(isolation, "_STARTUP_SECONDS", 15.0)
    with finishes_within(3.0):
        assert render_prompt("{{ a }}", {"a": 1}) == "1"


# Jinja's code generator folds a filter call on literals while compiling: finding a body's
# names (on save, and for the editor preview's warnings) ran each one in the web process.
FOLDED_FILTERS = '{{" x"|center(1000000)|wordcount}}' * 30


@pytest.mark.django_db
def test_finding_a_bodys_parameters_costs_the_web_process_no_folded_filter_calls() -> None:
    from templates_app.schema import parameter_warnings

    template = Template.objects.create(slug="t", name="T")
    started = time.process_time()  # this process's CPU (every thread), not its children's
    assert parameter_warnings([{"name": "topic"}], FOLDED_FILTERS) == [
        "Parameter “topic”: the prompt never uses it."
    ]
    with contextlib.suppress(ValidationError):  # refused at the time limit or saved: either is fine
        template.create_version(body=FOLDED_FILTERS, parameters=[])
    spent = time.process_time() - started
    assert spent < 0.25, f"{spent:.2f} s of the web process's CPU"  # 1.2 s before


def test_a_bodys_parameters_and_syntax_errors_are_still_found() -> None:
    assert referenced_names("{{ a }} {% for x in b %}{{ x ~ c }}{% endfor %}") == {"a", "b", "c"}
    with pytest.raises(PromptRenderError, match="line 2"):
        referenced_names("ok\n{{ broken")
