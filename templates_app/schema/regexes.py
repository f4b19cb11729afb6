"""Authors' regular expressions, bounded in size and run with a time limit.

A pattern such as ``(a+)+$`` takes exponential time on "aaaa…!" under Python's
``re``, and anyone (signed in or not) may submit a form. The ``regex`` package
takes a timeout; a value whose check runs out of time is treated as not
matching, so it is refused with the pattern's own message.

Compiling is the other danger: ``regex`` writes out ``a{n}`` as n copies of
``a`` (about 250 bytes each), so ``a{4000000}`` takes a gigabyte and
``a{1000000000}`` kills the process. ``pattern_problem`` refuses large repeat
counts and patterns whose written-out size is too large before anything
compiles them; ``PatternBudget`` then compiles them with ``regex`` (the engine
that runs them) in a child process with a memory and time limit, and bounds
what all of a schema's patterns take together.
"""

from __future__ import annotations

from typing import Any

import regex
from django.conf import settings
from django.utils.translation import gettext as _

# Far more than any sane pattern needs on a form value, small enough that a
# hostile one can't hold a worker.
REGEX_TIMEOUT = 0.1
# regex parses groups recursively (a few frames each): far deeper than any real pattern,
# and far from Python's recursion limit in a web thread that is already deep in a view.
MAX_GROUP_DEPTH = 50
# A repeat such as {2,5}: what follows { for it to be a quantifier rather than a brace.
_QUANTIFIER = regex.compile(r"\{(\d*)(?:(,)(\d*))?\}")
# regex's inline flags, global (?i) or scoped (?i-s:...); x ignores whitespace (so
# a{ 500000 } is a repeat) and V1 lets classes nest: the size count can't follow either.
_INLINE_FLAGS = regex.compile(r"\(\?([a-zA-Z0-9-]*)[:)]")
_REREADING_FLAGS = frozenset("xV")
# A POSIX class inside a class, exactly as regex's parser takes one ([:alpha:], [:^L:],
# [:Script=Latin:]); anything else starting with [: is a plain [ there.
_POSIX_CLASS = regex.compile(
    r"\[:\^?[A-Za-z0-9 &_.-]*"  # [: and a name
    r"(?:[:=](?=[A-Za-z0-9 &_./-]*[A-Za-z0-9&_./-])[A-Za-z0-9 &_./-]*)?"  # :value or =value, not blank
    r":\]"
)
# Memory one pattern's compile may take (a pattern within the size limits needs a few MB),
# and the compiled size of all of one parameter schema's patterns together.
COMPILE_MEMORY_MB = 16
SCHEMA_PATTERNS_MB = 32
# What a stored pattern over the limits becomes (it is valid in browsers too).
NEVER_MATCHES = "(?!)"


def full_match_source(pattern: str) -> str:
    """As HTML's pattern attribute does: the whole value must match."""
    return rf"(?:{pattern})\Z"


def full_match(pattern: str) -> regex.Pattern[str]:
    return regex.compile(full_match_source(pattern))


class _WrittenOutSize:
    """The size of a pattern with its repeats written out, counted as it is read: one
    frame per open group, each [size so far, size of the last atom (what a quantifier
    repeats)]."""

    def __init__(self) -> None:
        self.frames: list[list[int]] = [[0, 0]]

    @property
    def total(self) -> int:
        return sum(frame[0] for frame in self.frames)

    def atom(self, size: int) -> None:
        self.frames[-1][0] += size
        self.frames[-1][1] = size

    def open_group(self) -> None:
        self.frames.append([0, 0])

    def close_group(self) -> None:
        self.atom(self.frames.pop()[0])

    def repeat(self, least: int) -> int:
        """The last atom repeated ``least`` times (a loop, not copies, beyond that); the
        size of the current group so far."""
        frame = self.frames[-1]
        frame[0] += frame[1] * (max(least, 1) - 1)
        frame[1] = 0
        return frame[0]


