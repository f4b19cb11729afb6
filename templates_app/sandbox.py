"""A Jinja2 sandbox that refuses work too large to be a prompt.

Jinja2's sandbox keeps templates away from Python internals but lets them ask
for any amount of work: ``range(100000)`` nested twice, ``'x' * 10**9``,
``9 ** (9 ** 7)``, a ``join`` whose result is gigabytes. This environment checks
the size of each such result *before* computing it and raises ``LimitExceeded``
naming the limit. It is a first line only: what it cannot foresee (a text
doubled with ``~`` in a loop, a slow loop over many small items) is stopped by
the process it runs in (see ``isolation``), which has a memory limit and is
killed when it runs out of time.

Pure Jinja2 and ``regex``, no Django: the render processes import only this.
"""

from __future__ import annotations

import math
import re
import string
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment


@dataclass(frozen=True)
class Limits:
    """What one render may do. ``seconds`` and ``memory_mb`` are enforced on the process
    that renders (``isolation``); the rest by the environment below."""

    seconds: float = 2.0
    memory_mb: int = 256
    max_output: int = 1_000_000  # characters of output, and of any text or list built on the way
    max_range: int = 10_000  # items of one range()
    max_digits: int = 4300  # digits of an integer (Python's own limit for printing one)


class LimitExceeded(Exception):
    """A render asked for more than a limit allows; ``limit`` names which one."""

    def __init__(self, limit: str, value: float) -> None:
        super().__init__(f"{limit} limit ({value}) exceeded")
        self.limit = limit
        self.value = value


_SIZED = (str, bytes, list, tuple)
_LOG2_10 = math.log2(10)
# printf-style conversions: %[(name)][flags][width][.precision]type
_PERCENT_FIELD = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")


class BoundedSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, limits: Limits) -> None:
        super().__init__(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
        self.limits = limits
        self.globals["range"] = self._range
        self.globals["lipsum"] = self._lipsum
        for name in ("join", "center", "indent", "replace", "format", "wordwrap", "batch", "slice"):
            self.filters[name] = _bounded_filter(self, name, self.filters[name])

    # --- sizes ---------------------------------------------------------------

    def check_size(self, size: float) -> None:
        if size > self.limits.max_output:
            raise LimitExceeded("max_output", self.limits.max_output)

    def check_bits(self, bits: float) -> None:
        if bits / _LOG2_10 > self.limits.max_digits:
            raise LimitExceeded("max_digits", self.limits.max_digits)

    def _range(self, *args: int) -> range:
        result = range(*args)
        if len(result) > self.limits.max_range:
            raise LimitExceeded("max_range", self.limits.max_range)
        return result

    def _lipsum(self, n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:  # noqa: A002
        from jinja2.utils import generate_lorem_ipsum

        if _is_int(n) and _is_int(max):
            self.check_size(n * max * 12)  # a word and its space are at most ~12 characters
        return generate_lorem_ipsum(n=n, html=html, min=min, max=max)

    # --- operators -----------------------------------------------------------

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            self._check_product(left, right)
        elif operator == "**":
            self._check_power(left, right)
        elif operator == "+":
            if isinstance(left, _SIZED) and isinstance(right, _SIZED):
                self.check_size(len(left) + len(right))
            elif _is_int(left) and _is_int(right):
                self.check_bits(max(abs(left).bit_length(), abs(right).bit_length()) + 1)
        elif operator == "%" and isinstance(left, str):
            self._check_percent_format(left)
        return super().call_binop(context, operator, left, right)

    def _check_product(self, left: Any, right: Any) -> None:
        if isinstance(left, _SIZED) and _is_int(right):
            self.check_size(len(left) * right)
        elif _is_int(left) and isinstance(right, _SIZED):
            self.check_size(left * len(right))
        elif _is_int(left) and _is_int(right):
            self.check_bits(abs(left).bit_length() + abs(right).bit_length())

    def _check_power(self, base: Any, exponent: Any) -> None:
        if _is_int(base) and _is_int(exponent) and exponent > 0 and abs(base) > 1:
            self.check_bits(exponent * math.log2(abs(base)))

    def _check_percent_format(self, template: str) -> None:
        for match in _PERCENT_FIELD.finditer(template):
            for number in match.groups():
                if number == "*":
                    raise LimitExceeded("max_output", self.limits.max_output)
                if number is not None:
                    self.check_size(int(number))

    def check_format_spec(self, template: str) -> None:
        """Widths and precisions in ``str.format`` fields; a width taken from an argument
        (``{:{w}}``) could be anything, so it is refused."""
        for _text, _field, spec, _conversion in string.Formatter().parse(template):
            if not spec:
                continue
            if "{" in spec:
                raise LimitExceeded("max_output", self.limits.max_output)
            for number in _DIGITS.findall(spec):
                self.check_size(int(number))

    # --- calls -----------------------------------------------------------------

    def wrap_str_format(self, value: Any) -> Any:
        wrapper = super().wrap_str_format(value)
        if wrapper is not None:
            self.check_format_spec(value.__self__)
        return wrapper

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            if __obj.__name__ == "join" and args:
                args = (_materialized(args[0]), *args[1:])  # measured, then joined: read it once
            __self._check_str_method(owner, __obj.__name__, args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def _check_str_method(self, text: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        first = args[0] if args else next(iter(kwargs.values()), None)
        if name in ("ljust", "rjust", "center", "zfill") and _is_int(first):
            self.check_size(first)
        elif name == "expandtabs":
            self.check_size(len(text) + text.count("\t") * (first if _is_int(first) else 8))
        elif name == "replace" and len(args) >= 2:
            self.check_size(_replaced_size(text, str(args[0]), str(args[1])))
        elif name == "join" and first is not None:
            self.check_size(_joined_size(text, first))
        elif name == "translate" and isinstance(first, dict):
            longest = max((len(v) for v in first.values() if isinstance(v, str)), default=1)
            self.check_size(len(text) * longest)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _replaced_size(text: str, old: str, new: str) -> int:
    occurrences = len(text) + 1 if old == "" else text.count(old)
    return len(text) + occurrences * (len(new) - len(old))


def _materialized(items: Any) -> Any:
    """A sequence with the items of ``items``: a generator (``map``, ``select`` …) can be
    read only once, and its size must be known before it is joined."""
    return items if isinstance(items, list | tuple | str) else list(items)


def _joined_size(separator: str, items: list[Any] | tuple[Any, ...] | str) -> int:
    lengths = sum(len(item) if isinstance(item, str) else len(str(item)) for item in items)
    return lengths + len(separator) * max(len(items) - 1, 0)


def _bounded_filter(env: BoundedSandbox, name: str, original: Any) -> Any:
    """The built-in filter, after a check of the size of what it would build."""

    def check(value: Any, *args: Any, **kwargs: Any) -> None:
        first = args[0] if args else next(iter(kwargs.values()), None)
        if name == "join":
            separator = first if isinstance(first, str) else ""
            env.check_size(_joined_size(separator, value))
        elif name == "center" and _is_int(first):
            env.check_size(first)
        elif name == "indent":
            width = len(first) if isinstance(first, str) else first if _is_int(first) else 4
            env.check_size(len(str(value)) + str(value).count("\n") * width + width)
        elif name == "replace" and len(args) >= 2:
            env.check_size(_replaced_size(str(value), str(args[0]), str(args[1])))
        elif name == "format" and isinstance(value, str):
            env._check_percent_format(value)
        elif name == "wordwrap":
            wrapstring = args[3] if len(args) > 3 else kwargs.get("wrapstring")
            text = str(value)
            env.check_size(
                len(text) + (len(text) + 1) * len(wrapstring if isinstance(wrapstring, str) else "\n")
            )
        elif name in ("batch", "slice") and _is_int(first):
            env.check_size(first)  # the number of items (batch) or of lists (slice) it makes

    if getattr(original, "jinja_pass_arg", None) is not None:  # the filter takes the environment first

        def bounded(first_arg: Any, value: Any, *args: Any, **kwargs: Any) -> Any:
            value = _materialized(value) if name == "join" else value
            check(value, *args, **kwargs)
            return original(first_arg, value, *args, **kwargs)

        bounded.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    else:

        def bounded(value: Any, *args: Any, **kwargs: Any) -> Any:
            value = _materialized(value) if name == "join" else value
            check(value, *args, **kwargs)
            return original(value, *args, **kwargs)

    return bounded


# --- Rendering -----------------------------------------------------------------


@lru_cache(maxsize=8)
def environment(limits: Limits) -> BoundedSandbox:
    return BoundedSandbox(limits)


# Per render process, whose memory is limited: a few dozen hot bodies, not every body seen.
@lru_cache(maxsize=64)
def _compiled(limits: Limits, source: str) -> Any:
    return environment(limits).from_string(source)


def render(source: str, inputs: dict[str, Any], limits: Limits) -> str:
    """Render ``source``; raises ``LimitExceeded`` or Jinja2's and Python's own errors."""
    chunks: list[str] = []
    size = 0
    # generate() yields output as it is produced, so a long output stops at the limit
    # instead of being built whole first.
    for chunk in _compiled(limits, source).generate(inputs):
        size += len(chunk)
        if size > limits.max_output:
            raise LimitExceeded("max_output", limits.max_output)
        chunks.append(chunk)
    return "".join(chunks)


def referenced_names(source: str, limits: Limits) -> list[str]:
    """The variables ``source`` reads from its context. Compiling folds constants (it
    calls filters on literals), so this runs where rendering does, under its limits."""
    return sorted(meta.find_undeclared_variables(environment(limits).parse(source)))


# --- Workflow steps: expressions, and what a source refers to ------------------------


@lru_cache(maxsize=64)
def _compiled_expression(limits: Limits, source: str) -> Any:
    return environment(limits).compile_expression(source, undefined_to_none=False)


def evaluate(source: str, context: dict[str, Any], limits: Limits) -> Any:
    """The value of the Jinja expression ``source`` (a step's transform, ``when`` or
    ``for_each``) as plain JSON data: it crosses back to the web process as JSON, and a
    transform's value is stored as JSON."""
    return _json_value(_compiled_expression(limits, source)(**context), limits, [0])


def _json_value(value: Any, limits: Limits, size: list[int]) -> Any:
    from collections.abc import Iterable, Mapping

    from jinja2 import Undefined

    if isinstance(value, Undefined):
        value._fail_with_undefined_error()  # raises StrictUndefined's error, naming the name
    size[0] += 1
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ValueError(f"{value} is not a JSON number")
        return value
    if isinstance(value, str):  # Markup too: the text it holds
        size[0] += len(value)
        if size[0] > limits.max_output:
            raise LimitExceeded("max_output", limits.max_output)
        return str(value)
    if size[0] > limits.max_output:
        raise LimitExceeded("max_output", limits.max_output)
    if isinstance(value, Mapping):
        return {str(key): _json_value(item, limits, size) for key, item in value.items()}
    if isinstance(value, Iterable) and not isinstance(value, bytes | bytearray):
        # lists, tuples, and what filters give lazily (map, select, a dict's values …)
        return [_json_value(item, limits, size) for item in value]
    raise ValueError(f"a value of type {type(value).__name__} is not JSON data")


def analyze(sources: list[tuple[str, bool]], limits: Limits) -> list[dict[str, Any]]:
    """For each ``(source, is_expression)``: the names it reads from its context and the
    names it reads as ``steps.<name>`` and ``inputs.<name>``, or the error that stops it
    compiling. Compiling folds constants (as in ``referenced_names``), so this runs under
    the render limits; each source answers alone, so every one's error can be shown."""
    from jinja2 import TemplateError

    answers: list[dict[str, Any]] = []
    for source, is_expression in sources:
        try:
            answers.append(_references(source, is_expression, limits))
        except LimitExceeded as exc:
            answers.append({"error": "limit", "limit": exc.limit, "value": exc.value})
        except TemplateError as exc:
            answers.append(
                {
                    "error": "template",
                    "message": exc.message or type(exc).__name__,
                    "line": getattr(exc, "lineno", None),
                }
            )
    return answers


def _references(source: str, is_expression: bool, limits: Limits) -> dict[str, Any]:
    from jinja2 import TemplateSyntaxError, nodes
    from jinja2.parser import Parser

    env = environment(limits)
    if is_expression:
        # As Environment.compile_expression builds it: ``result = <expression>``.
        parser = Parser(env, source, state="variable")
        expression = parser.parse_expression()
        if not parser.stream.eos:
            raise TemplateSyntaxError("chunk after expression", parser.stream.current.lineno, None, None)
        tree = nodes.Template([nodes.Assign(nodes.Name("result", "store"), expression, lineno=1)], lineno=1)
        tree.set_environment(env)
    else:
        tree = env.parse(source)
    names = sorted(meta.find_undeclared_variables(tree))
    found: dict[str, set[str]] = {"steps": set(), "inputs": set()}
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        owner = node.node
        if not (isinstance(owner, nodes.Name) and owner.ctx == "load" and owner.name in found):
            continue
        if isinstance(node, nodes.Getattr):
            found[owner.name].add(node.attr)
        elif isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            found[owner.name].add(node.arg.value)
    return {"names": names, "steps": sorted(found["steps"]), "inputs": sorted(found["inputs"])}
