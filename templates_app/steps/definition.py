"""One step's definition as written (YAML or JSON) → the canonical values, or its problems."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _

from ..model_choices import MODEL_MAX_LENGTH, PROVIDER_MAX_LENGTH
from ..schema.regexes import PatternBudget
from ..schema.types.json_value import check_json_schema
from .errors import StepProblem, where
from .kinds import STEP_KINDS, Step

KEYS = (
    "name", "kind", "body", "system_prompt", "model_settings", "needs", "when", "for_each", "parallel",
    "output", "schema",
)  # fmt: skip
NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
# ``steps.items`` would be the dict's method, not the step, in Jinja (attributes come first).
RESERVED_NAMES = frozenset(name for name in dir(dict) if not name.startswith("_"))
MAX_PARALLEL = 50
DEFAULT_PARALLEL = 4
MODEL_SETTING_KEYS = ("provider", "model", "temperature", "max_tokens")
OUTPUTS = ("text", "json")
_PROVIDER = re.compile(r"[-a-zA-Z0-9_]+")
_MODEL = re.compile(r"[^\s\x00-\x1f\x7f/][^\s\x00-\x1f\x7f]*")


class Problems:
    """Collects one step's problems, each message prefixed with the step's name."""

    def __init__(self, step: str | None, label: str, into: list[StepProblem]) -> None:
        self.step = step
        self.label = label
        self.into = into
        self.field = ""
        self.errors: list[str] = []  # this collector's messages (the json schema checks count them)

    def add(self, message: str, **params: Any) -> None:
        text = f"{self.label}: {message % params if params else message}"
        self.errors.append(text)
        self.into.append(StepProblem(self.step, self.field, text))

    def on(self, field_name: str) -> Problems:
        """The same collector, for messages about ``field_name``."""
        other = Problems(self.step, self.label, self.into)
        other.field = field_name
        return other


def step_label(raw: Any, index: int) -> tuple[str | None, str]:
    """(the step's name, the prefix of its messages). A name that can't be one is None, but
    still shown as written when it is short text (the author finds the step by it); with
    no such text, the step is shown by its position (“Step 3”)."""
    name = raw.get("name") if isinstance(raw, dict) else None
    if isinstance(name, str) and NAME.fullmatch(name):
        return name, where(name)
    if isinstance(name, str) and name.strip() and len(name) <= 60 and name.isprintable():
        return None, where(name)
    return None, str(_("Step %(number)d") % {"number": index + 1})


def read_step(raw: Any, index: int, into: list[StepProblem], budget: PatternBudget | None) -> Step | None:
    """The step ``raw`` defines (its closure not yet known), or None after adding its
    problems. ``budget`` bounds its schema's patterns as a json parameter's (None: not
    compiled, for a definition checked before)."""
    name, label = step_label(raw, index)
    problems = Problems(name, label, into)
    before = len(into)
    if not isinstance(raw, dict):
        problems.add(_("a step must be a mapping of keys such as name, kind and body."))
        return None
    unknown = [str(key) for key in raw if key not in KEYS]
    if unknown:
        problems.add(
            _("unknown key(s) %(keys)s; a step may have %(allowed)s."),
            keys=", ".join(sorted(unknown)),
            allowed=", ".join(KEYS),
        )
    _check_name(raw.get("name"), problems.on("name"))
    kind_name = raw.get("kind", "prompt")
    kind = STEP_KINDS.get(kind_name) if isinstance(kind_name, str) else None
    if kind is None:
        problems.on("kind").add(_("“kind” must be one of %(kinds)s."), kinds=", ".join(STEP_KINDS))
        kind = STEP_KINDS["prompt"]
    texts = {key: _text(raw, key, problems.on(key)) for key in ("body", "system_prompt", "when", "for_each")}
    if not texts["body"].strip():
        message = (
            _("“body” must be a Jinja expression.") if kind.body_is_expression else _("“body” is empty.")
        )
        problems.on("body").add(message)
    for key in sorted(kind.refused_keys):
        if raw.get(key) not in (None, "", {}):
            problems.on(key).add(_("a %(kind)s step has no “%(key)s”."), kind=kind.kind, key=key)
    needs = _needs(raw.get("needs", []), problems.on("needs"))
    parallel = _parallel(raw, bool(texts["for_each"].strip()), problems.on("parallel"))
    output = raw.get("output", "text")
    if output not in OUTPUTS:
        problems.on("output").add(_("“output” must be text or json."))
    elif output == "json" and not kind.may_output_json:
        problems.on("output").add(
            _("a %(kind)s step's value is JSON already: leave “output” out."), kind=kind.kind
        )
    schema = raw.get("schema")
    if schema is not None:
        if output != "json":
            problems.on("schema").add(_("“schema” needs “output: json”."))
        else:
            check_json_schema(schema, problems.on("schema"), budget)
    model_settings = _model_settings(raw.get("model_settings", {}), problems.on("model_settings"))
    if len(into) > before or name is None:
        return None
    return kind(
        name=name,
        body=texts["body"],
        system_prompt=texts["system_prompt"],
        model_settings=model_settings,
        needs=needs,
        when=texts["when"].strip(),
        for_each=texts["for_each"].strip(),
        parallel=parallel,
        output=output,
        schema=schema,
    )


def _check_name(name: Any, problems: Problems) -> None:
    if not isinstance(name, str) or not NAME.fullmatch(name):
        problems.add(
            _("“name” must start with a small letter and hold at most 40 small letters, digits and _.")
        )
    elif name in RESERVED_NAMES:
        problems.add(
            _("“%(name)s” can't name a step (in Jinja it is a method of the list of steps)."), name=name
        )


def _text(raw: dict[str, Any], key: str, problems: Problems) -> str:
    value = raw.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        problems.add(_("“%(key)s” must be a text."), key=key)
        return ""
    return value


def _needs(value: Any, problems: Problems) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        problems.add(_("“needs” must be a list of step names."))
        return ()
    return tuple(dict.fromkeys(value))  # the order written, each once


def _parallel(raw: dict[str, Any], has_for_each: bool, problems: Problems) -> int | None:
    value = raw.get("parallel")
    if value is None:
        return DEFAULT_PARALLEL if has_for_each else None
    if not has_for_each:
        problems.add(_("“parallel” needs “for_each”."))
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PARALLEL:
        problems.add(_("“parallel” must be a whole number from 1 to %(max)d."), max=MAX_PARALLEL)
        return None
    return value


def _model_settings(value: Any, problems: Problems) -> dict[str, Any]:
    """The step's own model settings: a subset of the version's, with the same bounds."""
    from ..models import field_bounds  # the models import this package

    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.add(_("“model_settings” must be a mapping of %(keys)s."), keys=", ".join(MODEL_SETTING_KEYS))
        return {}
    unknown = [str(key) for key in value if key not in MODEL_SETTING_KEYS]
    if unknown:
        problems.add(
            _("“model_settings” may hold only %(keys)s, not %(unknown)s."),
            keys=", ".join(MODEL_SETTING_KEYS),
            unknown=", ".join(sorted(unknown)),
        )
    provider, model = value.get("provider"), value.get("model")
    if provider is not None and not (
        isinstance(provider, str) and _PROVIDER.fullmatch(provider) and len(provider) <= PROVIDER_MAX_LENGTH
    ):
        problems.add(
            _("“provider” must be a provider's name (letters, digits, - and _, at most %(max)d)."),
            max=PROVIDER_MAX_LENGTH,
        )
    if model is not None and not (
        isinstance(model, str) and _MODEL.fullmatch(model) and len(model) <= MODEL_MAX_LENGTH
    ):
        problems.add(
            _("“model” must be a model's name without spaces, at most %(max)d characters."),
            max=MODEL_MAX_LENGTH,
        )
    temperature = value.get("temperature")
    if temperature is not None:
        lowest, highest = field_bounds("temperature")
        number = _decimal(temperature)
        if number is None or not lowest <= number <= highest or number.as_tuple().exponent < -2:  # type: ignore[operator]
            problems.add(
                _("“temperature” must be a number from %(min)s to %(max)s with at most 2 decimals."),
                min=lowest,
                max=highest,
            )
    max_tokens = value.get("max_tokens")
    if max_tokens is not None:
        lowest, highest = field_bounds("max_tokens")
        if (
            isinstance(max_tokens, bool)
            or not isinstance(max_tokens, int)
            or not lowest <= max_tokens <= highest
        ):
            problems.add(
                _("“max_tokens” must be a whole number from %(min)d to %(max)d."), min=lowest, max=highest
            )
    settings = {key: value[key] for key in MODEL_SETTING_KEYS if value.get(key) is not None}
    # "0.3", as the API writes a version's; only once checked: a string that is no number
    # is a problem named above, not a ValueError (a 500 on the API).
    if isinstance(settings.get("temperature"), str) and not problems.errors:
        settings["temperature"] = float(settings["temperature"])
    return settings


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return None
    return number if number.is_finite() else None
