"""Authors' regular expressions, run with a time limit.

A pattern such as ``(a+)+$`` takes exponential time on "aaaa…!" under Python's
``re``, and anyone (signed in or not) may submit a form. The ``regex`` package
takes a timeout; a value whose check runs out of time is treated as not
matching, so it is refused with the pattern's own message.
"""

from __future__ import annotations

from typing import Any

import regex

# Far more than any sane pattern needs on a form value, small enough that a
# hostile one can't hold a worker.
REGEX_TIMEOUT = 0.1


def full_match(pattern: str) -> regex.Pattern[str]:
    """As HTML's pattern attribute does: the whole value must match."""
    return regex.compile(rf"(?:{pattern})\Z")


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
