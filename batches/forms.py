"""The batch pages' forms: the upload, its configurations, the sheet and column steps,
the rows filter and the word diff's choice of two answers."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.core.validators import MaxValueValidator
from django.utils.translation import gettext_lazy as _

from templates_app.model_choices import model_choice, split_model_choice
from templates_app.models import Template, TemplateVersion

from .models import MAX_CONFIGURATIONS, BatchRow
from .services import ConfigurationSpec

# Pasted rows are a form field, which Django holds to DATA_UPLOAD_MAX_MEMORY_SIZE (1 MB)
# in bytes: 200,000 characters stay under it even at 4 bytes each, so a long paste gets
# this field's own error rather than a bare 400 page. More rows go in a file.
PASTED_MAX_CHARS = 200_000


class BatchUploadForm(forms.Form):
    """A file, or rows pasted as CSV text: one of the two."""

    file = forms.FileField(
        label=_("Upload a file"),
        required=False,
        help_text=_("CSV, Excel (.xlsx) or JSON Lines (.jsonl). The first line of a CSV names the columns."),
        widget=forms.ClearableFileInput(attrs={"accept": ".csv,.tsv,.txt,.xlsx,.jsonl,.ndjson"}),
    )
    rows = forms.CharField(
        label=_("Or paste the rows"),
        required=False,
        max_length=PASTED_MAX_CHARS,
        help_text=_("As CSV: a first line with the column names, then one row per line."),
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false", "class": "code"}),
    )
    concurrency = forms.IntegerField(
        label=_("Rows running at once"),
        required=False,
        min_value=1,
        help_text=_("Leave empty for the default."),
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )
    rows_per_minute = forms.IntegerField(
        label=_("Rows started per minute"),
        required=False,
        min_value=1,
        max_value=100_000,
        help_text=_("Leave empty for no limit: rows start as soon as others end."),
        widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
    )

    def __init__(self, *args: Any, max_concurrency: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["concurrency"]
        field.max_value = max_concurrency
        field.validators.append(MaxValueValidator(max_concurrency))
        field.widget.attrs["max"] = max_concurrency
        field.help_text = _("From 1 to %(max)d; leave empty for the default.") % {"max": max_concurrency}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        has_file = bool(cleaned.get("file"))
        has_rows = bool((cleaned.get("rows") or "").strip())
        if has_file and has_rows:
            self.add_error("rows", _("Upload a file or paste rows, not both."))
        elif not has_file and not has_rows and "file" not in self.errors and "rows" not in self.errors:
            self.add_error("file", _("Choose a file, or paste the rows below."))
        return cleaned


class ConfigurationForm(forms.Form):
    """One configuration of a comparison: a model, and optionally a temperature, the
    draft version (for those who manage the template) and a label."""

    NOT_USED = ""

    choice = forms.ChoiceField(label=_("Model"), required=False)
    temperature = forms.DecimalField(
        label=_("Temperature"),
        required=False,
        min_value=Decimal("0"),
        max_value=Decimal("2"),
        max_digits=3,
        decimal_places=2,
        help_text=_("From 0 to 2; leave empty for the template’s own."),
        widget=forms.NumberInput(attrs={"step": "0.05", "inputmode": "decimal"}),
    )
    version = forms.ChoiceField(label=_("Version of the template"), required=False)
    label = forms.CharField(
        label=_("Label"),
        required=False,
        max_length=60,
        help_text=_("How the results name it; leave empty to name it by its model."),
    )

    def __init__(
        self,
        *args: Any,
        template: Template,
        versions: list[TemplateVersion],
        models: list[str],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.template = template
        self.versions = {str(version.number): version for version in versions}
        published = template.published_version
        self.fields["choice"].choices = [
            (self.NOT_USED, _("Not used")),
            *((entry, entry) for entry in models),
        ]
        if len(versions) > 1:
            self.fields["version"].choices = [
                (
                    str(version.number),
                    _("Version %(number)d (published)") % {"number": version.number}
                    if version.pk == published.pk
                    else _("Version %(number)d (draft)") % {"number": version.number},
                )
                for version in versions
            ]
            self.fields["version"].initial = str(published.number)
        else:
            del self.fields["version"]

    @property
    def legend(self) -> str:
        return str(_("Configuration %(number)d") % {"number": self.prefix_number + 1})

    @property
    def prefix_number(self) -> int:
        return int(self.prefix.rsplit("-", 1)[-1]) if self.prefix else 0

    @property
    def is_used(self) -> bool:
        return bool(self.cleaned_data.get("choice"))

    def spec(self) -> ConfigurationSpec:
        """The configuration as the engine takes it (which checks it as a run would be)."""
        number = self.cleaned_data.get("version")
        provider, model = split_model_choice(self.cleaned_data["choice"])
        return ConfigurationSpec(
            version=self.versions[number] if number else None,
            provider=provider,
            model=model,
            temperature=self.cleaned_data.get("temperature"),
            label=self.cleaned_data.get("label", ""),
        )


class BaseConfigurationFormSet(forms.BaseFormSet):
    """Up to four configurations; those left on "Not used" are no configuration."""

    def __init__(self, *args: Any, minimum: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.minimum = minimum

    def clean(self) -> None:
        if any(self.errors):
            return
        if len([form for form in self.forms if form.is_used]) < self.minimum:
            raise forms.ValidationError(
                _("Choose a model in at least %(min)d configurations.") % {"min": self.minimum}
            )

    def configurations(self) -> list[ConfigurationSpec]:
        """The configurations chosen, in order (none: the template's own settings). The
        engine refuses two that are the same, and models the template does not allow."""
        return [form.spec() for form in self.forms if form.is_used]


ConfigurationFormSet = forms.formset_factory(
    ConfigurationForm,
    formset=BaseConfigurationFormSet,
    extra=MAX_CONFIGURATIONS,
    max_num=MAX_CONFIGURATIONS,
    validate_max=True,
    absolute_max=MAX_CONFIGURATIONS,
)


def configuration_formset(
    template: Template, user: Any, data: Any = None, *, minimum: int = 0
) -> BaseConfigurationFormSet:
    """The formset for this template and user: the models the template lets a run
    choose, and its draft for those who manage it."""
    published = template.published_version
    models = [model_choice(published.provider, published.model), *published.allowed_models]
    if getattr(user, "is_staff", False):
        from templates_app.forms import configured_models

        models += [model_choice(*pair) for pair in configured_models(published.model)]
    versions = [published]
    if template.is_managed_by(user) and (draft := template.draft_version) is not None:
        versions.append(draft)
    return ConfigurationFormSet(
        data,
        prefix="config",
        minimum=minimum,
        # A comparison compares with something: the template's own model, to start with
        # (shown only: a bound form equal to its initial would count as left empty).
        initial=[{"choice": models[0]}] if minimum and data is None else None,
        form_kwargs={"template": template, "versions": versions, "models": list(dict.fromkeys(models))},
    )


class SheetForm(forms.Form):
    sheet = forms.ChoiceField(label=_("Sheet"), widget=forms.RadioSelect)

    def __init__(self, *args: Any, sheets: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["sheet"].choices = [(name, name) for name in sheets]


class MappingForm(forms.Form):
    """Which parameter each column of the file fills (or none)."""

    IGNORE = ""

    def __init__(
        self,
        *args: Any,
        headers: list[str],
        parameters: list[tuple[str, str]],
        mapping: dict[str, str],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.headers = headers
        choices = [(self.IGNORE, _("Leave this column out")), *parameters]
        for index, header in enumerate(headers):
            self.fields[f"column_{index}"] = forms.ChoiceField(
                label=_("Column “%(header)s”") % {"header": header},
                choices=choices,
                required=False,
                initial=mapping.get(header, self.IGNORE),
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        taken: dict[str, str] = {}
        for index, header in enumerate(self.headers):
            parameter = cleaned.get(f"column_{index}")
            if not parameter:
                continue
            if parameter in taken:
                self.add_error(
                    f"column_{index}",
                    _("Column “%(other)s” fills this field already.") % {"other": taken[parameter]},
                )
            taken[parameter] = header
        return cleaned

    def mapping(self) -> dict[str, str]:
        """header → parameter, for the columns given one."""
        return {
            header: self.cleaned_data[f"column_{index}"]
            for index, header in enumerate(self.headers)
            if self.cleaned_data.get(f"column_{index}")
        }


class RowStatusFilter(forms.Form):
    status = forms.ChoiceField(label=_("Rows to show"), required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["status"].choices = [("", _("All")), *BatchRow._meta.get_field("status").choices]

    def apply(self, rows: Any) -> Any:
        if self.is_valid() and (status := self.cleaned_data["status"]):
            return rows.filter(status=status)
        return rows


class DiffForm(forms.Form):
    """Two answers of the matrix, each a row number and a configuration."""

    first_row = forms.IntegerField(label=_("Row"), min_value=1)
    first = forms.ChoiceField(label=_("Configuration"))
    second_row = forms.IntegerField(label=_("Row"), min_value=1)
    second = forms.ChoiceField(label=_("Configuration"))

    def __init__(self, *args: Any, configurations: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [(str(c.position), c.label) for c in configurations]
        self.fields["first"].choices = choices
        self.fields["second"].choices = choices
        if len(choices) > 1:
            self.fields["second"].initial = choices[1][0]
        for name in ("first_row", "second_row"):
            self.fields[name].widget.attrs["inputmode"] = "numeric"

    @property
    def cells(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [
            (str(_("First answer")), [self["first_row"], self["first"]]),
            (str(_("Second answer")), [self["second_row"], self["second"]]),
        ]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        pair = ("first_row", "first"), ("second_row", "second")
        if all(name in cleaned for names in pair for name in names) and (
            (cleaned["first_row"], cleaned["first"]) == (cleaned["second_row"], cleaned["second"])
        ):
            raise forms.ValidationError(_("Choose two different answers."))
        return cleaned
