"""Authors' regular expressions are checked with the engine that runs them (``regex``),
their repeat counts and written-out size are capped, and the compile itself runs in a
bounded process: ``a{4000000}`` no longer costs the web process a gigabyte, nor does
``a{1000000000}`` kill it, wherever a schema arrives (preview, editor, API, import)."""

from __future__ import annotations

import json
import os
import time

import pytest
from django.test import Client
from django.utils import translation

from jobs.models import Job
from templates_app.models import Template, TemplateVersion
from templates_app.schema import ParameterSchema, SchemaError
from templates_app.schema.regexes import pattern_problem

from .test_api import API, assert_error, jwt_for
from .test_editor import new_template_post

pytestmark = pytest.mark.django_db

BOMBS = ["a{4000000}", "a{1000000000}"]


def resident_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def schema_yaml(pattern: str) -> str:
    return f"- name: code\n  type: string\n  pattern: '{pattern}'\n"


@pytest.mark.parametrize("pattern", BOMBS)
def test_the_preview_refuses_a_huge_repeat_naming_the_parameter_and_memory_stays_flat(
    client: Client, owner, pattern: str
) -> None:
    client.force_login(owner)
    data = {"prefix": "editor", "editor-schema_format": "yaml", "editor-schema": schema_yaml(pattern)}
    before = resident_mb()
    started = time.monotonic()
    response = client.post("/editor/preview/", data, headers={"HX-Request": "true"})
    assert time.monotonic() - started < 2
    assert response.status_code == 200
    html = response.content.decode()
    assert "data-preview-problems" in html and "code" in html and "at most 1000 are allowed" in html
    assert resident_mb() - before < 30  # it grew by a gigabyte, and stayed there


@pytest.mark.parametrize("pattern", BOMBS)
def test_the_editor_save_refuses_a_huge_repeat(client: Client, owner, pattern: str) -> None:
    client.force_login(owner)
    response = client.post("/templates/new/", new_template_post(**{"editor-schema": schema_yaml(pattern)}))
    assert response.status_code == 200
    errors = response.content.decode().split('id="id_editor-schema_error"')[1].split("</ul>")[0]
    assert "Parameter “code”" in errors and "at most 1000 are allowed" in errors
    assert not Template.objects.exists()


def test_the_api_create_and_import_refuse_a_huge_repeat_with_a_400(client: Client, owner) -> None:
    headers = {"Authorization": f"Bearer {jwt_for(owner)}"}
    parameters = [{"name": "code", "type": "string", "pattern": "a{4000000}"}]
    created = client.post(
        f"{API}/templates",
        data=json.dumps({"slug": "p", "name": "P", "body": "{{ code }}", "parameters": parameters}),
        content_type="application/json",
        headers=headers,
    )
    details = assert_error(created, 400, "validation_error")["details"]
    assert "code" in details["parameters"][0] and "4000000" in details["parameters"][0]
    content = f"---\nslug: p\nname: P\nparameters:\n{schema_yaml('a{1000000000}')}---\n{{{{ code }}}}\n"
    imported = client.post(
        f"{API}/templates/import",
        data=json.dumps({"format": "promptlab", "content": content}),
        content_type="application/json",
        headers=headers,
    )
    assert "at most 1000 are allowed" in json.dumps(assert_error(imported, 400, "validation_error"))
    assert not Template.objects.exists()


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "string", "pattern": "a{4000000}"},
        {"type": "object", "patternProperties": {"^b{1000000000}$": {}}},
        {"type": "array", "items": {"type": "string", "pattern": "(?:(?:ab){900}){900}"}},
    ],
)
def test_json_parameters_schema_patterns_are_checked_the_same_way(schema: dict) -> None:
    with pytest.raises(SchemaError) as caught:
        ParameterSchema.parse([{"name": "data", "type": "json", "schema": schema}])
    assert "Parameter “data”" in caught.value.errors[0] and "pattern" in caught.value.errors[0]


@pytest.mark.parametrize(
    ("pattern", "refused"),
    [
        (r"\d{3}-\d{4}", False),
        (r"[A-Z]{2}[0-9]{1,1000}", False),  # an open maximum compiles to a loop: cheap
        (r"(?:[a-z0-9]{1,63}\.){1,10}[a-z]{2,}", False),
        ("x" * 1000, False),
        ("a{1001}", True),
        ("(?:a{1000}){11}", True),  # 11 000 parts once written out
        ("(?:[a-j]{100}){100}", True),  # a class counts each of its characters
        (r"\{1000000\}", False),  # escaped braces are text, not a repeat
        ("[{1000000}]", False),  # and so are braces inside a class
        ("(" * 50 + "a" + ")" * 50, False),
        ("(" * 51 + "a" + ")" * 51, True),  # regex parses groups recursively
    ],
)
def test_repeat_counts_and_written_out_size_are_capped(pattern: str, refused: bool) -> None:
    assert (pattern_problem(pattern) is not None) == refused