def _group_problem(pattern: str, i: int, size: _WrittenOutSize) -> str | None:
    """Open the group at ``i``, or say why it can't be read."""
    if (flags := _INLINE_FLAGS.match(pattern, i)) and _REREADING_FLAGS & set(flags[1]):
        return _(
            "“pattern” can't use the inline flags x (verbose) or V (version), which change "
            "how the rest of it is read."
        )
    size.open_group()
    if len(size.frames) > MAX_GROUP_DEPTH + 1:
        return _("“pattern” nests groups more than %(limit)s deep.") % {"limit": MAX_GROUP_DEPTH}
    return None


def _repeat_problem(counts: list[int], max_repeat: int) -> str | None:
    if max(counts) > max_repeat:
        return _("“pattern” repeats something %(count)s times; at most %(limit)s are allowed.") % {
            "count": max(counts),
            "limit": max_repeat,
        }
    return None


def pattern_problem(pattern: str) -> str | None:
    """Why a pattern is too large to compile, or None. Its size is counted with repeats
    written out as ``regex`` writes them (the minimum count; an open maximum such as
    {0,500} compiles to a loop). The pattern is read as ``regex`` reads it by default
    (version 0): inline flags that would make it read the rest differently are refused."""
    max_repeat, max_size = settings.PATTERN_MAX_REPEAT, settings.PATTERN_MAX_SIZE
    size = _WrittenOutSize()
    i = 0
    while i < len(pattern):
        char = pattern[i]
        step = 1
        if char == "\\":
            size.atom(1)
            step = 2
        elif char == "[":
            step = _class_end(pattern, i) - i
            size.atom(step)
        elif pattern.startswith("(?#", i):  # a comment: nothing in it counts
            step = _comment_end(pattern, i) - i
        elif char == "(":
            if problem := _group_problem(pattern, i, size):
                return problem
        elif char == ")" and len(size.frames) > 1:
            size.close_group()
        elif char in "*+?":
            size.repeat(1)
        elif char == "{" and (quantifier := _QUANTIFIER.match(pattern, i)) and any(quantifier.group(1, 3)):
            if problem := _repeat_problem([int(n) for n in quantifier.group(1, 3) if n], max_repeat):
                return problem
            if size.repeat(int(quantifier.group(1) or 0)) > max_size:
                break
            step = quantifier.end() - i
        else:
            size.atom(1)
        i += step
    total = size.total
    if total > max_size:
        return _(
            "“pattern” is too large: with its repeats written out it has %(size)s parts; "
            "at most %(limit)s are allowed."
        ) % {"size": total if total < 10 * max_size else f"> {10 * max_size}", "limit": max_size}
    return None


def _class_end(pattern: str, start: int) -> int:
    """The index after the ] that closes the [ at ``start``, as regex's version 0 reads a
    class: a ] first (after any ^) is a member, a [ is a member unless it opens a POSIX
    class such as [:alpha:], and classes don't nest."""
    i = start + 1
    if pattern.startswith("^", i):
        i += 1
    first = True
    while i < len(pattern):
        if pattern[i] == "\\":
            i += 2
        elif posix := _POSIX_CLASS.match(pattern, i):
            i = posix.end()
        elif pattern[i] == "]" and not first:
            return i + 1
        else:
            i += 1
        first = False
    return len(pattern)


def _comment_end(pattern: str, start: int) -> int:
    """The index after the ) that ends the (?# comment at ``start`` (a \\ escapes one)."""
    i = start + 3
    while i < len(pattern) and pattern[i] != ")":
        i += 2 if pattern[i] == "\\" else 1
    return min(i + 1, len(pattern))


