"""The editor in Chromium (issue 12): the code editor over the textareas, Ctrl+Enter, the
unsaved-changes warning, the colour pickers, the in-place "Add", the provider switch after
an import, and Swagger UI's page, with axe-core on each, in both languages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from providers.models import ProviderConnection
from templates_app.models import Template

from .conftest import assert_accessible
from .editor_helpers import code_editor, fill_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCHEMA = "- name: topic\n  type: string\n- name: count\n  type: integer\n"


def beforeunload_armed(page: Any) -> bool:
    """Whether leaving now would ask first (the handler cancels the event)."""
    return page.evaluate(
        "() => { const e = new Event('beforeunload', {cancelable: true});"
        " window.dispatchEvent(e); return e.defaultPrevented; }"
    )


@pytest.mark.parametrize(
    ("locale", "schema_label", "added"),
    [
        ("en-US", "Parameters", "Added the parameter"),
        ("pt-BR", "Parâmetros", "O parâmetro “reader” foi adicionado"),
    ],
)
def test_the_code_editor_keys_colours_and_in_place_add_in_chromium(
    signed_in_page, live_server_url: str, make_template, owner, locale: str, schema_label: str, added: str
) -> None:
    template = make_template(
        owner=owner, parameters=[{"name": "topic", "type": "string"}], body="On {{ topic }}"
    )
    page = signed_in_page(owner, locale)
    page.goto(f"{live_server_url}/t/{template.slug}/edit/")

    # The code editors stand in for the four textareas (the steps too), which stay in the form, hidden.
    schema = code_editor(page, "id_editor-schema")
    schema.wait_for()
    assert page.locator(".code-editor .cm-editor").count() == 4
    assert page.locator("#id_editor-schema").is_hidden()
    assert page.locator("[data-code-editor-for='id_editor-schema'] .cm-lineNumbers").inner_text().split()[
        :2
    ] == [
        "1",
        "2",
    ]
    assert page.locator("[data-code-editor-for='id_editor-schema'] .tok-propertyName").count() >= 2
    label = schema.get_attribute("aria-labelledby")
    assert page.locator(f"[id='{label}']").inner_text().startswith(schema_label)
    assert "code-editor-keys" in schema.get_attribute("aria-describedby")
    assert (
        page.locator("#code-editor-keys").is_visible() and page.locator("#editor-preview-keys").is_visible()
    )
    assert not beforeunload_armed(page)
    assert_accessible(page)

    # Typing in the editor reaches the textarea (the form's value) and the preview.
    fill_code(page, "id_editor-schema", SCHEMA)
    page.wait_for_selector("#editor-preview [name=count]")
    assert beforeunload_armed(page)

    # Ctrl+Enter updates the preview at once (no typing: nothing else would ask), from the
    # code editor (inserting nothing) and from a plain textarea.
    preview = "**/editor/preview/"
    with page.expect_request(preview):
        schema.press("Control+End")
        schema.press("Control+Enter")
    assert page.locator("#id_editor-schema").input_value() == SCHEMA
    with page.expect_request(preview):
        page.locator("#id_editor-allowed_models").press("Control+Enter")

    # Tab indents inside the editor; Escape then Tab moves on.
    schema.press("Tab")
    assert page.evaluate("() => document.activeElement.classList.contains('cm-content')")
    schema.press("Escape")
    page.keyboard.press("Tab")
    assert not page.evaluate(
        "() => !!document.activeElement.closest(\"[data-code-editor-for='id_editor-schema']\")"
    )
    fill_code(page, "id_editor-schema", SCHEMA)

    # Colour pickers and hex fields follow each other; an empty dark colour shows the light one.
    picker = page.locator("[data-colour-picker='id_editor-primary']")
    assert picker.is_visible()
    page.locator("#id_editor-primary").fill("#123")
    assert picker.input_value() == "#112233"
    picker.evaluate(
        "(el) => { el.value = '#abcdef'; el.dispatchEvent(new Event('input', {bubbles: true})); }"
    )
    assert page.locator("#id_editor-primary").input_value() == "#abcdef"
    assert page.locator("[data-colour-picker='id_editor-dark_primary']").input_value() == "#abcdef"
    page.locator("#id_editor-primary").fill("")

    # "Add" in place: no reload; the schema text gains the parameter, the preview follows.
    fill_code(page, "id_editor-body", "On {{ topic }} for {{ reader }}")
    add = page.locator("[data-add-parameter][value=reader]")
    add.wait_for()
    page.evaluate("() => { window.notReloaded = true; }")
    add.click()
    page.wait_for_selector("#editor-preview [name=reader]")
    assert page.evaluate("() => window.notReloaded === true")
    assert page.locator("#id_editor-schema").input_value().endswith("- name: reader\n  type: string\n")
    assert "reader" in schema.inner_text()
    assert added in page.locator("[data-editor-announcer]").inner_text()
    assert page.evaluate("() => document.activeElement.classList.contains('cm-content')")
    assert_accessible(page)

    # Saving leaves without asking, and saves what the editor holds.
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.type), dialog.dismiss()))
    page.locator("button[name=action][value=draft]").click()
    page.wait_for_url(f"**/t/{template.slug}/history/")
    assert dialogs == []
    latest = template.versions.order_by("-number").first()
    assert [p["name"] for p in latest.parameters] == ["topic", "count", "reader"]
    assert latest.body == "On {{ topic }} for {{ reader }}"


def test_without_javascript_the_editor_is_its_plain_textareas(
    signed_in_page, live_server_url: str, make_template, owner
) -> None:
    template = make_template(owner=owner)
    page = signed_in_page(owner, java_script_enabled=False)
    page.goto(f"{live_server_url}/t/{template.slug}/edit/")
    assert page.locator(".cm-editor").count() == 0
    assert page.locator("#id_editor-schema").is_visible()
    assert page.locator("[data-colour-picker]").first.is_hidden()
    assert page.locator("#code-editor-keys").is_hidden()
    page.locator("#id_editor-body").fill("Only {{ topic }}, {{ count }} times.")
    page.locator("button[name=action][value=publish]").click()
    page.wait_for_url(f"**/t/{template.slug}/history/")
    assert (
        Template.objects.get(pk=template.pk).published_version.body == "Only {{ topic }}, {{ count }} times."
    )


def test_an_import_on_an_unconfigured_provider_warns_and_switches_in_chromium(
    signed_in_page, live_server_url: str, owner, tmp_path: Path
) -> None:
    # In Portuguese; the English words are checked without a browser (test_editor_tools).
    ProviderConnection.objects.create(
        name="acme", base_url="https://llm.example.com/v1", api_key_env="PROMPTLAB_PROVIDER_ACME_UNSET"
    )
    prompt = tmp_path / "acme.prompt"
    prompt.write_text("---\nmodel: acme/llama-3\n---\nSay hello.\n")
    page = signed_in_page(owner, "pt-BR")
    page.goto(f"{live_server_url}/import/")
    page.locator("#id_file").set_input_files(str(prompt))
    # The first import builds the connection's client (the OpenAI SDK loads): slow on a busy machine.
    with page.expect_navigation(timeout=60_000):
        page.locator("form.narrow-form button[type=submit]").click(no_wait_after=True)
    page.wait_for_selector("[data-provider-switch]")
    assert "“acme” não está configurado" in page.locator(".import-warnings").inner_text()
    assert_accessible(page)
    page.locator("#id_model_choice").select_option("offline/offline-echo")
    page.get_by_role("button", name="Trocar de provedor").click()
    page.wait_for_url("**/history/")
    assert_accessible(page)
    assert Template.objects.get(owner=owner).published_version.provider == "offline"


def test_the_api_docs_pass_axe_around_swagger_ui(browser: Any, live_server_url: str) -> None:
    # Swagger UI is not ours: its own console noise does not fail this test (signed_in_page's would).
    context = browser.new_context(locale="pt-BR")
    try:
        page = context.new_page()
        page.goto(f"{live_server_url}/api/docs/")
        page.wait_for_selector(".opblock-summary-description")
        # Ours (the page, the header, the colours we override) all checked; inside Swagger UI's
        # own markup, three rules its structure breaks and we can't fix without patching it:
        # h1 then h3 (heading-order), links inside its operation buttons (nested-interactive),
        # its title block outside the <main> it renders (region).
        assert_accessible(
            page, vendored="#swagger-ui", vendored_rules=("heading-order", "nested-interactive", "region")
        )
        assert page.locator("main").count() == 1
        assert page.locator(".api-docs__header a").first.get_attribute("href") == "/"
    finally:
        context.close()