def test_patterns_are_compiled_with_regex_the_engine_that_runs_them() -> None:
    # \p{L} (a letter, in any script) is refused by re but is regex's (and browsers' v mode).
    schema = ParameterSchema.parse([{"name": "word", "type": "string", "pattern": r"\p{L}\p{L}*"}])
    field = schema.parameters[0].to_form_field("en")
    assert field.clean("ação") == "ação"
    with pytest.raises(SchemaError) as caught:
        ParameterSchema.parse([{"name": "word", "type": "string", "pattern": r"\p{NoSuchProperty}"}])
    assert (
        "Parameter “word”" in caught.value.errors[0]
        and "not a valid regular expression" in caught.value.errors[0]
    )


def test_the_compile_itself_is_bounded_in_memory(settings) -> None:
    # With the size checks relaxed, the bounded process still refuses a compile that
    # needs more memory than one pattern may have (a{200000} takes about 50 MB): 16 MB,
    # far below the render process's own limit, which each pattern had to itself.
    settings.PATTERN_MAX_REPEAT = settings.PATTERN_MAX_SIZE = 10**9
    before = resident_mb()
    with pytest.raises(SchemaError) as caught:
        ParameterSchema.parse([{"name": "code", "type": "string", "pattern": "a{200000}"}])
    assert "“pattern” needs more than 16 MB to compile" in caught.value.errors[0]
    with pytest.raises(SchemaError) as caught:
        ParameterSchema.parse(
            [{"name": "data", "type": "json", "schema": {"patternProperties": {"[[]a{300000}": {}}}}]
        )
    assert "needs more than 16 MB to compile" in caught.value.errors[0]
    assert resident_mb() - before < 30


def test_a_schemas_patterns_together_are_bounded_in_compiled_size() -> None:
    # Each within the limits (9,000 parts, ~1 MB compiled), but forms and validators keep
    # them all in the web process: forty of them are 43 MB.
    many = {f"(?:x{{1000}}){{9}}{number}": {} for number in range(40)}
    with pytest.raises(SchemaError) as caught:
        ParameterSchema.parse([{"name": "data", "type": "json", "schema": {"patternProperties": many}}])
    assert caught.value.errors == [
        "Parameter “data”: “schema” has a pattern that can't be used: “pattern” brings the parameter "
        "schema's patterns to more than 32 MB once compiled; use fewer or smaller patterns."
    ]
    split = [
        {"name": f"p{number}", "type": "string", "pattern": pattern}
        for number, pattern in enumerate(list(many)[:25])
    ] + [{"name": "data", "type": "json", "schema": {"patternProperties": dict(list(many.items())[25:])}}]
    with pytest.raises(SchemaError) as caught:
        ParameterSchema.parse(split)  # spread over parameters, the total is the schema's
    assert "more than 32 MB once compiled" in caught.value.errors[-1]
    ParameterSchema.parse(split[:20])  # twenty are fine


def test_a_version_stored_with_an_oversized_pattern_serves_a_form_that_refuses_every_value(
    client: Client, make_template
) -> None:
    # Saved before the limits existed: its form must neither compile the pattern nor fail.
    template = make_template(
        parameters=[{"name": "code", "type": "string", "pattern": "a{3}"}], body="{{ code }}"
    )
    TemplateVersion.objects.filter(pk=template.published_version.pk).update(
        parameters=[{"name": "code", "type": "string", "pattern": "a{4000000}"}]
    )
    before = resident_mb()
    assert client.get(template.get_absolute_url()).status_code == 200
    refused = client.post(template.get_absolute_url(), {"code": "a" * 10})
    assert refused.status_code == 200 and 'aria-invalid="true"' in refused.content.decode()
    assert resident_mb() - before < 30
    assert not Job.objects.exists()


def test_the_refusal_is_translated(client: Client, owner) -> None:
    client.force_login(owner)
    data = {"prefix": "editor", "editor-schema_format": "yaml", "editor-schema": schema_yaml("a{4000000}")}
    # override() restores the language afterwards (the middleware's activation would outlive the test)
    with translation.override("en"):
        html = client.post(
            "/editor/preview/", data, headers={"HX-Request": "true", "Accept-Language": "pt-br"}
        ).content.decode()
    assert "são permitidas no máximo 1000" in html


