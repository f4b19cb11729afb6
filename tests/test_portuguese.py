"""Portuguese everywhere: numbers in the reader's locale, other programs' messages quoted
inside translated sentences, the wording the catalogue keeps, and a complete catalogue."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.utils import translation

from jobs.errors import describe_error
from templates_app.editor import parse_schema_text
from templates_app.theme import ThemeError, parse_theme

CATALOGUE = Path(__file__).resolve().parent.parent / "locale" / "pt_BR" / "LC_MESSAGES" / "django.po"


def theme_errors(language: str) -> str:
    with translation.override(language), pytest.raises(ThemeError) as caught:
        parse_theme({"primary": "#ffcc00", "primary_text": "#ffffff", "text": "#000000"})
    return " ".join(caught.value.errors)


def test_contrast_ratios_are_written_as_the_reader_writes_numbers() -> None:
    assert re.search(r"1\.\d\d:1", theme_errors("en")) and "4.5:1" in theme_errors("en")
    portuguese = theme_errors("pt-br")
    assert (
        re.search(r"1,\d\d:1", portuguese) and "4,5:1" in portuguese and not re.search(r"\d\.\d", portuguese)
    )


def test_the_yaml_readers_words_are_quoted_inside_a_translated_sentence() -> None:
    with translation.override("pt-br"):
        _data, errors = parse_schema_text("- name: a\n  type: [unclosed\n", "yaml")
    assert errors and errors[0].startswith("Erro de YAML na linha ")
    assert "O leitor de YAML diz: “" in errors[0] and errors[0].endswith("”.")


def test_a_providers_words_are_quoted_after_the_translated_sentence() -> None:
    with translation.override("pt-br"):
        text = describe_error("invalid_request", "max_tokens: must be at most 8192")
    assert text == (
        "O provedor rejeitou a requisição como inválida. O provedor disse: “max_tokens: must be at most 8192”"
    )


def catalogue_entries() -> list[tuple[str, str]]:
    entries = []
    for block in CATALOGUE.read_text(encoding="utf-8").split("\n\n"):
        msgid = "".join(re.findall(r'"(.*)"', block.partition("msgid ")[2].partition("msgstr")[0]))
        msgstr = "".join(re.findall(r'"(.*)"', block.partition("msgstr")[2]))
        entries.append((msgid, msgstr))
    return entries


def test_the_catalogue_keeps_one_word_for_each_thing() -> None:
    for msgid, msgstr in catalogue_entries():
        if re.search(r"\btemplates?\b", msgid, re.I) and not re.search(r"\bmodels?\b", msgid, re.I):
            assert not re.search(r"\bmodelos?\b", msgstr, re.I), (msgid, msgstr)  # template = "template"
        if re.search(r"\bjobs?\b", msgid, re.I) and "jobs/" not in msgid:
            # job = "execução"; a workspace is an "espaço de trabalho"
            assert "trabalho" not in msgstr.lower().replace("espaço de trabalho", ""), (msgid, msgstr)
        assert not re.search(r"\bemail\b", msgstr.replace("%(email)s", "")), (msgid, msgstr)  # "e-mail"
        assert "de IA" not in msgstr, (msgid, msgstr)  # model = "modelo"


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="needs gettext's msgfmt")
def test_the_catalogue_has_nothing_untranslated_or_fuzzy() -> None:
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", "/dev/null", str(CATALOGUE)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "fuzzy" not in result.stderr and "untranslated" not in result.stderr, result.stderr
