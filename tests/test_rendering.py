from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from templates_app.models import Template
from templates_app.rendering import PromptRenderError, referenced_names, render_prompt


def test_renders_inputs_into_the_body() -> None:
    assert render_prompt("Hello {{ name }}!", {"name": "Ana"}) == "Hello Ana!"


def test_values_are_inserted_verbatim_not_html_escaped() -> None:
    # Prompts are plain text for a model; escaping happens where output is shown.
    assert render_prompt("{{ x }}", {"x": "<b>&"}) == "<b>&"


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ name.__class__ }}",
        "{{ name.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os }}",
        "{% set x = [].append(1) %}{{ x }}",
    ],
)
def test_sandbox_blocks_python_internals_cleanly(source: str) -> None:
    with pytest.raises(PromptRenderError):
        render_prompt(source, {"name": "Ana"})


def test_undefined_name_is_an_error_not_an_empty_string() -> None:
    with pytest.raises(PromptRenderError, match="undefined"):
        render_prompt("Hello {{ nobody }}", {})


def test_syntax_error_names_the_line() -> None:
    with pytest.raises(PromptRenderError, match="line 2"):
        render_prompt("ok\n{{ broken", {})


def test_referenced_names() -> None:
    assert referenced_names("{{ a }} {% if b %}{{ c|upper }}{% endif %}") == {"a", "b", "c"}


@pytest.mark.django_db
def test_body_naming_an_undefined_parameter_is_refused_on_save() -> None:
    template = Template.objects.create(slug="t", name="T")
    with pytest.raises(ValidationError) as caught:
        template.create_version(body="{{ topic }} {{ missing }}", parameters=[{"name": "topic"}])
    assert "missing" in str(caught.value.message_dict["body"])
    assert template.versions.count() == 0


@pytest.mark.django_db
def test_body_reaching_internals_is_refused_on_save() -> None:
    template = Template.objects.create(slug="t", name="T")
    with pytest.raises(ValidationError) as caught:
        template.create_version(body="{{ topic.__class__.__name__ }}", parameters=[{"name": "topic"}])
    assert "body" in caught.value.message_dict


@pytest.mark.django_db
def test_invalid_schema_is_refused_on_save_at_the_parameters_field() -> None:
    template = Template.objects.create(slug="t", name="T")
    with pytest.raises(ValidationError) as caught:
        template.create_version(body="x", parameters=[{"name": "a", "type": "nope"}])
    assert "unknown type" in str(caught.value.message_dict["parameters"])


@pytest.mark.django_db
def test_versions_are_numbered_and_immutable() -> None:
    template = Template.objects.create(slug="t", name="T")
    first = template.create_version(body="one")
    second = template.create_version(body="two")
    assert (first.number, second.number) == (1, 2)
    template.refresh_from_db()
    assert template.published_version == second
    first.body = "changed"
    with pytest.raises(ValueError, match="immutable"):
        first.save()
