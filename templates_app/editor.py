"""The template editor's form: a version's content, with the schema (and a workflow's
steps) as YAML or JSON. The live preview is ``editor_preview``.

One form serves the site's editor and the admin's, so both show the same
errors in the same place: schema errors under the schema (each names its
parameter), step errors under the steps (each names its step), theme errors
under the theme, and custom CSS refused for non-staff.
"""

from __future__ import annotations

from typing import Any

import yaml
from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import HttpRequest, QueryDict
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from workspaces.current import default_for
from workspaces.models import Membership, Role, Workspace

from .code_text import CodeTextError, dump_code_text, load_code_text
from .embedding import normalize_origins, origins_from_text
from .model_choices import allowed_models_errors, allowed_models_from_text
from .models import (
    CONTENT_FIELDS,
    SavedContent,
    Template,
    TemplateVersion,
    ThemeLogo,
    field_bounds,
    model_setting_defaults,
)
from .schema import ParameterSchema, SchemaError
from .schema.parsing import NAME_PATTERN
from .steps_text import parse_steps_text, steps_to_text
from .theme import (
    COLOUR_KEYS,
    DEFAULT_LIGHT,
    FONT_STACKS,
    MAX_COLOUR_LENGTH,
    MAX_FONT_LENGTH,
    MAX_LOGO_BYTES,
    MAX_RADIUS,
    ThemeError,
    custom_css_errors,
    logo_digest,
    parse_theme,
)

SCHEMA_FORMATS = (("yaml", "YAML"), ("json", "JSON"))
# The label of each of the theme's colours (theme.COLOUR_KEYS); the dark palette's say so.
COLOUR_LABELS = {
    "primary": _("Primary colour"),
    "primary_text": _("Button text colour"),
    "background": _("Background colour"),
    "text": _("Text colour"),
}
assert tuple(COLOUR_LABELS) == COLOUR_KEYS


# How a person reads a parameter: what it is first, then its constraints. (PostgreSQL's
# jsonb does not keep key order, so the stored order is no guide.)
KEY_ORDER = ("name", "type", "label", "help", "placeholder", "required", "default")
KEY_ORDER += ("group", "order", "hidden")


def _readable(parameter: Any) -> Any:
    if not isinstance(parameter, dict):
        return parameter
    first = {key: parameter[key] for key in KEY_ORDER if key in parameter}
    return first | {key: value for key, value in parameter.items() if key not in first}


def schema_to_text(parameters: list[Any], fmt: str) -> str:
    if not parameters:
        return "[]\n" if fmt == "json" else ""
    return dump_code_text([_readable(parameter) for parameter in parameters], fmt)


MAX_SCHEMA_TEXT = 200_000


def parse_schema_text(text: str, fmt: str) -> tuple[list[Any], list[str]]:
    """The parameter list from YAML or JSON text, and the problems found (each naming the parameter)."""
    if not text.strip():
        return [], []
    try:
        data = load_code_text(
            text,
            fmt,
            max_length=MAX_SCHEMA_TEXT,
            too_long=str(_("The schema is limited to %(max)d characters.")),
            too_deep=str(_("The schema is nested too deeply.")),
        )
    except CodeTextError as exc:
        return [], [str(exc)]
    if data is None:
        data = []
    if not isinstance(data, list):
        return [], [str(_("The schema must be a list of parameters (a YAML list, or a JSON array)."))]
    try:
        ParameterSchema.parse(data)
    except SchemaError as exc:
        return data, [str(error) for error in exc.errors]
    return data, []


def _other_languages() -> list[tuple[str, str]]:
    """The site's languages besides English, whose name and description a template may give."""
    return [(code, name) for code, name in settings.LANGUAGES if code != "en"]


