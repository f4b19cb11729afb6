"""JSON Schema references that loop: ``{"$ref": "#"}`` applies the schema to the same
value again, forever (jsonschema recurses until Python's stack runs out, on every
submitted value). A loop is harmless only when some step on it moves into a part of
the value (``properties``, ``items``…), which is finite; this finds the loops that
never do."""

from __future__ import annotations

from typing import Any

# Keywords that apply their subschemas to the very same value ("in place").
_IN_PLACE_LISTS = ("allOf", "anyOf", "oneOf")
_IN_PLACE_SCHEMAS = ("not", "if", "then", "else")
_REFS = ("$ref", "$dynamicRef")


def endless_reference(schema: Any, lookup: Any) -> str | None:
    """The first reference that leads back to a schema already applied to the same
    value, or None. ``lookup(ref)`` returns the subschema a ``#…`` reference names
    (raising for one it can't find, which is reported elsewhere)."""
    finished: set[int] = set()

    def in_place(node: dict[str, Any]) -> list[tuple[Any, str | None]]:
        children: list[tuple[Any, str | None]] = []
        for key in _IN_PLACE_LISTS:
            if isinstance(node.get(key), list):
                children += [(child, None) for child in node[key]]
        children += [(node[key], None) for key in _IN_PLACE_SCHEMAS if key in node]
        if isinstance(node.get("dependentSchemas"), dict):
            children += [(child, None) for child in node["dependentSchemas"].values()]
        for key in _REFS:
            ref = node.get(key)
            if isinstance(ref, str) and ref.startswith("#"):
                try:
                    children.append((lookup(ref), ref))
                except Exception:  # noqa: BLE001 - an unresolvable reference is reported by the caller
                    continue
        return children

    def visit(node: Any, applying: list[int]) -> str | None:
        if not isinstance(node, dict) or id(node) in finished:
            return None
        applying.append(id(node))
        for child, ref in in_place(node):
            if isinstance(child, dict) and id(child) in applying:
                return ref or "#"
            found = visit(child, applying)
            if found is not None:
                return found
        applying.pop()
        finished.add(id(node))
        return None

    # Every subschema is a starting point: a loop may sit under "properties" too.
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            found = visit(node, [])
            if found is not None:
                return found
            stack.extend(value for key, value in node.items() if key not in SCHEMA_DATA_KEYS)
        elif isinstance(node, list):
            stack.extend(node)
    return None


# Keywords whose values are data, not schemas: walks of a schema skip them.
SCHEMA_DATA_KEYS = frozenset({"const", "enum", "default", "examples"})
