from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import slug_re
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema_field
from rest_framework import exceptions, serializers

from promptlab.api import Conflict, StrictFieldsMixin
from providers import provider_names
from workspaces.models import Role, Workspace

from .. import theme
from ..embedding import MAX_EMBED_ORIGINS, normalize_origins
from ..formats import FORMATS
from ..formats.service import MAX_FILE_BYTES
from ..model_choices import (
    MAX_ALLOWED_MODELS,
    MODEL_MAX_LENGTH,
    PROVIDER_MAX_LENGTH,
    allowed_models_errors,
    split_model_choice,
)
from ..models import (
    REVIEW_STEPS,
    SavedContent,
    Template,
    TemplateVersion,
    VersionReview,
    Visibility,
    field_bounds,
    model_setting_defaults,
)
from ..steps_text import check_steps
from .step_fields import StepsField

# The version content the API takes at the top level (the model settings come nested).
TOP_LEVEL_CONTENT_FIELDS = ("system_prompt", "body", "parameters", "steps", "result_step", "theme")


def validate_provider_name(value: str) -> str:
    if value not in provider_names():
        raise serializers.ValidationError(
            _("Unknown provider. Known: %(names)s.") % {"names": ", ".join(provider_names())}
        )
    return value


_field = TemplateVersion._meta.get_field
_DEFAULTS = model_setting_defaults()


class WholeNumberField(serializers.IntegerField):
    """An integer sent as a JSON number, as the OpenAPI document says: DRF also took "100"."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, str | bool):
            self.fail("invalid")
        return super().to_internal_value(data)


@extend_schema_field(
    {
        "oneOf": [
            {"type": "number", "format": "double"},
            {"type": "string", "format": "decimal", "pattern": r"^-?\d{0,1}(?:\.\d{0,2})?$"},
        ],
        "description": 'A number, or the same number as a decimal text (as it is returned: "0.70").',
    }
)
class NumberOrDecimalTextField(serializers.DecimalField):
    pass


class ModelSettingsSerializer(StrictFieldsMixin, serializers.Serializer):
    """A version's model settings."""

    provider = serializers.CharField(max_length=_field("provider").max_length, default=_DEFAULTS["provider"])
    model = serializers.CharField(max_length=_field("model").max_length, default=_DEFAULTS["model"])
    temperature = NumberOrDecimalTextField(
        max_digits=_field("temperature").max_digits,
        decimal_places=_field("temperature").decimal_places,
        min_value=field_bounds("temperature")[0],
        max_value=field_bounds("temperature")[1],
        default=_DEFAULTS["temperature"],
    )
    max_tokens = WholeNumberField(
        min_value=field_bounds("max_tokens")[0],
        max_value=field_bounds("max_tokens")[1],
        default=_DEFAULTS["max_tokens"],
    )
    allowed_models = serializers.ListField(
        child=serializers.CharField(max_length=PROVIDER_MAX_LENGTH + 1 + MODEL_MAX_LENGTH),  # provider/model
        max_length=MAX_ALLOWED_MODELS,
        default=list,
        help_text=(
            "Models a generate call may choose instead of this one, as provider/model "
            "(e.g. anthropic/claude-sonnet-4-5). Only models with a price run; staff may choose any model."
        ),
    )

    def validate_provider(self, value: str) -> str:
        return validate_provider_name(value)

    def validate_allowed_models(self, value: list[str]) -> list[str]:
        if errors := allowed_models_errors(value):
            raise serializers.ValidationError(errors)
        known = provider_names()
        unknown = sorted({split_model_choice(entry)[0] for entry in value} - set(known))
        if unknown:
            raise serializers.ValidationError(
                _("Unknown provider(s): %(unknown)s. Known: %(names)s.")
                % {"unknown": ", ".join(unknown), "names": ", ".join(known)}
            )
        return value


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "object", "additionalProperties": True},
        "description": "The parameter schema: a list of parameters (see docs/schema.md).",
    }
)
class ParameterSchemaField(serializers.JSONField):
    pass