class TemplateMetaForm(forms.ModelForm):
    """What a template is called, in which languages, its tags and who sees it: changes
    here make no version."""

    tag_names = forms.CharField(
        label=_("Tags"),
        required=False,
        max_length=400,
        help_text=_("Separate tags with commas, for example: email, support"),
    )

    embed_origins = forms.CharField(
        label=_("Sites that may embed the form"),
        required=False,
        max_length=6000,
        widget=forms.Textarea(attrs={"rows": 2, "autocapitalize": "off", "spellcheck": "false"}),
        help_text=_(
            "One address a line, such as https://example.com or https://example.com:8443. Only a "
            "public template's form can be embedded; the template's page then shows the code to paste."
        ),
    )

    class Meta:
        model = Template
        fields = (
            "name",
            "slug",
            "description",
            "workspace",
            "visibility",
            "embed_origins",
            "allow_prefill_hidden",
        )
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}

    def __init__(
        self, *args: Any, user: Any = None, current_workspace: int | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.user = user
        if self.instance.pk:
            del self.fields["slug"]  # URLs and API clients rely on it
            self.fields["tag_names"].initial = ", ".join(tag.name for tag in self.instance.tags.all())
        self._set_up_workspace(user, current_workspace)
        self.fields["visibility"].help_text = _(
            "Private: only the workspace’s editors (in a personal workspace, only you). Workspace "
            "members: everyone who is a member of its workspace, whatever their role. Signed-in users: "
            "anyone with an account here. Public: anyone with the link."
        )
        self.initial["embed_origins"] = "\n".join(self.instance.embed_origins or [])
        self.fields["name"].help_text = _(
            "In English: readers of another language see it when it has no translation."
        )
        # After the English description, before the visibility: each other language's texts.
        last = ("tag_names", "workspace", "visibility", "embed_origins", "allow_prefill_hidden")
        order = [name for name in self.fields if name not in last]
        for code, language in _other_languages():
            key = code.replace("-", "_")
            self.fields[f"name_{key}"] = forms.CharField(
                label=format_lazy(_("Name in {language}"), language=language),
                required=False,
                max_length=120,
                help_text=_("Shown to readers of this language; left empty, they see the English name."),
                initial=self.instance.name_translations.get(code, ""),
            )
            self.fields[f"description_{key}"] = forms.CharField(
                label=format_lazy(_("Description in {language}"), language=language),
                required=False,
                widget=forms.Textarea(attrs={"rows": 2}),
                initial=self.instance.description_translations.get(code, ""),
            )
            order += [f"name_{key}", f"description_{key}"]
        self.order_fields([*order, *last])

    def _set_up_workspace(self, user: Any, current_workspace: int | None) -> None:
        """Offered: the workspaces where ``user`` is an editor or above, and the template's own
        (which stays a valid choice, as it is); first the current workspace when it is one of
        them, else the personal one. A shipped template (no workspace) keeps none."""
        existing = self.instance.workspace_id if self.instance.pk else None
        if user is None or (self.instance.pk and existing is None):
            del self.fields["workspace"]
            return
        editable = Q(pk__in=Membership.objects.workspaces_of(user, Role.EDITOR))
        choices = Workspace.objects.filter(editable | Q(pk=existing) if existing else editable)
        field = self.fields["workspace"]
        field.queryset = choices.order_by("-personal", "name")
        field.required = False  # a browser always sends one (no empty choice); a bare POST keeps the default
        field.empty_label = None
        field.label = _("Workspace")
        field.help_text = _(
            "Its editors and admins may edit the template; with the visibility “Workspace members”, "
            "all its members may run it. Moving a template needs the editor role in both workspaces."
        )
        field.error_messages["invalid_choice"] = _(
            "Choose a workspace where you are an editor, an admin or the owner."
        )
        if existing is None:
            self._default_workspace = default_for(user, current_workspace, Role.EDITOR)
            self.initial["workspace"] = self._default_workspace.pk
        else:
            self._default_workspace = self.instance.workspace

    def clean_workspace(self) -> Workspace:
        chosen = self.cleaned_data.get("workspace") or self._default_workspace
        moved = self.instance.pk and chosen.pk != self.instance.workspace_id
        # Leaving the old workspace needs the editor role there too (staff's reach is not enough).
        if moved and not (
            self.instance.workspace.allows(self.user, Role.EDITOR) and chosen.allows(self.user, Role.EDITOR)
        ):
            raise ValidationError(_("Moving a template needs the editor role in both workspaces."))
        return chosen

    def clean_embed_origins(self) -> list[str]:
        return normalize_origins(origins_from_text(self.cleaned_data["embed_origins"]))

    def clean_tag_names(self) -> list[str]:
        names = [name.strip() for name in self.cleaned_data["tag_names"].split(",") if name.strip()]
        if any(len(name) > 40 for name in names):
            raise ValidationError(_("Each tag can have at most 40 characters."))
        if len(names) > 10:
            raise ValidationError(_("A template can have at most 10 tags."))
        return names

    def _post_clean(self) -> None:
        super()._post_clean()
        for code, _language in _other_languages():
            key = code.replace("-", "_")
            for field, translations in (
                ("name", self.instance.name_translations),
                ("description", self.instance.description_translations),
            ):
                text = (self.cleaned_data.get(f"{field}_{key}") or "").strip()
                if text:
                    translations[code] = text
                else:
                    translations.pop(code, None)

    def save_tags(self, template: Template) -> None:
        """Tags are many-to-many: set once the template is saved."""
        template.set_tag_names(self.cleaned_data["tag_names"])


_field = TemplateVersion._meta.get_field
_DEFAULTS = model_setting_defaults()


class _PromptAndModelFields(forms.Form):
    """The first part of the editor: the prompt, its parameters and the model settings."""

    # data-code-editor: the code editor (static/editor/) takes the textarea's place, in that mode.
    body = forms.CharField(
        label=_("Prompt body"),
        help_text=_("Jinja2 syntax: {{ parameter_name }} inserts a value."),
        widget=forms.Textarea(attrs={"rows": 8, "class": "code", "data-code-editor": "jinja"}),
    )
    system_prompt = forms.CharField(
        label=_("System prompt"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "class": "code", "data-code-editor": "jinja"}),
    )
    schema_format = forms.ChoiceField(
        label=_("Schema format"), choices=SCHEMA_FORMATS, initial="yaml", widget=forms.RadioSelect
    )
    schema = forms.CharField(
        label=_("Parameters"),
        required=False,
        help_text=_("A list of parameters, in YAML or JSON (see the schema documentation)."),
        widget=forms.Textarea(
            attrs={"rows": 18, "class": "code", "spellcheck": "false", "data-code-editor": "schema"}
        ),
    )
    # A workflow's steps, in the parameters' format (the code editor follows that choice too).
    steps = forms.CharField(
        label=_("Steps"),
        required=False,
        help_text=_(
            "For a workflow: a list of steps, in the same format as the parameters (see the workflow "
            "documentation). Empty: the template is the single prompt above."
        ),
        widget=forms.Textarea(
            attrs={"rows": 14, "class": "code", "spellcheck": "false", "data-code-editor": "schema"}
        ),
    )
    result_step = forms.CharField(
        label=_("Result step"),
        required=False,
        max_length=40,
        help_text=_("The step whose output is the run's output; empty: the last step."),
        widget=forms.TextInput(attrs={"autocapitalize": "off", "spellcheck": "false"}),
    )
    provider = forms.CharField(
        label=_("Provider"), max_length=_field("provider").max_length, initial=_DEFAULTS["provider"]
    )
    model = forms.CharField(
        label=_("Model"), max_length=_field("model").max_length, initial=_DEFAULTS["model"]
    )
    temperature = forms.DecimalField(
        label=_("Temperature"),
        min_value=field_bounds("temperature")[0],
        max_value=field_bounds("temperature")[1],
        decimal_places=_field("temperature").decimal_places,
        initial=_DEFAULTS["temperature"],
    )
    max_tokens = forms.IntegerField(
        label=_("Max tokens"),
        min_value=field_bounds("max_tokens")[0],
        max_value=field_bounds("max_tokens")[1],
        initial=_DEFAULTS["max_tokens"],
    )
    allowed_models = forms.CharField(
        label=_("Other models a run may choose"),
        required=False,
        max_length=10_000,
        help_text=_(
            "One per line, as provider/model (e.g. anthropic/claude-sonnet-4-5). API callers may run this "
            "template on these instead of the model above; only models with a price are run."
        ),
        widget=forms.Textarea(attrs={"rows": 3, "class": "code", "spellcheck": "false"}),
    )


