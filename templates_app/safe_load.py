"""Reading YAML and JSON written by anyone, safely: no aliases, and nesting that
can't exhaust the stack (a few kilobytes of ``[`` would raise RecursionError in
the parser, or later in whatever walks the value)."""

from __future__ import annotations

import json
from typing import Any

import yaml
from django.utils.translation import gettext as _

# Deeper than any schema, template or form value needs, far below Python's limit.
MAX_NESTING = 100


class TooDeeplyNested(ValueError):
    """The text nests lists or mappings deeper than ``MAX_NESTING``."""


class _Loader(yaml.SafeLoader):
    """Safe YAML without aliases: ``*name`` would let a small text expand into a huge one."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.events.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, str(_("aliases (*name) are not allowed")), self.peek_event().start_mark
            )
        return super().compose_node(parent, index)


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


def load_json(text: str) -> Any:
    """JSON → value; raises ``ValueError`` (``json.JSONDecodeError`` or ``TooDeeplyNested``)."""
    try:
        return _check_depth(json.loads(text))
    except RecursionError:
        raise TooDeeplyNested from None