# The theme's rules are theme.py's (parse_theme enforces them); the document states the same limits.
COLOUR_SCHEMA = {"type": "string", "pattern": f"^{theme.HEX_COLOUR.pattern}$", "example": "#1d4ed8"}
PALETTE_PROPERTIES = dict.fromkeys(theme.COLOUR_KEYS, COLOUR_SCHEMA)


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": False,
        "description": (
            "The form page's theme (see README, Themes): colours as #rgb or #rrggbb, an optional dark "
            "palette, a font, a corner radius, a logo (the SHA-256 of an uploaded image) and custom CSS "
            f"(staff only). Text on background and button text on the button colour must reach "
            f"{theme.TEXT_CONTRAST:g}:1, the button colour {theme.UI_CONTRAST:g}:1 against the background; "
            "a refused theme's error gives the measured ratio. "
            "`{}` is no theme. Written, a changed theme makes a new version."
        ),
        "properties": {
            **PALETTE_PROPERTIES,
            "dark": {"type": "object", "additionalProperties": False, "properties": PALETTE_PROPERTIES},
            "font": {"type": "string", "maxLength": theme.MAX_FONT_LENGTH, "example": "serif"},
            "radius": {"type": "integer", "minimum": 0, "maximum": theme.MAX_RADIUS},
            "logo": {"type": "string", "pattern": f"^{theme.LOGO_DIGEST.pattern}$"},
            "custom_css": {"type": "string", "maxLength": theme.MAX_CUSTOM_CSS},
        },
    }
)
class ThemeField(serializers.JSONField):
    pass


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "string", "maxLength": 2000},
        "description": 'Texts in other languages than English, by language code: {"pt-br": "…"}.',
        "example": {"pt-br": "Resumo de reunião"},
    }
)
class TranslationsField(serializers.JSONField):
    """A mapping of the site's other languages to texts (English is the plain field)."""

    def to_internal_value(self, data: Any) -> dict[str, str]:
        data = super().to_internal_value(data)
        codes = {code for code, _name in settings.LANGUAGES if code != "en"}
        if not isinstance(data, dict) or not all(
            isinstance(key, str) and key.lower() in codes and isinstance(text, str) and len(text) <= 2000
            for key, text in data.items()
        ):
            raise serializers.ValidationError(
                _("Give a mapping of language codes (%(codes)s) to texts.")
                % {"codes": ", ".join(sorted(codes))}
            )
        return {key.lower(): text for key, text in data.items() if text.strip()}


class TagNamesField(serializers.ListField):
    """Tags as their names: read from the relation, written as a list of names."""

    def get_attribute(self, instance: Template) -> Template:
        return instance

    def to_representation(self, data: Any) -> list[str]:
        # The names come with the template's row (TemplateQuerySet.with_tag_names) when they can.
        names = getattr(data, "tag_names", None)
        if names is not None or hasattr(data, "tag_names"):
            return sorted(names.split("\n"), key=str.casefold) if names else []
        return sorted((tag.name for tag in data.tags.all()), key=str.casefold)


class EmbedOriginsField(serializers.ListField):
    """The sites that may frame the form, checked and written as the editor does."""

    def to_internal_value(self, data: Any) -> list[str]:
        values = super().to_internal_value(data)
        try:
            return normalize_origins(values)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from None


