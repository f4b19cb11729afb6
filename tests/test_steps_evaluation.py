"""Running a step's Jinja strings in the render sandbox, and reading a model's answer."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import translation

from templates_app.rendering import PromptRenderError
from templates_app.steps import StepContext, StepGraph, StepOutputInvalid, TooManyItems

PARAMETERS = {"topic", "language", "tags", "count"}
INPUTS = {"topic": "cats", "language": "pt", "tags": ["fur", "naps"], "count": 2}


def graph(*steps: dict[str, Any]) -> StepGraph:
    return StepGraph.parse(list(steps), parameter_names=PARAMETERS)


def context(**outputs: Any) -> StepContext:
    return StepContext(
        inputs=INPUTS, outputs={name: StepContext.result(value) for name, value in outputs.items()}
    )


# --- Prompts -------------------------------------------------------------------------------


def test_a_prompt_reads_bare_names_inputs_and_the_outputs_of_steps_it_needs() -> None:
    steps = graph(
        {"name": "outline", "body": "x"},
        {
            "name": "write",
            "needs": ["outline"],
            "system_prompt": "You write about {{ inputs.topic }}.",
            "body": "{{ topic }} in {{ language }}: {{ steps.outline.output | join(', ') }}",
        },
    )
    system, body = steps.step("write").render(context(outline=["a", "b"]))
    assert system == "You write about cats."
    assert body == "cats in pt: a, b"


def test_a_for_each_prompt_reads_its_item_and_index() -> None:
    step = graph(
        {"name": "each", "for_each": "tags", "body": "{{ item_index }}. {{ item }} ({{ topic }})"}
    ).step("each")
    items = step.items(context())
    assert items == ["fur", "naps"]
    rendered = [step.render(context().for_item(item, index))[1] for index, item in enumerate(items)]
    assert rendered == ["0. fur (cats)", "1. naps (cats)"]


def test_a_step_sees_only_the_steps_it_needs_whatever_the_context_holds() -> None:
    steps = graph({"name": "a", "body": "x"}, {"name": "b", "body": "{{ steps | list | sort | join(',') }}"})
    assert steps.step("b").render(context(a="A"))[1] == ""


def test_an_undefined_name_is_an_error_when_a_step_runs() -> None:
    step = graph(
        {"name": "a", "body": "x"}, {"name": "b", "needs": ["a"], "body": "{{ steps.a.output.title }}"}
    )
    with pytest.raises(PromptRenderError, match="has no attribute 'title'"):
        step.step("b").render(context(a={"name": "no title"}))


# --- Transforms ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("steps.a.output | join('\\n\\n')", "x\n\ny"),
        ("steps.a.output | map('upper') | list", ["X", "Y"]),
        ("steps.a.output | map('upper')", ["X", "Y"]),  # a generator becomes a list
        (
            "{'topic': topic, 'count': inputs.count + 1, 'first': steps.a.output[0]}",
            {"topic": "cats", "count": 3, "first": "x"},
        ),
        ("steps.a.output | length", 2),
        ("count / 4", 0.5),
        ("none", None),
        ("(1, 2)", [1, 2]),
        ("tags is defined and language == 'pt'", True),
    ],
)
def test_a_transform_gives_json_data(expression: str, value: Any) -> None:
    steps = graph(
        {"name": "a", "body": "x"}, {"name": "t", "kind": "transform", "needs": ["a"], "body": expression}
    )
    assert steps.step("t").evaluate(context(a=["x", "y"])) == value


def test_a_transform_giving_something_that_is_not_json_data_is_an_error() -> None:
    step = graph({"name": "t", "kind": "transform", "body": "cycler(1, 2)"}).step("t")
    with pytest.raises(PromptRenderError, match="not JSON data"):
        step.evaluate(context())


@pytest.mark.parametrize(
    "expression",
    [
        "topic.__class__.__mro__",
        "inputs['topic'].__class__.__init__.__globals__",
        "tags.append(1)",
        "cycler.__init__.__globals__.os",
    ],
)
def test_the_sandbox_refuses_unsafe_attribute_access_in_expressions(expression: str) -> None:
    step = graph({"name": "t", "kind": "transform", "body": expression}).step("t")
    with pytest.raises(PromptRenderError):
        step.evaluate(context())


def test_an_expression_is_held_to_the_render_limits() -> None:
    step = graph({"name": "t", "kind": "transform", "body": "'x' * 10 ** 9"}).step("t")
    with pytest.raises(PromptRenderError, match="longer than the limit"):
        step.evaluate(context())


def test_a_prompt_step_is_not_evaluated_and_a_transform_has_no_prompt() -> None:
    steps = graph({"name": "p", "body": "x"}, {"name": "t", "kind": "transform", "body": "1"})
    with pytest.raises(TypeError):
        steps.step("p").evaluate(context())
    with pytest.raises(TypeError):
        steps.step("t").render(context())


# --- when ----------------------------------------------------------------------------------


def test_when_decides_whether_a_step_runs() -> None:
    steps = graph(
        {"name": "always", "body": "x"},
        {"name": "translated", "body": "x", "when": "inputs.language != 'en'"},
        {"name": "long", "body": "x", "when": "steps.always.output | length > 3", "needs": ["always"]},
    )
    assert steps.step("always").condition_holds(context())
    assert steps.step("translated").condition_holds(context())
    assert not steps.step("translated").condition_holds(StepContext(inputs={**INPUTS, "language": "en"}))
    assert not steps.step("long").condition_holds(context(always="abc"))
    assert steps.step("long").condition_holds(context(always="abcd"))


# --- for_each ------------------------------------------------------------------------------


def test_for_each_runs_over_an_earlier_steps_json_list() -> None:
    steps = graph(
        {"name": "outline", "body": "x", "output": "json"},
        {
            "name": "each",
            "needs": ["outline"],
            "for_each": "steps.outline.output",
            "body": "{{ item.title }}",
        },
    )
    step = steps.step("each")
    items = step.items(context(outline=[{"title": "One"}, {"title": "Two"}]))
    assert [step.render(context(outline=items).for_item(item, i))[1] for i, item in enumerate(items)] == [
        "One",
        "Two",
    ]
    assert step.parallel == 4


@pytest.mark.parametrize(
    ("expression", "described"),
    [("topic", "a text"), ("{'a': 1}", "an object"), ("count", "(2)"), ("none", "None")],
)
def test_for_each_must_give_a_list(expression: str, described: str) -> None:
    step = graph({"name": "each", "for_each": expression, "body": "{{ item }}"}).step("each")
    with pytest.raises(PromptRenderError, match="for_each must give a list") as caught:
        step.items(context())
    assert described in str(caught.value) and "Step “each”" in str(caught.value)


def test_for_each_may_give_only_so_many_items(settings: Any) -> None:
    settings.WORKFLOW_MAX_ITEMS = 3
    step = graph({"name": "each", "for_each": "range(4) | list", "body": "{{ item }}"}).step("each")
    with pytest.raises(TooManyItems, match="4 items; a step may run for at most 3") as caught:
        step.items(context())
    assert caught.value.code == "too_many_items"
    assert isinstance(caught.value, PromptRenderError)


# --- A model's answer ----------------------------------------------------------------------

SCHEMA = {"type": "array", "items": {"type": "string"}, "minItems": 1}


def json_step(schema: Any = SCHEMA) -> Any:
    return graph({"name": "outline", "body": "x", "output": "json", "schema": schema}).step("outline")


def test_a_text_step_keeps_the_answer_as_it_is() -> None:
    step = graph({"name": "a", "body": "x"}).step("a")
    assert step.parse_output("  ```json\n[1]\n```  ") == "  ```json\n[1]\n```  "


@pytest.mark.parametrize(
    "answer",
    [
        '["a", "b"]',
        '```json\n["a", "b"]\n```',
        '```\n["a", "b"]\n```\n',
        'Here is the outline:\n\n```json\n["a", "b"]\n```\nHope it helps.',
        '  \n["a", "b"]\n ',
    ],
)
def test_a_json_answer_is_read_with_or_without_a_code_fence(answer: str) -> None:
    assert json_step().parse_output(answer) == ["a", "b"]


def test_a_json_step_without_a_schema_takes_any_json() -> None:
    assert json_step(None).parse_output('{"n": 1}') == {"n": 1}


def test_an_answer_that_is_not_json_says_where_the_reader_stopped() -> None:
    with pytest.raises(StepOutputInvalid) as caught:
        json_step().parse_output('["a", "b"')
    assert caught.value.detail.startswith("not valid JSON: Expecting")
    assert "line 1, column" in caught.value.detail
    assert str(caught.value).startswith("The answer is not valid JSON")


def test_an_answer_outside_the_schema_names_the_path_and_the_first_problem() -> None:
    with pytest.raises(StepOutputInvalid) as caught:
        json_step().parse_output('["a", 2]')
    assert caught.value.detail == "$[1]: 2 is not of type 'string'"
    with pytest.raises(StepOutputInvalid) as caught:
        json_step().parse_output("[]")
    assert caught.value.detail.startswith("$: [] should be non-empty")


def test_the_message_for_people_is_translated_and_the_detail_for_the_model_is_not() -> None:
    with translation.override("pt-br"), pytest.raises(StepOutputInvalid) as caught:
        json_step().parse_output('["a", 2]')
    assert caught.value.message.startswith("A resposta não segue o esquema da etapa em $[1]")
    assert caught.value.detail == "$[1]: 2 is not of type 'string'"
