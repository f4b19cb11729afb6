"""Prompt bodies between template languages: single-brace Prompd, Handlebars
(Dotprompt, Mustache-style Prompty) and our Jinja2; and chat-role markers."""

from __future__ import annotations

import re

from django.utils.translation import gettext as _

# --- Prompd's older single-brace variables ----------------------------------------

SINGLE_BRACE = re.compile(r"(?<![{\\$])\{([A-Za-z_]\w*)((?:\.\w+|\[\d+\])*)((?:\|[^{}\n]+)?)\}(?!\})")
FOR_VARIABLES = re.compile(r"\{%-?\s*for\s+([A-Za-z_]\w*)(?:\s*,\s*([A-Za-z_]\w*))?\s+in\s")


def single_braces_to_jinja(body: str, names: set[str], warnings: list[str]) -> str:
    """``{name}`` → ``{{ name }}`` for parameters and loop variables; anything else stays literal text."""
    known = set(names)
    for match in FOR_VARIABLES.finditer(body):
        known.update(name for name in match.groups() if name)
    left: list[str] = []

    def replace(match: re.Match[str]) -> str:
        root, path, filters = match.groups()
        if root not in known:
            left.append(match.group(0))
            return match.group(0)
        filters = " | " + filters.strip()[1:].strip() if filters else ""
        return "{{ " + root + path + filters + " }}"

    converted = SINGLE_BRACE.sub(replace, body)
    if left:
        warnings.append(
            _("Kept as literal text, as they name no parameter: %(names)s.")
            % {"names": ", ".join(sorted(set(left)))}
        )
    return converted


# --- Handlebars → Jinja2 -------------------------------------------------------------

HANDLEBARS_TAG = re.compile(r"\{\{\{\s*(.*?)\s*\}\}\}|\{\{~?\s*(.*?)\s*~?\}\}", re.DOTALL)
PATH = re.compile(r"^(?:@root\.|(?:\.\./)+)?([A-Za-z_@][\w@]*(?:\.[A-Za-z_]\w*)*)$")


def _jinja_path(path: str, loop_vars: list[str]) -> str | None:
    match = PATH.match(path)
    if not match:
        return None
    path = match.group(1)
    item = loop_vars[-1] if loop_vars else None
    if item:
        if path == "this":
            return item
        if path.startswith("this."):
            return item + path[4:]
        specials = {"@index": "loop.index0", "@first": "loop.first", "@last": "loop.last"}
        if path in specials:
            return specials[path]
    if path.startswith("@") or path == "this":
        return None
    return path


def handlebars_to_jinja(body: str, warnings: list[str]) -> str:
    """Convert the Handlebars a prompt uses (variables, if/unless/else, each, comments) to Jinja2."""
    blocks: list[str] = []
    loop_vars: list[str] = []
    unsupported: list[str] = []

    def replace(match: re.Match[str]) -> str:
        raw = match.group(1) if match.group(1) is not None else match.group(2)
        tag = raw.strip()
        if tag.startswith("!"):
            return "{# " + tag.lstrip("!").strip("- ").strip() + " #}"
        head, _sep, rest = tag.partition(" ")
        rest = rest.strip()
        if head in ("#if", "#unless"):
            condition = _jinja_path(rest, loop_vars)
            if condition is not None:
                blocks.append("if")
                return "{% if " + ("not " if head == "#unless" else "") + condition + " %}"
        elif head == "else" and not rest and blocks:
            return "{% else %}"
        elif head == "else" and rest.startswith("if ") and blocks and blocks[-1] == "if":
            condition = _jinja_path(rest[3:].strip(), loop_vars)
            if condition is not None:
                return "{% elif " + condition + " %}"
        elif head in ("/if", "/unless") and blocks and blocks[-1] == "if":
            blocks.pop()
            return "{% endif %}"
        elif head == "#each":
            source = _jinja_path(rest, loop_vars)
            if source is not None:
                item = "item" if not loop_vars else f"item{len(loop_vars) + 1}"
                blocks.append("each")
                loop_vars.append(item)
                return "{% for " + item + " in " + source + " %}"
        elif head == "/each" and blocks and blocks[-1] == "each":
            blocks.pop()
            loop_vars.pop()
            return "{% endfor %}"
        elif not rest:
            path = _jinja_path(head, loop_vars)
            if path is not None:
                return "{{ " + path + " }}"
        unsupported.append(match.group(0))
        return "{# " + _("not imported") + ": " + tag.replace("#}", "# }") + " #}"

    converted = HANDLEBARS_TAG.sub(replace, body)
    if unsupported:
        warnings.append(
            _("Handlebars that has no Jinja2 equivalent was turned into comments: %(tags)s.")
            % {"tags": ", ".join(dict.fromkeys(unsupported))}
        )
    return converted