class WorkspaceField(serializers.SlugRelatedField):
    """A template's workspace, by its short name. Written, it must be one where the caller is
    an editor or above: any other, unknown or not, gets the same answer, so that nobody
    learns of a workspace they are not in. Null: the caller's personal workspace."""

    default_error_messages = {
        "does_not_exist": gettext_lazy("Name a workspace where you are an editor or above (its short name)."),
        "invalid": gettext_lazy("Give a workspace's short name (a text)."),
    }

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(slug_field="slug", **kwargs)

    def get_queryset(self) -> Any:
        request = self.context.get("request")
        return Workspace.objects.where(getattr(request, "user", None), Role.EDITOR)

    def run_validation(self, data: Any = serializers.empty) -> Any:
        if data == "":  # DRF reads "" as null for a relation: here it names no workspace
            self.fail("does_not_exist", slug_name=self.slug_field, value=data)
        return super().run_validation(data)

    def to_internal_value(self, data: Any) -> Workspace:
        if not isinstance(data, str):
            self.fail("invalid")
        if not slug_re.match(data) or len(data) > Workspace._meta.get_field("slug").max_length:
            self.fail("does_not_exist", slug_name=self.slug_field, value=data)  # no query for a NUL byte
        return super().to_internal_value(data)


class TemplateSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    # The content lives in the published version; written, it makes a new one.
    system_prompt = serializers.CharField(
        source="published_version.system_prompt", allow_blank=True, default="", max_length=100_000
    )
    body = serializers.CharField(
        source="published_version.body",
        max_length=100_000,
        required=False,
        allow_blank=True,
        help_text="The prompt (Jinja). Required, but for a workflow (with steps), whose body may be empty.",
    )
    parameters = ParameterSchemaField(source="published_version.parameters", default=list)
    steps = StepsField(source="published_version.steps", default=list)
    result_step = serializers.CharField(
        source="published_version.result_step",
        allow_blank=True,
        default="",
        max_length=40,
        help_text="The step whose output is the job's output; empty: the last step.",
    )
    model_settings = ModelSettingsSerializer(source="published_version.model_settings", default=dict)
    theme = ThemeField(source="published_version.theme", default=dict)
    version = serializers.IntegerField(source="published_version.number", read_only=True, allow_null=True)
    owner = serializers.EmailField(source="owner.email", read_only=True, allow_null=True)
    workspace = WorkspaceField(
        required=False,
        allow_null=True,
        help_text=(
            "The workspace the template belongs to (its short name; null for a template that ships with "
            "PromptLab): its editors manage the template. Written, on create or to move the template: one "
            "where you are an editor or above (on a move, in the template's current workspace too); null "
            "or left out on create: your personal workspace."
        ),
    )
    name_translations = TranslationsField(required=False)
    description_translations = TranslationsField(required=False)
    localized_name = serializers.CharField(
        source="display_name",
        read_only=True,
        help_text="The name in the request's language (Accept-Language).",
    )
    localized_description = serializers.CharField(
        source="display_description", read_only=True, help_text="The description in the request's language."
    )
    tags = TagNamesField(
        child=serializers.CharField(max_length=40),
        max_length=10,
        required=False,
        help_text="Tag names (created when new).",
    )
    embed_origins = EmbedOriginsField(
        child=serializers.CharField(max_length=300),
        max_length=MAX_EMBED_ORIGINS,
        required=False,
        help_text=(
            "Origins (https://host[:port]; http only for localhost) whose pages may frame the form at "
            "/t/{slug}/embed/; only a public template's form can be embedded."
        ),
    )
    allow_prefill_hidden = serializers.BooleanField(
        required=False,
        help_text="Whether a link to the form (/t/{slug}/?name=value) may set hidden parameters. "
        "The API's generate never sets them.",
    )
    links = serializers.SerializerMethodField()
    saved: SavedContent | None = None  # after a create or an update: what Template.save_content did

    class Meta:
        model = Template
        fields = (
            "slug",
            "name",
            "description",
            "name_translations",
            "description_translations",
            "localized_name",
            "localized_description",
            "tags",
            "visibility",
            "embed_origins",
            "allow_prefill_hidden",
            "system_prompt",
            "body",
            "parameters",
            "steps",
            "result_step",
            "model_settings",
            "theme",
            "version",
            "owner",
            "workspace",
            "created_at",
            "updated_at",
            "links",
        )
        read_only_fields = ("created_at", "updated_at")
        extra_kwargs = {"visibility": {"default": Visibility.PRIVATE}, "slug": {"validators": []}}

    def get_links(self, obj: Template) -> dict[str, str]:
        return {
            "self": reverse("api:template-detail", args=[obj.slug]),
            "form": obj.get_absolute_url(),
            "generate": reverse("api:template-generate", args=[obj.slug]),
            "versions": reverse("api:template-versions", args=[obj.slug]),
            "schema": reverse("api:template-schema", args=[obj.slug]),
            "export": reverse("api:template-export", args=[obj.slug]),
        }

    def validate_slug(self, value: str) -> str:
        if self.instance is not None and value != self.instance.slug:
            raise serializers.ValidationError(_("The slug can't be changed."))
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        """The steps checked against the parameters (both as they will be after this write),
        stored canonical; a template without steps needs its body."""
        written = attrs.get("published_version", {})
        current = self.instance.published_version if self.instance is not None else None
        steps = written.get("steps", current.steps if current else [])
        if self.instance is None and not steps and not (written.get("body") or "").strip():
            raise serializers.ValidationError({"body": [self.fields["body"].error_messages["required"]]})
        if {"steps", "result_step", "parameters"} & set(written):
            checked = check_steps(
                steps,
                parameters=written.get("parameters", current.parameters if current else []),
                result_step=written.get("result_step", current.result_step if current else ""),
            )
            errors = {name: checked.messages(name) for name in ("steps", "result_step", "parameters")}
            if any(errors.values()):
                raise serializers.ValidationError({name: found for name, found in errors.items() if found})
            if "steps" in written:
                written["steps"] = checked.steps
        return attrs

    @staticmethod
    def _written_content(validated: dict[str, Any]) -> dict[str, Any]:
        """The version content this request writes (only what it names)."""
        written = validated.get("published_version", {})
        content = {field: written[field] for field in TOP_LEVEL_CONTENT_FIELDS if field in written}
        content.update(written.get("model_settings") or {})
        return content

    def _save_content(self, template: Template, validated: dict[str, Any]) -> None:
        """A new, published version when the request changes the published one's content;
        ``saved`` tells what the save did (the view answers with its version's warnings)."""
        try:
            self.saved = template.save_content(
                self._written_content(validated), author=self.context["request"].user, publish=True
            )
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from None

    def create(self, validated: dict[str, Any]) -> Template:
        meta = {key: value for key, value in validated.items() if key not in ("published_version", "tags")}
        try:
            with transaction.atomic():  # the template and its first version, or neither
                template = Template.objects.create(owner=self.context["request"].user, **meta)
                if "tags" in validated:
                    template.set_tag_names(validated["tags"])
                self._save_content(template, validated)
        except IntegrityError:
            raise Conflict(_("A template with this slug already exists.")) from None
        return template

    def _move(self, template: Template, target: Workspace | None) -> None:
        """Into ``target`` (None: the caller's personal workspace), for an editor of both."""
        user = self.context["request"].user
        target = target or Workspace.objects.personal_for(user)
        if target.pk == template.workspace_id:
            return
        if template.workspace is None or not template.workspace.allows(user, Role.EDITOR):
            raise exceptions.PermissionDenied(_("Only an editor of the template's workspace may move it."))
        template.workspace = target

    def update(self, template: Template, validated: dict[str, Any]) -> Template:
        if "workspace" in validated:
            self._move(template, validated["workspace"])
        with transaction.atomic():  # the name and the content, or neither
            for key in (
                "name",
                "description",
                "name_translations",
                "description_translations",
                "visibility",
                "embed_origins",
                "allow_prefill_hidden",
            ):
                if key in validated:
                    setattr(template, key, validated[key])
            template.save()
            if "tags" in validated:
                template.set_tag_names(validated["tags"])
            self._save_content(template, validated)
        template.refresh_from_db()
        return template