class PatternBudget:
    """The compiled size one parameter schema's patterns may still take. Each check
    compiles its patterns with ``regex`` in a render process, bounded in time and to
    ``COMPILE_MEMORY_MB`` each, and counts the size they compiled to: the forms and
    validators built from the schema keep them all in the web process."""

    def __init__(self) -> None:
        self.left = SCHEMA_PATTERNS_MB * 2**20

    def compile_problem(self, sources: list[str]) -> str | None:
        """Why one of ``sources`` can't be used (the engine's error, the limit it reached),
        or None; the sources are compiled together, in one request."""
        from templates_app import isolation
        from templates_app.rendering import render_limits

        if not sources:
            return None
        request = ("compile_regexes", sources, COMPILE_MEMORY_MB)
        try:
            sizes = isolation.run(request, render_limits(), settings.RENDER_PROCESSES)
        except isolation.Refused as exc:
            if exc.kind == "limit":
                return _compile_limit_message(exc.answer["limit"], exc.answer["value"])
            return _("“pattern” is not a valid regular expression: %(problem)s.") % {"problem": exc}
        except isolation.IsolationError as exc:
            return _compile_limit_message(exc.limit, exc.value)
        self.left -= sum(sizes)
        if self.left < 0:
            return _(
                "“pattern” brings the parameter schema's patterns to more than %(value)s MB once "
                "compiled; use fewer or smaller patterns."
            ) % {"value": SCHEMA_PATTERNS_MB}
        return None


def _compile_limit_message(limit: str, value: float) -> str:
    messages = {
        "seconds": _("“pattern” took longer than %(value)s seconds to compile."),
        "memory_mb": _("“pattern” needs more than %(value)s MB to compile."),
        "recursion": _("“pattern” nests groups too deeply."),
    }
    message = messages.get(limit, _("“pattern” could not be checked just now; try again in a moment."))
    return message % {"value": f"{value:g}"}


def matches(pattern: regex.Pattern[str], text: str) -> bool:
    try:
        return pattern.match(text, timeout=REGEX_TIMEOUT) is not None
    except TimeoutError:
        return False


# --- JSON Schema's pattern keywords, with the same limit ---------------------


def _searches(pattern: str, text: str) -> bool:
    """Raises TimeoutError: each keyword below turns that into an error for the value."""
    return regex.search(pattern, text, timeout=REGEX_TIMEOUT) is not None


def _too_slow(pattern: str, text: str) -> Any:
    from jsonschema.exceptions import ValidationError

    return ValidationError(f"{text[:40]!r} took too long to check against {pattern!r}")


def _pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    from jsonschema.exceptions import ValidationError

    if not validator.is_type(instance, "string"):
        return
    try:
        if not _searches(pattern, instance):
            yield ValidationError(f"{instance!r} does not match {pattern!r}")
    except TimeoutError:
        yield _too_slow(pattern, instance)


def _pattern_properties(validator: Any, pattern_properties: Any, instance: Any, schema: Any) -> Any:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in pattern_properties.items():
        for key, value in instance.items():
            try:
                found = _searches(pattern, key)
            except TimeoutError:
                yield _too_slow(pattern, key)
                return
            if found:
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(validator: Any, additional: Any, instance: Any, schema: Any) -> Any:
    from jsonschema.exceptions import ValidationError

    if not validator.is_type(instance, "object"):
        return
    properties = schema.get("properties", {})
    extras = []
    for key in instance:
        if key in properties:
            continue
        try:
            if any(_searches(pattern, key) for pattern in schema.get("patternProperties", {})):
                continue
        except TimeoutError:
            yield ValidationError(f"{key[:40]!r} took too long to check against patternProperties")
            return
        extras.append(key)
    extras.sort(key=str)
    if validator.is_type(additional, "object"):
        for extra in extras:
            yield from validator.descend(instance[extra], additional, path=extra)
    elif not additional and extras:
        yield ValidationError(f"Additional properties are not allowed ({', '.join(map(repr, extras))})")


def json_schema_validator(schema: Any) -> Any:
    """A Draft 2020-12 validator whose regular expressions run under the time limit.

    ``unevaluatedProperties`` next to ``patternProperties`` would still use ``re``:
    authoring refuses that pair (see ``parsing._check_json_schema``)."""
    from jsonschema import Draft202012Validator, validators

    cls = validators.extend(
        Draft202012Validator,
        {
            "pattern": _pattern,
            "patternProperties": _pattern_properties,
            "additionalProperties": _additional_properties,
        },
    )
    return cls(schema)