def child_resident_mb(pid: int) -> float:
    with open(f"/proc/{pid}/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def test_a_render_process_keeps_no_compiled_pattern_after_checking_it(settings) -> None:
    # regex caches what it compiles: each check left megabytes behind in the child, so the
    # checks after a few large patterns ran out of memory that was never theirs.
    from templates_app import isolation
    from templates_app.schema.regexes import PatternBudget

    settings.RENDER_PROCESSES = 1
    assert PatternBudget().compile_problem(["a"]) is None
    child = isolation._pool.idle[0]  # type: ignore[union-attr]
    before = child_resident_mb(child.process.pid)
    for letter in "bcde":
        pattern = f"(?:{letter}{{1000}}){{40}}"  # 40,000 parts, ~10 MB compiled
        assert PatternBudget().compile_problem([pattern]) is None
    assert isolation._pool.idle == [child]  # type: ignore[union-attr]
    assert child_resident_mb(child.process.pid) - before < 15


def nested_json_schema(depth: int) -> dict:
    schema: dict = {"type": "string", "pattern": "a", "format": "regex"}
    for _level in range(depth):
        schema = {"type": "array", "items": schema}
    return schema


@pytest.mark.parametrize("depth", [60, 2000])
def test_a_json_schema_nested_too_deep_is_refused_naming_the_parameter_not_a_recursion_error(
    depth: int,
) -> None:
    # jsonschema's own check (which compiles patterns with re) recursed before any depth check.
    with pytest.raises(SchemaError) as caught:
        ParameterSchema.parse([{"name": "data", "type": "json", "schema": nested_json_schema(depth)}])
    assert caught.value.errors == ["Parameter “data”: “schema” nests more than 50 levels deep."]


def test_a_json_schema_nested_within_the_limit_is_accepted() -> None:
    ParameterSchema.parse([{"name": "data", "type": "json", "schema": nested_json_schema(45)}])


def test_a_stored_schema_with_patterns_serves_its_form_and_api_while_no_render_process_can_start(
    client: Client, make_template, owner, settings, monkeypatch
) -> None:
    # A version read from the database was checked when it was saved: reading it must not
    # depend on the render processes, which anyone can keep busy ("busy" or "crashed" was
    # a SchemaError, a 500 on every form and API view of the template).
    from templates_app import isolation
    from templates_app.models import parsed_schema

    parameters = [
        {"name": "code", "type": "string", "pattern": "[A-Z]{3}-[0-9]{4}"},
        {"name": "data", "type": "json", "schema": {"patternProperties": {"^k[0-9]+$": {}}}},
    ]
    template = make_template(parameters=parameters, body="{{ code }} {{ data }}")
    parsed_schema.cache_clear()
    settings.RENDER_TIMEOUT = 0.5  # a new pool, whose children can't start:
    monkeypatch.setattr(isolation, "_STARTUP_SECONDS", 0.0)
    page = client.get(template.get_absolute_url())
    assert page.status_code == 200 and 'pattern="[A-Z]{3}-[0-9]{4}"' in page.content.decode()
    refused = client.post(template.get_absolute_url(), {"code": "abc", "data": "{}"})
    assert refused.status_code == 200 and 'aria-invalid="true"' in refused.content.decode()
    described = client.get(
        f"{API}/templates/{template.slug}/schema", headers={"Authorization": f"Bearer {jwt_for(owner)}"}
    )
    assert described.status_code == 200 and described.json()["properties"]["code"]["pattern"]


@pytest.mark.parametrize(
    "pattern",
    [
        "[[]a{300000}",  # in regex's default mode a [ inside a class is a member, not a nested class
        "[[:alpha:][]a{300000}",  # a POSIX class, then a plain [
        "(?#[)a{300000}",  # a comment ends at its ): the [ in it opens nothing
        "(?x)a{ 300000 }",  # verbose: the spaces don't make it a literal
        "(?V1)[[]a{300]",  # version 1 reads classes differently again
    ],
)
@pytest.mark.filterwarnings("ignore:Possible nested set:FutureWarning")  # jsonschema's own check, with re
def test_a_repeat_hidden_from_the_size_count_by_how_regex_reads_the_pattern_is_refused(pattern: str) -> None:
    assert pattern_problem(pattern) is not None
    before = resident_mb()
    with pytest.raises(SchemaError) as caught:
        ParameterSchema.parse(
            [{"name": "data", "type": "json", "schema": {"properties": {"a": {"pattern": pattern}}}}]
        )
    assert caught.value.errors[0].startswith("Parameter “data”: “schema”")
    assert resident_mb() - before < 30


@pytest.mark.parametrize(
    "pattern", ["[]a{3}]", "[^]a]{2}", "[[:alpha:]]{3}", "(?#a{5000})b", "[[]", "(?i)abc", r"\p{L}{3}"]
)
def test_classes_and_comments_read_as_regex_reads_them_are_accepted(pattern: str) -> None:
    assert pattern_problem(pattern) is None


def test_a_version_stored_with_a_pattern_regex_refuses_serves_a_form_that_refuses_every_value(
    client: Client, make_template
) -> None:
    # Saved when only re checked patterns: re reads [[:x:]] as a class, regex as an unknown
    # property. Read back without a render process, it must not fail the form (a 500).
    template = make_template(
        parameters=[
            {"name": "code", "type": "string", "pattern": "a{3}"},
            {"name": "data", "type": "json", "schema": {"pattern": "a"}, "required": False},
        ],
        body="{{ code }} {{ data }}",
    )
    TemplateVersion.objects.filter(pk=template.published_version.pk).update(
        parameters=[
            {"name": "code", "type": "string", "pattern": "a{3}"},
            {"name": "data", "type": "json", "schema": {"pattern": "[[:x:]]"}, "required": False},
        ]
    )
    assert client.get(template.get_absolute_url()).status_code == 200
    refused = client.post(template.get_absolute_url(), {"code": "aaa", "data": '":"'})
    assert refused.status_code == 200 and refused.content.decode().count('aria-invalid="true"') == 1
    assert not Job.objects.exists()