class TemplateSavedSerializer(TemplateSerializer):
    """The answer to a create or a PATCH: the template, and what its author may want to fix."""

    warnings = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text=(
            "Warnings, not errors (the template was saved): each parameter the published version's "
            "prompt never uses."
        ),
    )
    proposed = serializers.BooleanField(
        read_only=True,
        help_text=(
            "True when the save asked to publish and the workspace's review turned it into a "
            "proposal: the version waits for an admin's approval."
        ),
    )

    class Meta(TemplateSerializer.Meta):
        fields = (*TemplateSerializer.Meta.fields, "warnings", "proposed")


class TemplateVersionSerializer(serializers.ModelSerializer):
    created_by = serializers.EmailField(source="created_by.email", read_only=True, allow_null=True)
    steps = StepsField(read_only=True)
    model_settings = serializers.JSONField(read_only=True)
    published = serializers.SerializerMethodField()

    class Meta:
        model = TemplateVersion
        fields = (
            "number",
            "system_prompt",
            "body",
            "parameters",
            "steps",
            "result_step",
            "model_settings",
            "created_by",
            "created_at",
            "published",
            "review_state",
        )

    def get_published(self, obj: TemplateVersion) -> bool:
        return obj.template.published_version_id == obj.pk


class VersionReviewSerializer(serializers.ModelSerializer):
    author = serializers.EmailField(source="author.email", read_only=True, allow_null=True)

    class Meta:
        model = VersionReview
        fields = ("action", "author", "comment", "created_at")


