"""Reading YAML and JSON written by anyone, safely: no aliases, nesting that can't
exhaust the stack (a few kilobytes of ``[`` would raise RecursionError in the
parser, or later in whatever walks the value), and every value something the rest
of the code can hold. PyYAML and ``json`` raise bare ``ValueError``s (or worse) on
some well-formed texts: an impossible date such as 2024-02-30, an integer of more
than 4,300 digits (Python's conversion limit), a mapping key that is a number.
Here each of those is a ``yaml.YAMLError`` or ``json.JSONDecodeError`` with the
line and column, as any other syntax error."""

from __future__ import annotations

import json
import re
from typing import Any

import yaml
from django.utils.translation import gettext as _

# Deeper than any schema, template or form value needs, far below Python's limit.
MAX_NESTING = 100
# No setting or value needs more digits; a longer integer is a mistake or an attack
# (Python refuses more than 4,300, and converting a few thousand costs time).
MAX_INTEGER_DIGITS = 100

_STR_TAG = "tag:yaml.org,2002:str"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


class TooDeeplyNested(ValueError):
    """The text nests lists or mappings deeper than ``MAX_NESTING``."""


def _too_long(digits: str) -> str:
    return _("a number of %(digits)d digits (at most %(max)d)") % {
        "digits": len(digits),
        "max": MAX_INTEGER_DIGITS,
    }


class _Loader(yaml.SafeLoader):
    """Safe YAML without aliases (``*name`` would let a small text expand into a huge one),
    with text keys only, bounded integers, and dates kept as the text written."""

    # Our dates are "YYYY-MM-DD" texts: an unquoted date stays that text, so the schema's
    # own checks judge it (and name the parameter) instead of PyYAML's date constructor.
    yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != _TIMESTAMP_TAG]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.events.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, str(_("aliases (*name) are not allowed")), self.peek_event().start_mark
            )
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            self.flatten_mapping(node)
            for key_node, _value in node.value:
                if not (isinstance(key_node, yaml.ScalarNode) and key_node.tag == _STR_TAG):
                    shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else "…"
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        _("the key “%(key)s” must be a text (put it in quotes)") % {"key": str(shown)[:40]},
                        key_node.start_mark,
                    )
        return super().construct_mapping(node, deep=deep)

    def construct_yaml_int(self, node: Any) -> int:
        digits = re.sub(r"[^0-9a-fA-F]", "", str(node.value))
        if len(digits) > MAX_INTEGER_DIGITS:
            raise yaml.constructor.ConstructorError(None, None, _too_long(digits), node.start_mark)
        return super().construct_yaml_int(node)

    def construct_yaml_timestamp(self, node: Any) -> Any:
        # Only an explicit !!timestamp gets here (see the resolvers above).
        try:
            return super().construct_yaml_timestamp(node)
        except ValueError:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                _("“%(value)s” is not a date that exists") % {"value": node.value},
                node.start_mark,
            ) from None


_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)
_Loader.add_constructor(_TIMESTAMP_TAG, _Loader.construct_yaml_timestamp)


def nests_deeper_than(value: Any, limit: int) -> bool:
    """Whether lists and mappings in ``value`` nest more than ``limit`` levels (walked
    without recursion, so any depth can be measured)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def _check_depth(value: Any) -> Any:
    if nests_deeper_than(value, MAX_NESTING):
        raise TooDeeplyNested
    return value


def load_yaml(text: str) -> Any:
    """YAML → value; raises ``yaml.YAMLError`` or ``TooDeeplyNested``."""
    try:
        return _check_depth(yaml.load(text, Loader=_Loader))  # noqa: S506 - a SafeLoader
    except RecursionError:
        raise TooDeeplyNested from None


class _IntegerTooLong(ValueError):
    pass


def _bounded_int(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise _IntegerTooLong(digits)
    return int(digits)


def load_json(text: str, *, parse_constant: Any = None) -> Any:
    """JSON → value; raises ``ValueError`` (``json.JSONDecodeError`` or ``TooDeeplyNested``)."""
    try:
        return _check_depth(json.loads(text, parse_int=_bounded_int, parse_constant=parse_constant))
    except RecursionError:
        raise TooDeeplyNested from None
    except _IntegerTooLong as exc:
        digits = exc.args[0]
        raise json.JSONDecodeError(_too_long(digits.lstrip("-")), text, max(text.find(digits), 0)) from None


def find_nul(value: Any) -> bool:
    """Whether a NUL character (U+0000) is anywhere in a parsed value, keys included:
    PostgreSQL stores it in neither text nor jsonb."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False
