"""Workflows through the template API (issue 15): ``steps`` and ``result_step`` beside
``parameters``, written on create and update, refused with errors naming the step, and
described in the OpenAPI document; the GraphQL version type lists them too."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from django.test import Client

from templates_app.models import Template

from .test_api import assert_error, callers  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db

PARAMETERS = [{"name": "topic", "type": "string"}]
STEPS: list[dict[str, Any]] = [
    {"name": "outline", "kind": "transform", "body": "['Why ' ~ topic, 'How ' ~ topic]"},
    {"name": "sections", "needs": ["outline"], "for_each": "steps.outline.output", "parallel": 2,
     "body": "Write {{ item }} about {{ topic }}."},
    {"name": "article", "kind": "transform", "needs": ["sections"],
     "body": "steps.sections.output | join(' ')"},
]  # fmt: skip


def create(client: Client, callers, **overrides: Any) -> Any:  # noqa: F811
    body = {"slug": "blog", "name": "Blog", "parameters": PARAMETERS, "steps": STEPS} | overrides
    return callers["owner"](client, "post", "/templates", body)


def test_a_workflow_is_created_without_a_body_and_read_back_canonical(client: Client, callers) -> None:  # noqa: F811
    created = create(client, callers, result_step="sections")
    assert created.status_code == 201, created.content
    data = callers["owner"](client, "get", "/templates/blog").json()
    assert data["body"] == "" and data["result_step"] == "sections"
    assert [step["name"] for step in data["steps"]] == ["outline", "sections", "article"]
    # Every key filled in, as the graph writes them.
    assert data["steps"][1] == {
        "name": "sections", "kind": "prompt", "body": "Write {{ item }} about {{ topic }}.",
        "system_prompt": "", "model_settings": {}, "needs": ["outline"], "when": "",
        "for_each": "steps.outline.output", "parallel": 2, "output": "text", "schema": None,
    }  # fmt: skip
    versions = callers["owner"](client, "get", "/templates/blog/versions").json()
    assert versions[0]["steps"] == data["steps"] and versions[0]["result_step"] == "sections"


def test_a_plain_template_has_no_steps_and_still_needs_a_body(client: Client, callers) -> None:  # noqa: F811
    error = assert_error(create(client, callers, steps=[]), 400, "validation_error")
    assert "body" in error["details"]
    plain = create(client, callers, steps=[], body="About {{ topic }}.")
    assert plain.status_code == 201 and plain.json()["steps"] == [] and plain.json()["result_step"] == ""


def test_bad_steps_are_a_400_naming_the_step_and_write_nothing(client: Client, callers) -> None:  # noqa: F811
    steps = [*STEPS[:2], {**STEPS[2], "needs": ["sectoins"]}]
    error = assert_error(create(client, callers, steps=steps), 400, "validation_error")
    messages = " ".join(error["details"]["steps"])
    assert "“article”" in messages and "sectoins" in messages
    assert not Template.objects.filter(slug="blog").exists()


def test_a_result_step_that_is_not_a_step_is_refused_under_result_step(client: Client, callers) -> None:  # noqa: F811
    error = assert_error(create(client, callers, result_step="nope"), 400, "validation_error")
    assert "nope" in " ".join(error["details"]["result_step"])


@pytest.mark.parametrize("steps", [{"name": "a"}, ["a"], "steps"])
def test_steps_that_are_not_a_list_of_objects_are_refused(client: Client, callers, steps: Any) -> None:  # noqa: F811
    error = assert_error(create(client, callers, steps=steps), 400, "validation_error")
    assert "steps" in error["details"]


def test_a_patch_changes_the_steps_in_a_new_version(client: Client, callers) -> None:  # noqa: F811
    create(client, callers)
    changed = [*STEPS[:1], {**STEPS[1], "parallel": 4}, STEPS[2]]
    response = callers["owner"](client, "patch", "/templates/blog", {"steps": changed})
    assert response.status_code == 200, response.content
    assert response.json()["version"] == 2 and response.json()["steps"][1]["parallel"] == 4
    # The same steps again (in any spelling of the defaults) change nothing.
    again = callers["owner"](client, "patch", "/templates/blog", {"steps": response.json()["steps"]})
    assert again.json()["version"] == 2


def test_a_patch_is_checked_against_the_steps_already_there(client: Client, callers) -> None:  # noqa: F811
    create(client, callers)
    error = assert_error(
        callers["owner"](client, "patch", "/templates/blog", {"result_step": "missing"}),
        400,
        "validation_error",
    )
    assert "missing" in " ".join(error["details"]["result_step"])
    # A parameter the steps read can't be taken away under them.
    error = assert_error(
        callers["owner"](
            client, "patch", "/templates/blog", {"parameters": [{"name": "other", "type": "string"}]}
        ),
        400,
        "validation_error",
    )
    assert "topic" in str(error["details"])
    assert Template.objects.get(slug="blog").versions.count() == 1


def test_the_openapi_document_describes_the_steps(client: Client) -> None:
    document = client.get("/api/schema/", headers={"Accept": "application/json"})
    assert document.status_code == 200
    schema = document.json() if "json" in document["Content-Type"] else yaml.safe_load(document.content)
    template = schema["components"]["schemas"]["Template"]["properties"]
    steps = template["steps"]
    assert steps["type"] == "array"
    step = steps["items"]
    assert step["required"] == ["name", "body"] and step["properties"]["kind"]["enum"] == [
        "prompt",
        "transform",
    ]
    assert step["properties"]["parallel"]["maximum"] == 50
    assert template["result_step"]["maxLength"] == 40


def test_graphql_lists_a_versions_steps(client: Client, callers, owner) -> None:  # noqa: F811
    create(client, callers, visibility="public")
    query = '{ template(slug: "blog") { versions { steps resultStep } } }'
    response = client.post(
        "/graphql", {"query": query}, content_type="application/json", headers=callers["owner"].headers
    )
    data = response.json()
    assert "errors" not in data, data
    version = data["data"]["template"]["versions"][0]
    assert [step["name"] for step in version["steps"]] == ["outline", "sections", "article"]
    assert version["resultStep"] == ""