# --- Jinja2 → Handlebars -------------------------------------------------------------

JINJA_TAG = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}|\{%-?\s*(.*?)\s*-?%\}|\{#\s*(.*?)\s*#\}", re.DOTALL)
SIMPLE = re.compile(r"^[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*$")


def jinja_to_handlebars(body: str, warnings: list[str], source: str) -> str:
    blocks: list[str] = []
    loop_vars: list[str] = []
    kept: list[str] = []

    def path(expr: str) -> str | None:
        expr = expr.strip()
        if loop_vars:
            item = loop_vars[-1]
            if expr == item:
                return "this"
            if expr.startswith(item + "."):
                return "this" + expr[len(item) :]
            specials = {"loop.index0": "@index", "loop.first": "@first", "loop.last": "@last"}
            if expr in specials:
                return specials[expr]
        return expr if SIMPLE.match(expr) else None

    def replace(match: re.Match[str]) -> str:
        expression, statement, comment = match.groups()
        if comment is not None:
            return "{{! " + comment + " }}"
        if expression is not None:
            converted = path(expression)
            if converted is not None:
                return "{{" + converted + "}}"
        else:
            head, _sep, rest = statement.partition(" ")
            rest = rest.strip()
            if head == "if":
                negated = rest.startswith("not ")
                condition = path(rest[4:] if negated else rest)
                if condition is not None:
                    blocks.append("unless" if negated else "if")
                    return "{{#" + blocks[-1] + " " + condition + "}}"
            elif head == "elif" and blocks and blocks[-1] == "if" and path(rest) is not None:
                return "{{else if " + str(path(rest)) + "}}"
            elif head == "else" and blocks:
                return "{{else}}"
            elif head == "endif" and blocks and blocks[-1] in ("if", "unless"):
                return "{{/" + blocks.pop() + "}}"
            elif head == "for":
                loop = re.fullmatch(r"([A-Za-z_]\w*)\s+in\s+(.+)", rest)
                if loop and path(loop.group(2)) is not None:
                    source_path = str(path(loop.group(2)))
                    blocks.append("each")
                    loop_vars.append(loop.group(1))
                    return "{{#each " + source_path + "}}"
            elif head == "endfor" and blocks and blocks[-1] == "each":
                blocks.pop()
                loop_vars.pop()
                return "{{/each}}"
        kept.append(match.group(0))
        return match.group(0)

    converted = JINJA_TAG.sub(replace, body)
    if kept:
        warnings.append(
            _("Jinja2 that %(source)s's Handlebars can't express was kept as it is: %(tags)s.")
            % {"source": source, "tags": ", ".join(dict.fromkeys(kept))}
        )
    return converted


# --- Chat roles --------------------------------------------------------------------

PROMPTY_ROLE = re.compile(
    r"^[ \t]*(system|user|assistant|developer)(?:\[[^\]\n]*\])?[ \t]*:[ \t]*$", re.M | re.I
)
HANDLEBARS_ROLE = re.compile(r"\{\{\s*role\s+[\"'](\w+)[\"']\s*\}\}", re.I)


def split_roles(body: str, pattern: re.Pattern[str], warnings: list[str]) -> tuple[str, str]:
    """(system prompt, user prompt) from a body with role markers.

    Text before the first marker is the user's; system messages are joined into the system prompt.
    A conversation after the first user message has no place of its own: it stays, markers and all,
    in the prompt body, with a warning."""
    parts = pattern.split(body)
    messages: list[tuple[str, str, str]] = []  # role, text, the marker as written
    if parts[0].strip():
        messages.append(("user", parts[0], ""))
    markers = list(pattern.finditer(body))
    for index, marker in enumerate(markers):
        messages.append((marker.group(1).lower(), parts[2 + index * 2], marker.group(0)))
    system = [text.strip("\n") for role, text, _m in messages if role in ("system", "developer")]
    rest = [(role, text, marker) for role, text, marker in messages if role not in ("system", "developer")]
    if not rest:
        return "\n\n".join(system), ""
    first_role, first_text, _marker = rest[0]
    body_parts = [first_text.strip("\n")]
    if first_role != "user" or len(rest) > 1:
        warnings.append(
            _(
                "The file holds a conversation of several messages; PromptLab sends one system prompt "
                "and one user prompt, so the messages after the first were kept, with their role "
                "markers, in the prompt body."
            )
        )
        body_parts += [marker.strip() + "\n" + text.strip("\n") for _role, text, marker in rest[1:]]
    return "\n\n".join(system), "\n\n".join(part for part in body_parts if part)
