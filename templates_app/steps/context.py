"""What a step's Jinja strings see when they run."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

# Names a step's context gives beside the parameters: a parameter can't take them.
CONTEXT_NAMES = frozenset({"inputs", "steps", "item", "item_index"})


@dataclass(frozen=True)
class StepContext:
    """The inputs of a run and the results of its finished steps, by name
    (``{"output": value, "skipped": bool}``; see ``result`` and ``skipped``); in one item
    of a ``for_each`` step, the item and its index (from 0)."""

    inputs: dict[str, Any]
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    item: Any = None
    item_index: int | None = None

    @staticmethod
    def result(output: Any) -> dict[str, Any]:
        """A finished step's entry in ``outputs``."""
        return {"output": output, "skipped": False}

    @staticmethod
    def skipped() -> dict[str, Any]:
        """A skipped step's entry in ``outputs``: its output is None."""
        return {"output": None, "skipped": True}

    def for_item(self, item: Any, index: int) -> StepContext:
        return replace(self, item=item, item_index=index)

    def variables(self, visible: frozenset[str], *, with_item: bool) -> dict[str, Any]:
        """The Jinja context: the bare parameter names, ``inputs``, ``steps`` (only those in
        ``visible``, the step's needs closure: what save-time checks let it refer to) and,
        when ``with_item``, ``item`` and ``item_index``."""
        variables = dict(self.inputs)
        variables["inputs"] = dict(self.inputs)
        variables["steps"] = {
            name: {"output": entry.get("output"), "skipped": bool(entry.get("skipped"))}
            for name, entry in self.outputs.items()
            if name in visible
        }
        if with_item:
            variables["item"] = self.item
            variables["item_index"] = self.item_index
        return variables