def _colour_field(label: Any) -> forms.CharField:
    return forms.CharField(label=label, required=False, max_length=MAX_COLOUR_LENGTH)


# One field per colour of each palette (``primary``…, then ``dark_primary``…), made from
# theme.COLOUR_KEYS: a colour added there needs only its label above.
_ColourFields = type(
    "_ColourFields",
    (forms.Form,),
    {
        **{key: _colour_field(label) for key, label in COLOUR_LABELS.items()},
        **{
            f"dark_{key}": _colour_field(format_lazy(_("{colour} (dark)"), colour=label))
            for key, label in COLOUR_LABELS.items()
        },
    },
)


class VersionForm(_ColourFields, _PromptAndModelFields):
    """The content of a new version; ``content()`` gives what ``Template.save_content`` takes.

    Its fields, in order: the prompt and model settings, the colours, then the rest of
    the theme (Django lists a form's bases' fields first, the last base's first)."""

    font = forms.CharField(
        label=_("Font"),
        required=False,
        max_length=MAX_FONT_LENGTH,
        help_text=format_lazy(
            _("One of: {names}; or font family names separated by commas."), names=", ".join(FONT_STACKS)
        ),
    )
    radius = forms.IntegerField(
        label=_("Corner radius (pixels)"), required=False, min_value=0, max_value=MAX_RADIUS
    )
    logo = forms.FileField(
        label=_("Logo"),
        required=False,
        help_text=format_lazy(_("A PNG, JPEG or WebP image of at most {kb} KB."), kb=MAX_LOGO_BYTES // 1000),
    )
    remove_logo = forms.BooleanField(label=_("Remove the logo"), required=False)
    custom_css = forms.CharField(
        label=_("Custom CSS (staff only)"),
        required=False,
        help_text=_("Applies inside the form only. No imports, URLs or escapes."),
        # No max_length: the theme's limit (MAX_CUSTOM_CSS) refuses it, in the API's words.
        widget=forms.Textarea(attrs={"rows": 5, "class": "code", "spellcheck": "false"}),
    )

    def __init__(self, *args: Any, user: Any, base: TemplateVersion | None = None, **kwargs: Any) -> None:
        self.user = user
        self.base = base
        self.theme_errors: list[str] = []
        self.logo_upload: bytes | None = None
        if base is not None and "initial" not in kwargs:
            kwargs["initial"] = initial_for(base)
        super().__init__(*args, **kwargs)
        self.fields["steps"].widget.attrs["data-code-format"] = self.add_prefix("schema_format")
        if self._steps_text().strip():
            # A workflow runs its steps: its own body may be empty.
            self.fields["body"].required = False
        for key in COLOUR_KEYS:
            # Each field shows its own default: PromptLab's colour, or for the dark palette the
            # light one's (which it inherits).
            light, dark = self.fields[key], self.fields[f"dark_{key}"]
            light.widget.attrs.update({"placeholder": DEFAULT_LIGHT[key], "size": 8})
            light.help_text = format_lazy(_("Empty: PromptLab's {colour}."), colour=DEFAULT_LIGHT[key])
            dark.widget.attrs.update({"size": 8})
            dark.help_text = _("Empty: the light palette's colour.")
            # The colour picker beside a dark field, when it is empty, shows the light one's colour.
            dark.widget.attrs["data-colour-inherits"] = self.auto_id % self.add_prefix(key)
            for field in (light, dark):
                field.widget.attrs.update(
                    {"pattern": "#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})", "spellcheck": "false"}
                )
        self.hidden_theme_fields: set[str] = set()
        if not (user is not None and user.is_staff) and not (
            self.base is not None and self.base.theme.get("custom_css")
        ):
            # Staff-only: not shown to others (a version that has custom CSS keeps showing it,
            # so its author can see and remove it; custom_css_errors keeps the rule).
            self.hidden_theme_fields.add("custom_css")
            del self.fields["custom_css"]

    def _steps_text(self) -> str:
        """The steps as posted, or on a GET as the version started from has them."""
        if self.is_bound:
            return self.data.get(self.add_prefix("steps"), "") or ""
        return self.initial.get("steps", "") or ""

    def clean_allowed_models(self) -> list[str]:
        entries = allowed_models_from_text(self.cleaned_data.get("allowed_models") or "")
        if errors := allowed_models_errors(entries):
            raise ValidationError(errors)
        return entries

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        parameters, problems = parse_schema_text(data.get("schema", ""), data.get("schema_format") or "yaml")
        for problem in problems:
            self.add_error("schema", problem)
        data["parameters"] = parameters
        checked = parse_steps_text(
            data.get("steps", ""),
            data.get("schema_format") or "yaml",
            parameters=parameters,
            result_step=data.get("result_step", ""),
        )
        for problem in checked.problems:
            self.add_error("schema" if problem.field == "parameters" else problem.field, problem.message)
        # The canonical list (a re-typed but equal text changes nothing) under the content's name.
        data["steps"], data["result_step"] = checked.steps, checked.result_step
        theme = self._theme(data)
        try:
            parse_theme(theme)
        except ThemeError as exc:
            # Beside the field at fault where one is (the error summary links to it).
            for problem in exc.problems:
                field = getattr(problem, "setting", None)
                if field in self.fields and field not in self.hidden_theme_fields:
                    self.add_error(field, str(problem))
                else:
                    self.theme_errors.append(str(problem))
                    self.add_error(None, str(problem))
        data["theme"] = theme
        return data

    def _theme(self, data: dict[str, Any]) -> dict[str, Any]:
        """The theme the fields describe; the base's logo is kept unless replaced or removed."""
        previous = self.base.theme if self.base is not None else {}
        theme: dict[str, Any] = {key: data[key].strip() for key in COLOUR_KEYS if data.get(key)}
        dark = {key: data[f"dark_{key}"].strip() for key in COLOUR_KEYS if data.get(f"dark_{key}")}
        if dark:
            theme["dark"] = dark
        if data.get("font"):
            theme["font"] = data["font"].strip()
        if data.get("radius") is not None:
            theme["radius"] = data["radius"]
        if data.get("logo"):
            logo = self._uploaded_logo(data["logo"])
            if logo:
                theme["logo"] = logo
        elif previous.get("logo") and not data.get("remove_logo"):
            theme["logo"] = previous["logo"]
        css = self._custom_css(data, previous)
        if css:
            theme["custom_css"] = css
        return theme

    def _uploaded_logo(self, upload: Any) -> str:
        """The upload's digest, keeping its bytes to store with the version; "" when refused."""
        try:
            # Checked here, stored only when the version is saved (Template.save_content).
            if upload.size is not None and upload.size > MAX_LOGO_BYTES:  # before reading it
                ThemeLogo.content_type_of(upload.read(MAX_LOGO_BYTES + 1))
            image = upload.read(MAX_LOGO_BYTES + 1)
            ThemeLogo.content_type_of(image)
        except ThemeError as exc:
            for error in exc.errors:
                self.add_error("logo", error)
            return ""
        self.logo_upload = image
        return logo_digest(image)

    def _custom_css(self, data: dict[str, Any], previous: dict[str, Any]) -> str:
        """The custom CSS, refused beside its field when the staff-only rule refuses it."""
        css = (data.get("custom_css") or "").replace("\r\n", "\n").strip()
        for error in custom_css_errors(css, author=self.user, previous=previous.get("custom_css")):
            self.add_error("custom_css", error)
        return css

    def content(self) -> dict[str, Any]:
        """The version's content; a newly uploaded logo is ``logo_upload`` (stored with the version)."""
        return {name: self.cleaned_data[name] for name in CONTENT_FIELDS}

    def apply_model_errors(self, error: ValidationError) -> None:
        """Show ``Template.save_content``'s validation errors beside the fields they concern."""
        mapping = {"parameters": "schema", "theme": None}  # steps and result_step: fields of their own
        for field, field_messages in error.message_dict.items():
            target = mapping.get(field, field if field in self.fields else None)
            for message in field_messages:
                self.add_error(target, message)


def initial_for(version: TemplateVersion) -> dict[str, Any]:
    theme = version.theme or {}
    initial: dict[str, Any] = {
        "body": version.body,
        "system_prompt": version.system_prompt,
        "schema_format": "yaml",
        "schema": schema_to_text(version.parameters, "yaml"),
        "steps": steps_to_text(version.steps, "yaml"),
        "result_step": version.result_step,
        "provider": version.provider,
        "model": version.model,
        "temperature": version.temperature,
        "max_tokens": version.max_tokens,
        "allowed_models": "\n".join(version.allowed_models),
        "font": theme.get("font", ""),
        "radius": theme.get("radius"),
        "custom_css": theme.get("custom_css", ""),
    }
    for key in COLOUR_KEYS:
        initial[key] = theme.get(key, "")
        initial[f"dark_{key}"] = (theme.get("dark") or {}).get(key, "")
    return initial


def with_added_parameter(request: HttpRequest) -> QueryDict | None:
    """The posted data, with the parameter named by an "Add" button of the preview added
    to the schema; the page comes back with it, nothing saved."""
    if request.method != "POST":
        return None
    name = request.POST.get("add_parameter")
    if not name:
        return request.POST
    data = request.POST.copy()
    fmt = "json" if data.get("editor-schema_format") == "json" else "yaml"
    schema = schema_text_with_parameter(data.get("editor-schema", ""), fmt, name)
    if schema is not None:
        data["editor-schema"] = schema
        messages.info(request, _("Added the parameter “%(name)s”; save to keep it.") % {"name": name})
    return data


def report_save(request: HttpRequest, saved: SavedContent) -> None:
    """Tell the author what a save did (the same words in the site's editor and the admin's)."""
    number = saved.version.number
    if saved.proposed:
        messages.success(
            request,
            _("Saved version %(number)d and proposed it for review; an admin publishes it once approved.")
            % {"number": number},
        )
    elif saved.created and saved.published:
        messages.success(request, _("Saved and published version %(number)d.") % {"number": number})
    elif saved.created:
        messages.success(
            request,
            _("Saved version %(number)d as a draft; the form still serves the published version.")
            % {"number": number},
        )
    elif saved.published:
        messages.success(request, _("Published version %(number)d.") % {"number": number})
    else:
        messages.info(request, _("Nothing in the content changed, so no new version was made."))
    if saved.created:
        for warning in saved.version.warnings:
            messages.warning(request, _("Warning: %(warning)s") % {"warning": warning})


def schema_text_with_parameter(text: str, fmt: str, name: str) -> str | None:
    """The schema text with a single-line text parameter ``name`` added at the end;
    None when the text does not parse. YAML in block style keeps the author's text
    (and comments) and gains two lines; JSON and flow-style YAML are written anew."""
    parameters, problems = parse_schema_text(text, fmt)
    if not isinstance(parameters, list) or (problems and not parameters and text.strip()):
        return None
    added = {"name": name, "type": "string"}
    if fmt == "yaml" and text.strip():
        appended = text.rstrip("\n") + "\n" + yaml.safe_dump([added], sort_keys=False)
        if parse_schema_text(appended, fmt)[0] == [*parameters, added]:  # an indented list would not be
            return appended
    return schema_to_text([*parameters, added], fmt)


class AddParameterForm(forms.Form):
    """The editor's in-place "Add" (with JavaScript): the schema text with a parameter
    appended (``schema_text_with_parameter``), for the page to put in place of its own."""

    name = forms.RegexField(
        label=_("Parameter name"),
        regex=NAME_PATTERN,
        error_messages={
            "invalid": _(
                "A parameter name is lower-case letters, digits and underscores, not starting with a digit."
            )
        },
    )
    schema = forms.CharField(label=_("Parameters"), required=False, strip=False, max_length=MAX_SCHEMA_TEXT)
    schema_format = forms.ChoiceField(label=_("Schema format"), choices=SCHEMA_FORMATS)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.errors:
            return data
        parameters, _problems = parse_schema_text(data["schema"], data["schema_format"])
        if any(isinstance(p, dict) and p.get("name") == data["name"] for p in parameters):
            self.add_error(
                "name", _("The schema already has a parameter “%(name)s”.") % {"name": data["name"]}
            )
            return data
        schema = schema_text_with_parameter(data["schema"], data["schema_format"], data["name"])
        if schema is None:
            self.add_error("schema", _("The schema has problems; fix them before adding a parameter."))
        data["added_schema"] = schema
        return data