class ReviewRequestSerializer(StrictFieldsMixin, serializers.Serializer):
    action = serializers.ChoiceField(
        choices=REVIEW_STEPS,
        help_text=(
            "`propose` asks for the version to be published; `approve` publishes it (admins and the "
            "owner, not its proposer); `request_changes` (same people) needs a `comment`; `comment` "
            "adds one."
        ),
    )
    comment = serializers.CharField(required=False, allow_blank=True, max_length=4000, default="")


class VersionWithReviewSerializer(TemplateVersionSerializer):
    reviews = VersionReviewSerializer(many=True, read_only=True)

    class Meta(TemplateVersionSerializer.Meta):
        fields = (*TemplateVersionSerializer.Meta.fields, "reviews")


class TemplateImportSerializer(StrictFieldsMixin, serializers.Serializer):
    """A template file: uploaded (multipart ``file``) or sent as text (JSON ``content`` + ``format``)."""

    file = serializers.FileField(required=False, help_text="The file (multipart/form-data).")
    content = serializers.CharField(
        required=False,
        trim_whitespace=False,
        # The limit is in bytes (UTF-8), as for an upload: checked on import, not as characters.
        help_text=f"The file's text (JSON): at most {MAX_FILE_BYTES} bytes as UTF-8.",
    )
    format = serializers.ChoiceField(
        choices=list(FORMATS), required=False, help_text="Default: from the file name's extension."
    )
    # Blank allowed, meaning no name: a multipart form's empty field is how a client leaves
    # it out (DRF reads it so), and the document must not promise a refusal of it.
    filename = serializers.CharField(
        required=False,
        allow_blank=True,
        max_length=255,
        help_text="The file's name, when sending content as text (empty: none).",
    )
    slug = serializers.SlugField(required=False, max_length=80, help_text="Default: the one in the file.")
    visibility = serializers.ChoiceField(choices=Visibility.choices, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("file" in attrs) == ("content" in attrs):
            raise serializers.ValidationError({"file": [_("Send either a file or its content, not both.")]})
        if "content" in attrs and not attrs.get("format") and not attrs.get("filename"):
            raise serializers.ValidationError({"format": [_("Say which format the content is in.")]})
        return attrs


class TemplateImportResultSerializer(TemplateSerializer):
    warnings = serializers.ListField(
        child=serializers.CharField(),
        read_only=True,
        help_text="What the file said that PromptLab can't hold.",
    )

    class Meta(TemplateSerializer.Meta):
        fields = (*TemplateSerializer.Meta.fields, "warnings")
