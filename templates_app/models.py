from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models, transaction
from django.db.models import Exists, F, OuterRef, Q, StringAgg, Subquery, Value
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.text import slugify
from django.utils.translation import get_language, override
from django.utils.translation import gettext_lazy as _

from accounts.models import PersonalToken
from audit.models import Action
from audit.services import record
from workspaces.models import Membership, Role, Workspace, roles_of

from .embedding import normalize_origins, validate_embed_origins
from .model_choices import MODEL_MAX_LENGTH, PROVIDER_MAX_LENGTH, allowed_models_errors
from .rendering import PromptRenderError, referenced_names, render_prompt
from .schema import ParameterSchema, SchemaError, parameter_warnings
from .schema.parsing import without_oversized_patterns
from .schema.types.base import localize
from .steps import StepGraph, StepsInvalid
from .theme import MAX_LOGO_BYTES, ThemeError, custom_css_errors, logo_digest, parse_theme, sniff_logo

# What a version holds; a change to any of these is a new version.
CONTENT_FIELDS = (
    "system_prompt",
    "body",
    "parameters",
    "provider",
    "model",
    "temperature",
    "max_tokens",
    "allowed_models",
    "theme",
    "steps",
    "result_step",
)
# The part of a version's content that tells how to run it (``TemplateVersion.model_settings``).
MODEL_SETTING_FIELDS = ("provider", "model", "temperature", "max_tokens", "allowed_models")


@lru_cache(maxsize=1024)
def parsed_schema(schema_key: str) -> ParameterSchema:
    """Parse once per distinct schema; keyed by content, so never stale. A stored schema's
    patterns were compiled when it was saved: they are not compiled again in a render
    process (one too large for today's limits matches nothing instead)."""
    return ParameterSchema.parse(without_oversized_patterns(json.loads(schema_key)), compile_patterns=False)


@lru_cache(maxsize=256)
def parsed_steps(steps_key: str, result_step: str, schema_key: str) -> StepGraph:
    """Parse a stored workflow once per distinct content (its strings were checked when
    it was saved: see ``StepGraph.parse``'s ``stored``)."""
    return StepGraph.parse(
        json.loads(steps_key),
        parameter_names=parsed_schema(schema_key).names,
        result_step=result_step,
        stored=True,
    )


@lru_cache(maxsize=1024)
def _parsed_theme(theme_key: str) -> Any:
    """Parse once per distinct theme (keyed by content, like the schema)."""
    try:
        return parse_theme(json.loads(theme_key))
    except ThemeError:
        return None


@dataclass(frozen=True)
class SavedContent:
    """What ``Template.save_content`` did: ``version`` holds the content saved (a new
    version when ``created``, else the unchanged base); ``published`` says whether
    this save put it on the form page."""

    version: TemplateVersion
    created: bool
    published: bool
    # The save asked to publish, and its workspace's review turned that into a proposal.
    proposed: bool = False


class ReviewState(models.TextChoices):
    PROPOSED = "proposed", _("Proposed for review")
    CHANGES_REQUESTED = "changes_requested", _("Changes requested")
    APPROVED = "approved", _("Approved")


REVIEW_STEPS = ("propose", "comment", "approve", "request_changes")


class ReviewError(Exception):
    """A review step refused: ``code`` for the API, ``message`` for people."""

    def __init__(self, code: str, message: Any) -> None:
        super().__init__(str(message))
        self.code = code
        self.message = message


class Visibility(models.TextChoices):
    # In a personal workspace its editors are its owner alone: "only me", as before workspaces.
    PRIVATE = "private", _("Private (the workspace's editors)")
    WORKSPACE = "workspace", _("Workspace members")
    SIGNED_IN = "signed_in", _("Signed-in users")
    PUBLIC = "public", _("Public (anyone with the link)")


def json_text_contains(field: str, text: str) -> Q:
    """Match ``text`` anywhere in a JSON column's text, any case. PostgreSQL's jsonb text
    writes "ç" as is, SQLite keeps the JSON as Django wrote it ("\\u00e7"): both forms."""
    escaped = json.dumps(text)[1:-1]
    condition = Q(**{f"{field}__icontains": text})
    return condition | Q(**{f"{field}__icontains": escaped}) if escaped != text else condition


class TemplateQuerySet(models.QuerySet["Template"]):
    def visible_to(self, user: Any) -> TemplateQuerySet:
        if user is None or not user.is_authenticated:
            return self.filter(visibility=Visibility.PUBLIC)
        # Subqueries, not the roles read first: a template read stays one query.
        return self.filter(
            Q(visibility__in=[Visibility.PUBLIC, Visibility.SIGNED_IN])
            | Q(workspace__in=Membership.objects.workspaces_of(user, Role.EDITOR))
            | Q(visibility=Visibility.WORKSPACE, workspace__in=Membership.objects.workspaces_of(user))
        )

    def managed_by(self, user: Any) -> TemplateQuerySet:
        """Those ``user`` may edit (``Template.is_managed_by``): every one for staff."""
        if user is not None and user.is_authenticated and user.is_staff:
            return self
        return self.in_workspaces_edited_by(user)

    def in_workspaces_edited_by(self, user: Any) -> TemplateQuerySet:
        """Those of the workspaces where ``user`` is an editor or above (their own list)."""
        if user is None or not user.is_authenticated:
            return self.none()
        return self.filter(workspace__in=Membership.objects.workspaces_of(user, Role.EDITOR))

    def with_viewer_role(self, user: Any) -> TemplateQuerySet:
        """Each template's ``viewer_role``: ``user``'s role in its workspace, read in the
        same query, so that ``is_managed_by`` on a page that shows one template costs none."""
        if user is None or not user.is_authenticated:
            return self
        role = Membership.objects.filter(workspace=OuterRef("workspace"), user=user).values("role")[:1]
        return self.annotate(viewer_role=Subquery(role), viewer_id=Value(user.pk))

    def in_workspace(self, workspace: Any) -> TemplateQuerySet:
        return self.filter(workspace=workspace) if workspace is not None else self

    def runnable(self) -> TemplateQuerySet:
        return self.filter(published_version__isnull=False)

    def reachable_with(self, credential: Any) -> TemplateQuerySet:
        """The one rule for a credential's reach, on every road that takes one (the REST
        API, the MCP server): a personal token limited to some templates, or to one
        workspace, reaches only those; an unlimited token, a JWT or a session reaches
        all. Applied in the query (no extra round trip): the token's rows are read in a
        subquery."""
        if not isinstance(credential, PersonalToken):
            return self
        limit = PersonalToken.templates.through.objects.filter(personaltoken_id=credential.pk)
        reachable = self.filter(Q(pk__in=limit.values("template_id")) | ~Exists(limit))
        if credential.workspace_id is not None:
            reachable = reachable.filter(workspace_id=credential.workspace_id)
        return reachable

    def search(self, text: str) -> TemplateQuerySet:
        """Templates whose name, description (in any language) or a tag contains the text."""
        text = text.strip()
        if not text:
            return self
        # The translations are JSON: a text cast of the whole mapping is enough at this scale.
        matches = (
            Q(name__icontains=text)
            | Q(description__icontains=text)
            | json_text_contains("name_translations", text)
            | json_text_contains("description_translations", text)
            | Q(tags__name__icontains=text)
        )
        return self.filter(pk__in=self.filter(matches).values("pk"))

    def with_tag_names(self) -> TemplateQuerySet:
        """Each template's tag names in the same query (``tag_names``, one per line), so that
        an API read stays one query."""
        names = (
            Tag.objects.filter(templates=OuterRef("pk"))
            .values("templates")
            # No order_by: SQLite can't order inside an aggregate; the reader sorts the names.
            .annotate(names=StringAgg("name", Value("\n")))
            .values("names")
        )
        return self.annotate(tag_names=Subquery(names))

    def tagged(self, tag_slug: str) -> TemplateQuerySet:
        return self.filter(tags__slug=tag_slug) if tag_slug else self


class LiveTemplateManager(models.Manager.from_queryset(TemplateQuerySet)):  # type: ignore[misc]
    """The default manager: templates not deleted. Every lookup (pages, API, versions'
    visibility) starts here, so a deleted template is gone everywhere but the restore."""

    def get_queryset(self) -> TemplateQuerySet:
        return super().get_queryset().filter(deleted_at__isnull=True)


class Tag(models.Model):
    """A label that groups templates on the lists (filter by tag, search)."""

    name = models.CharField(_("name"), max_length=40, unique=True)
    slug = models.SlugField(_("slug"), max_length=50, unique=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ("name",)

    def __str__(self) -> str:
        return self.name

    @classmethod
    def for_names(cls, names: list[str]) -> list[Tag]:
        """The tags with these names, created when new (names are trimmed; case as first typed)."""
        tags = []
        # Whitespace runs (a newline included) become one space: names are listed one per line.
        for name in dict.fromkeys(" ".join(name.split()) for name in names if name.strip()):
            slug = slugify(name)[:50] or "tag"
            tag = cls.objects.filter(slug=slug).first() or cls.objects.create(name=name[:40], slug=slug)
            tags.append(tag)
        return tags


class TemplateVersionQuerySet(models.QuerySet["TemplateVersion"]):
    def visible_to(self, user: Any) -> TemplateVersionQuerySet:
        """The one rule for versions (the site's pages and the API alike): a template's
        managers (``Template.is_managed_by``) see every version, drafts included;
        anyone who can see the template sees only its published version."""
        live = self.filter(template__deleted_at__isnull=True)
        if user is not None and user.is_authenticated and user.is_staff:
            return live
        published = Q(template__published_version=F("pk"), template__in=Template.objects.visible_to(user))
        if user is None or not user.is_authenticated:
            return live.filter(published)
        return live.filter(published | Q(template__in=Template.all_objects.managed_by(user)))


class Template(models.Model):
    """A prompt template; its content lives in immutable TemplateVersions."""

    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    name = models.CharField(_("name"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    # Other languages' texts, as a parameter's label: {"pt-br": "…"}; English is the field above.
    name_translations = models.JSONField(_("name in other languages"), default=dict, blank=True)
    description_translations = models.JSONField(_("description in other languages"), default=dict, blank=True)
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="templates")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="templates",
        help_text=_("Empty for templates that ship with PromptLab."),
    )
    # PROTECT: a workspace is deleted only once it holds no template (its page says so).
    workspace = models.ForeignKey(
        Workspace,
        verbose_name=_("workspace"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="templates",
        help_text=_("Its editors manage the template; empty for templates that ship with PromptLab."),
    )
    visibility = models.CharField(
        _("visibility"), max_length=16, choices=Visibility.choices, default=Visibility.PRIVATE
    )
    cache_results = models.BooleanField(
        _("reuse identical results"),
        default=True,
        help_text=_(
            "Answer a submission identical to a recent one from its result, and run identical "
            "submissions that arrive together once. Turn off when every run should differ."
        ),
    )
    embed_origins = models.JSONField(
        _("sites that may embed the form"),
        default=list,
        blank=True,
        validators=[validate_embed_origins],
        help_text=_(
            "Addresses such as https://example.com of the sites whose pages may show this form in a "
            "frame. Only a public template's form can be embedded."
        ),
    )
    allow_prefill_hidden = models.BooleanField(
        _("hidden values from the link"),
        default=False,
        help_text=_(
            "Let a link to the form (…/t/slug/?name=value) set the parameters the form hides; "
            "otherwise they always keep their fixed value."
        ),
    )
    published_version = models.ForeignKey(
        "TemplateVersion",
        verbose_name=_("published version"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)
    deleted_at = models.DateTimeField(
        _("deleted"),
        null=True,
        blank=True,
        help_text=_("A deleted template is hidden everywhere; its owner can restore it."),
    )

    objects = LiveTemplateManager()
    all_objects = TemplateQuerySet.as_manager()  # deleted ones too: restore, slug checks, the admin

    class Meta:
        verbose_name = _("template")
        verbose_name_plural = _("templates")
        ordering = ("name",)
        indexes = [models.Index(fields=["visibility", "name"])]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        # A template made without a workspace (an import, a copy, an older caller) goes
        # to its owner's personal one: every owned template has a workspace.
        if self.workspace_id is None and self.owner_id is not None:
            self.workspace = Workspace.objects.personal_for(self.owner)
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "workspace"}
        if not self._state.adding:
            super().save(*args, **kwargs)
            return
        with transaction.atomic():
            super().save(*args, **kwargs)
            self.audit(Action.TEMPLATE_CREATED)

    def get_absolute_url(self) -> str:
        return reverse("templates_app:run", args=[self.slug])

    def audit(self, action: Action, actor: Any = None, **details: Any) -> None:
        """An entry in its workspace's audit log (by ``actor``; else the request's person)."""
        who = {"actor": actor} if actor is not None else {}
        record(action, workspace=self.workspace, target=self, details={"slug": self.slug, **details}, **who)

    def localized_name(self, language: str | None = None) -> str:
        """The name in the language (the reader's by default), falling back to English."""
        return localize({"en": self.name, **self._texts(self.name_translations)}, language)

    def localized_description(self, language: str | None = None) -> str:
        return localize({"en": self.description, **self._texts(self.description_translations)}, language)

    @property
    def display_name(self) -> str:
        return self.localized_name(get_language())

    @property
    def display_description(self) -> str:
        return self.localized_description(get_language())

    @staticmethod
    def _texts(translations: Any) -> dict[str, str]:
        # Blank translations fall back to English, as a missing one does.
        if not isinstance(translations, dict):
            return {}
        return {
            key.lower(): text for key, text in translations.items() if isinstance(text, str) and text.strip()
        }

    @transaction.atomic
    def soft_delete(self) -> None:
        """Hide the template everywhere (its jobs keep their history); ``restore`` undoes it."""
        self.deleted_at = timezone.now()
        self.save(update_fields=["deleted_at", "updated_at"])
        self.audit(Action.TEMPLATE_DELETED)

    @transaction.atomic
    def restore(self) -> None:
        self.deleted_at = None
        self.save(update_fields=["deleted_at", "updated_at"])
        self.audit(Action.TEMPLATE_RESTORED)

    def set_tag_names(self, names: list[str]) -> None:
        self.tags.set(Tag.for_names(names))
        self.__dict__.pop("tag_names", None)  # an annotation read with the row is stale now

    @transaction.atomic
    def duplicate_for(self, user: Any) -> Template:
        """A private copy owned by ``user``, with the latest content as an unpublished draft:
        the copy's owner reviews it before anyone can run it. Only a manager's copy starts
        from a draft: anyone else copies what they could already see, the published version."""
        source = self.latest_version if self.is_managed_by(user) else self.published_version
        copy = Template.objects.create(
            # In the same workspace for its editors, else in the copier's personal one.
            workspace=self.workspace if self.workspace and self.workspace.allows(user, Role.EDITOR) else None,
            slug=Template.free_slug(f"{self.slug}-copy"),
            name=_copy_name(self.name, "en"),
            description=self.description,
            name_translations={
                key: _copy_name(text, key) for key, text in self._texts(self.name_translations).items()
            },
            description_translations=self.description_translations,
            owner=user,
            visibility=Visibility.PRIVATE,
            cache_results=self.cache_results,
        )
        copy.tags.set(self.tags.all())
        if source is not None:
            content = source.content()
            if not user.is_staff:
                # Custom CSS is staff-only: the copy keeps the rest of the theme.
                content["theme"] = {k: v for k, v in (content["theme"] or {}).items() if k != "custom_css"}
            # The logo is this template's: the copy stores it as its own upload (_may_use_logo).
            logo = ThemeLogo.objects.filter(digest=content["theme"].get("logo") or "").first()
            copy.create_version(
                author=user, publish=False, logo=bytes(logo.data) if logo else None, **content
            )
        return copy

    @staticmethod
    def free_slug(base: str) -> str:
        """``base``, or ``base-2``, ``base-3``…: the first slug no template (deleted ones too) has."""
        base = slugify(base)[:72] or "template"
        taken = set(Template.all_objects.filter(slug__startswith=base).values_list("slug", flat=True))
        candidate, number = base, 1
        while candidate in taken:
            number += 1
            candidate = f"{base}-{number}"
        return candidate

    @transaction.atomic
    def create_version(
        self, *, author: Any = None, publish: bool = True, logo: bytes | None = None, **content: Any
    ) -> TemplateVersion:
        """Add the next numbered version (validated) and, by default, publish it.

        A theme not given is carried over from the latest version, so writers
        that know nothing of themes (the API) don't drop one. ``logo`` is a newly
        uploaded image the theme names by digest: stored here, with the version,
        so a preview or a refused save leaves no logo behind.
        """
        # Lock the template so two editors can't take the same number.
        Template.all_objects.select_for_update().filter(pk=self.pk).first()
        latest = self.latest_version
        if "theme" not in content and latest is not None:
            content["theme"] = latest.theme
        number = (latest.number if latest else 0) + 1
        version = TemplateVersion(template=self, number=number, created_by=author, **content)
        if logo is not None:
            version.uploaded_logo = ThemeLogo.store(logo).digest
        version.full_clean()
        version.save()
        self._audit_new_version(version, latest, author)
        if publish:
            self.publish(version, author)
        return version

    def _audit_new_version(
        self, version: TemplateVersion, latest: TemplateVersion | None, author: Any
    ) -> None:
        """Edited (from version 2: the first is the template's creation), and what of the
        theme changed: its custom CSS, staff-only, apart from the rest."""
        previous = latest.number if latest else None
        if previous is not None:
            self.audit(Action.TEMPLATE_EDITED, author, version=version.number, previous=previous)
        before, after = (latest.theme if latest else None) or {}, version.theme or {}
        if before.get("custom_css", "") != after.get("custom_css", ""):
            self.audit(Action.CUSTOM_CSS_CHANGED, author, version=version.number, previous=previous)
        rest = {key: value for key, value in before.items() if key != "custom_css"}
        if rest != {key: value for key, value in after.items() if key != "custom_css"}:
            self.audit(Action.THEME_CHANGED, author, version=version.number, previous=previous)

    def save_content(
        self,
        content: dict[str, Any],
        *,
        author: Any,
        publish: bool,
        base: TemplateVersion | None = None,
        logo: bytes | None = None,
    ) -> SavedContent:
        """The one way edited content becomes a version: the site's and the admin's
        editors, the API and import all save through here.

        ``content`` holds some or all of ``CONTENT_FIELDS``; the others are
        taken from ``base`` (the published version when not given; the editors
        pass the latest version, a draft if there is one). Content that differs
        from the base makes a new version (``create_version``: validated, raises
        ValidationError; its transaction is the one this needs, so a caller wraps
        the call only to do more work in the same transaction). Content equal to
        the base makes none; publishing it then publishes the base (the editors'
        unchanged draft) unless it is published already. A template with nothing
        published yet publishes what is saved: there is no form to keep serving.
        """
        unknown = set(content) - set(CONTENT_FIELDS)
        if unknown:
            raise ValueError(f"Not version content: {', '.join(sorted(unknown))}.")
        publish = publish or self.published_version_id is None
        # Under review, what would be published is proposed instead (nothing is served unseen).
        proposes = publish and self.needs_review(author)
        publish = publish and not proposes
        if base is None:
            base = self.published_version
        if base is not None:
            current = base.content()
            # A logo upload shows in the theme (by digest): the same image again changes nothing.
            if all(current[field] == value for field, value in content.items()):
                publishes = publish and self.published_version_id != base.pk
                if publishes:
                    self.publish(base, author)
                proposed = proposes and self.published_version_id != base.pk
                if proposed:
                    self.propose(base, author)
                return SavedContent(version=base, created=False, published=publishes, proposed=proposed)
            content = {**current, **content}
        version = self.create_version(author=author, publish=publish, logo=logo, **content)
        if proposes:
            self.propose(version, author)
        return SavedContent(version=version, created=True, published=publish, proposed=proposes)

    @property
    def latest_version(self) -> TemplateVersion | None:
        return self.versions.order_by("-number").first()

    @property
    def draft_version(self) -> TemplateVersion | None:
        """The latest version when it is newer than the published one and was never published.

        A newer version that was published once is what a rollback left behind, not
        work in progress: editing from it would bring back the text just rolled back."""
        latest = self.latest_version
        published = self.published_version
        if latest is None or (published is not None and latest.number <= published.number):
            return None
        if published is not None and latest.first_published_at is not None:
            return None
        return latest

    def editor_start(self, number: int | None = None) -> TemplateVersion | None:
        """The version the editor starts from: the one asked for (by number), else the
        draft, else the published version (so after a rollback, the rolled-back text)."""
        if number is not None and (asked := self.versions.filter(number=number).first()):
            return asked
        return self.draft_version or self.published_version or self.latest_version

    def newer_than_published(self) -> list[TemplateVersion]:
        """Versions after the published one (drafts, or what a rollback left), newest first."""
        if self.published_version is None:
            return []
        return list(self.versions.filter(number__gt=self.published_version.number).order_by("-number"))

    @transaction.atomic
    def publish(self, version: TemplateVersion, actor: Any = None) -> None:
        """Serve this version's form from now on (a newer draft, or an older one to roll back);
        ``actor`` for the audit log (else the request's person)."""
        if version.template_id != self.pk:
            raise ValueError("That version belongs to another template.")
        previous = self.published_version
        self.published_version = version
        self.save(update_fields=["published_version", "updated_at"])
        if previous is None or previous.pk != version.pk:
            # An older version published again is a rollback, as the history page says.
            rolled_back = previous is not None and version.number < previous.number
            self.audit(
                Action.TEMPLATE_ROLLED_BACK if rolled_back else Action.TEMPLATE_PUBLISHED,
                actor,
                version=version.number,
                previous=previous.number if previous else None,
            )
        if version.first_published_at is None:
            # Publication, not content: versions stay immutable in everything they hold.
            version.first_published_at = timezone.now()
            TemplateVersion.objects.filter(pk=version.pk, first_published_at__isnull=True).update(
                first_published_at=version.first_published_at
            )

    # --- Review before publishing (a workspace setting) ---------------------------------

    def needs_review(self, user: Any) -> bool:
        """Does ``user``'s publish wait for a reviewer? Under its workspace's review, for
        everyone below admin; PromptLab's own saves (no user) and staff publish directly."""
        workspace = self.workspace
        if workspace is None or not workspace.review_required or user is None or user.is_staff:
            return False
        return not workspace.allows(user, Role.ADMIN)

    def may_review(self, user: Any) -> bool:
        """May ``user`` approve or ask for changes: the workspace's admins and owner, and staff."""
        if user is None or not user.is_authenticated:
            return False
        return bool(user.is_staff or (self.workspace is not None and self.workspace.allows(user, Role.ADMIN)))

    @transaction.atomic
    def propose(self, version: TemplateVersion, user: Any, comment: str = "") -> VersionReview:
        """Ask for ``version`` to be published; a reviewer approves or asks for changes."""
        self._own(version)
        if self.published_version_id == version.pk:
            raise ReviewError("already_published", _("This version is already published."))
        TemplateVersion.objects.filter(pk=version.pk).update(review_state=ReviewState.PROPOSED)
        version.review_state = ReviewState.PROPOSED
        self.audit(Action.TEMPLATE_PROPOSED, user, version=version.number)
        return VersionReview.objects.create(
            version=version, author=user, action=ReviewAction.PROPOSED, comment=comment
        )

    @transaction.atomic
    def approve(self, version: TemplateVersion, reviewer: Any, comment: str = "") -> VersionReview:
        """Publish a proposed version. Nobody approves their own proposal: the proposer's
        publish is what the review holds back, whatever their role is now."""
        self._own(version)
        self._reviewable(version, reviewer)
        review = VersionReview.objects.create(
            version=version, author=reviewer, action=ReviewAction.APPROVED, comment=comment
        )
        TemplateVersion.objects.filter(pk=version.pk).update(review_state=ReviewState.APPROVED)
        version.review_state = ReviewState.APPROVED
        self.audit(Action.TEMPLATE_APPROVED, reviewer, version=version.number)
        self.publish(version, reviewer)
        return review

    @transaction.atomic
    def request_changes(self, version: TemplateVersion, reviewer: Any, comment: str) -> VersionReview:
        self._own(version)
        if not comment.strip():
            raise ReviewError("comment_required", _("Say what should change."))
        self._reviewable(version, reviewer)
        TemplateVersion.objects.filter(pk=version.pk).update(review_state=ReviewState.CHANGES_REQUESTED)
        version.review_state = ReviewState.CHANGES_REQUESTED
        self.audit(Action.TEMPLATE_CHANGES_REQUESTED, reviewer, version=version.number)
        return VersionReview.objects.create(
            version=version, author=reviewer, action=ReviewAction.CHANGES_REQUESTED, comment=comment
        )

    def comment_on(self, version: TemplateVersion, user: Any, comment: str) -> VersionReview:
        self._own(version)
        if not comment.strip():
            raise ReviewError("comment_required", _("Write a comment."))
        return VersionReview.objects.create(
            version=version, author=user, action=ReviewAction.COMMENTED, comment=comment
        )

    def take_review_step(
        self, version: TemplateVersion, user: Any, step: str, comment: str = ""
    ) -> VersionReview:
        """One of REVIEW_STEPS by name (the site's review form and the API's)."""
        steps = {
            "propose": self.propose,
            "comment": self.comment_on,
            "approve": self.approve,
            "request_changes": self.request_changes,
        }
        return steps[step](version, user, comment)

    def _own(self, version: TemplateVersion) -> None:
        if version.template_id != self.pk:
            raise ValueError("That version belongs to another template.")

    def _reviewable(self, version: TemplateVersion, reviewer: Any) -> None:
        # Locked, so two reviewers at once can't both act on the same proposal.
        state = (
            TemplateVersion.objects.select_for_update()
            .values_list("review_state", flat=True)
            .get(pk=version.pk)
        )
        if state != ReviewState.PROPOSED:
            raise ReviewError("not_proposed", _("This version is not waiting for review."))
        if not self.may_review(reviewer):
            raise ReviewError(
                "permission_denied", _("Only the workspace's admins and owner review versions.")
            )
        proposal = version.reviews.filter(action=ReviewAction.PROPOSED).order_by("-created_at", "-pk").first()
        if proposal is not None and proposal.author_id == reviewer.pk:
            raise ReviewError("own_proposal", _("Someone else must review your own proposal."))

    @property
    def frame_ancestors(self) -> list[str]:
        """The origins that may frame the embed page (read back through the validator, so
        a row written past it puts nothing odd in a header)."""
        try:
            return normalize_origins(self.embed_origins)
        except ValidationError:
            return []

    @property
    def embeddable(self) -> bool:
        """May ``/t/<slug>/embed/`` serve it: anyone may run it (an embedded form runs as an
        anonymous visitor: a frame on another site carries no session) and some site may frame it."""
        return (
            self.visibility == Visibility.PUBLIC
            and self.published_version_id is not None
            and self.deleted_at is None
            and bool(self.frame_ancestors)
        )

    def is_managed_by(self, user: Any) -> bool:
        """May this user edit, preview drafts, publish and see the history? Staff, and the
        editors (and above) of its workspace."""
        if user is None or not user.is_authenticated:
            return False
        if user.is_staff:
            return True
        role = self.role_of(user)
        return role is not None and role.at_least(Role.EDITOR)

    def role_of(self, user: Any) -> Role | None:
        """``user``'s role in the template's workspace (None: no member, or no workspace):
        from ``with_viewer_role`` when the template was read with it, for this user."""
        if self.workspace_id is None or user is None or not user.is_authenticated:
            return None
        if self.__dict__.get("viewer_id") == user.pk:
            return Role(self.viewer_role) if self.viewer_role else None
        return roles_of(user).get(self.workspace_id)


def _copy_name(name: str, language: str) -> str:
    with override(language):
        return str(_("%(name)s (copy)") % {"name": name})[:120]


class TemplateVersion(models.Model):
    """One immutable state of a template: prompt, parameter schema, model settings."""

    template = models.ForeignKey(
        Template, verbose_name=_("template"), on_delete=models.CASCADE, related_name="versions"
    )
    number = models.PositiveIntegerField(_("number"))
    system_prompt = models.TextField(_("system prompt"), blank=True)
    body = models.TextField(
        _("prompt body"), help_text=_("Jinja2 syntax: {{ parameter_name }} inserts a value.")
    )
    parameters = models.JSONField(_("parameter schema"), default=list, blank=True)
    provider = models.CharField(_("provider"), max_length=PROVIDER_MAX_LENGTH, default="offline")
    model = models.CharField(_("model"), max_length=MODEL_MAX_LENGTH, default="offline-echo")
    temperature = models.DecimalField(
        _("temperature"),
        max_digits=3,
        decimal_places=2,
        default=Decimal("0.70"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("2"))],
    )
    max_tokens = models.PositiveIntegerField(
        _("max tokens"), default=1024, validators=[MinValueValidator(1), MaxValueValidator(200_000)]
    )
    allowed_models = models.JSONField(
        _("models a run may choose"),
        default=list,
        blank=True,
        help_text=_(
            "provider/model pairs an API caller may run this version on instead of its own model; "
            "only models with a price are run."
        ),
    )
    theme = models.JSONField(
        _("theme"),
        default=dict,
        blank=True,
        help_text=_("Colours, font, corner radius, logo and custom CSS of the form page."),
    )
    steps = models.JSONField(
        _("steps"),
        default=list,
        blank=True,
        help_text=_("A workflow's steps, run instead of the prompt body; empty for a single prompt."),
    )
    result_step = models.CharField(
        _("result step"),
        max_length=40,
        blank=True,
        help_text=_("The step whose output is the run's output; empty: the last step."),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    first_published_at = models.DateTimeField(
        _("first published"),
        null=True,
        blank=True,
        help_text=_("When this version was first published; empty for a draft never published."),
    )
    # Publication metadata like the above, not content: set by the review's own UPDATEs.
    review_state = models.CharField(
        _("review"), max_length=20, choices=ReviewState.choices, blank=True, default=""
    )

    objects = TemplateVersionQuerySet.as_manager()

    class Meta:
        verbose_name = _("template version")
        verbose_name_plural = _("template versions")
        ordering = ("template", "-number")
        constraints = [models.UniqueConstraint(fields=["template", "number"], name="unique_version_number")]

    def __str__(self) -> str:
        return f"{self.template} v{self.number}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise ValueError("Template versions are immutable; create a new version instead.")
        super().save(*args, **kwargs)

    @cached_property
    def schema_key(self) -> str:
        """The schema as canonical JSON: the cache key of everything derived from it."""
        return json.dumps(self.parameters, sort_keys=True)

    @property
    def schema(self) -> ParameterSchema:
        return parsed_schema(self.schema_key)

    @property
    def is_workflow(self) -> bool:
        return bool(self.steps)

    @cached_property
    def step_graph(self) -> StepGraph:
        """The parsed steps (an empty graph for a single prompt)."""
        return parsed_steps(json.dumps(self.steps, sort_keys=True), self.result_step, self.schema_key)

    def clean_fields(self, exclude: Any = None) -> None:
        if self.steps and not self.body:
            # A workflow runs its steps; its own body may be empty (a plain version's may not).
            exclude = {*(exclude or ()), "body"}
        super().clean_fields(exclude=exclude)

    def clean(self) -> None:
        try:
            schema = ParameterSchema.parse(self.parameters)
        except SchemaError as exc:
            raise ValidationError({"parameters": exc.errors}) from None
        errors: dict[str, list[str]] = {}
        if self.steps or self.result_step:
            errors.update(self._steps_errors(schema.names))
        if model_errors := allowed_models_errors(self.allowed_models):
            errors["allowed_models"] = model_errors
        theme_errors = self._theme_errors()
        if theme_errors:
            errors["theme"] = theme_errors
        for field_name in ("system_prompt", "body"):
            source = getattr(self, field_name) or ""
            try:
                unknown = referenced_names(source) - schema.names
                if unknown:
                    errors[field_name] = [
                        _("Uses parameter(s) the schema does not define: %(names)s.")
                        % {"names": ", ".join(sorted(unknown))}
                    ]
                    continue
                render_prompt(source, schema.sample_inputs())
            except PromptRenderError as exc:
                errors[field_name] = [str(exc)]
        if errors:
            raise ValidationError(errors)

    def _steps_errors(self, parameter_names: set[str]) -> dict[str, list[str]]:
        """The steps' problems by field ("steps", "result_step"); stores the canonical
        form of valid steps (defaults filled, keys in order)."""
        try:
            graph = StepGraph.parse(self.steps, parameter_names=parameter_names, result_step=self.result_step)
        except StepsInvalid as exc:
            errors: dict[str, list[str]] = {}
            for problem in exc.errors:
                field_name = problem.field if problem.field in ("result_step", "parameters") else "steps"
                errors.setdefault(field_name, []).append(problem.message)
            return errors
        self.steps = graph.to_data()
        self.__dict__.pop("step_graph", None)
        return {}

    def _theme_errors(self) -> list[str]:
        try:
            theme = parse_theme(self.theme)
        except ThemeError as exc:
            return exc.errors
        if theme and theme.custom_css:  # the version before is looked up only when there is CSS to judge
            previous = self._previous_css()
            css_errors = custom_css_errors(theme.custom_css, author=self.created_by, previous=previous)
            if css_errors:
                return css_errors
        if theme and theme.logo and not self._may_use_logo(theme.logo):
            return [_("Logo must be an uploaded image.")]
        return []

    def _previous_css(self) -> str:
        """The custom CSS of the version this one follows (what its author may keep)."""
        if not self.template_id:
            return ""
        previous = self.template.versions.exclude(pk=self.pk).order_by("-number").only("theme").first()
        return (previous.theme or {}).get("custom_css", "") if previous else ""

    def _may_use_logo(self, digest: str) -> bool:
        """Only a logo this save uploads, or one the template already uses: a digest
        alone must not let anyone reuse another user's image."""
        if digest == getattr(self, "uploaded_logo", None):
            return True
        return bool(
            self.template_id
            and TemplateVersion.objects.filter(template_id=self.template_id, theme__logo=digest)
            .exclude(pk=self.pk)
            .exists()
            and ThemeLogo.objects.filter(digest=digest).exists()
        )

    @cached_property
    def parsed_theme(self) -> Any:
        """The parsed theme (a ``theme.Theme``), or None when the version has none."""
        if not self.theme:
            return None
        return _parsed_theme(json.dumps(self.theme, sort_keys=True))

    def content(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in CONTENT_FIELDS}

    @property
    def warnings(self) -> list[str]:
        """What to tell the author after a save (not errors): each parameter the prompt never uses."""
        if not self.is_workflow:
            return parameter_warnings(self.schema, self.body, self.system_prompt)
        try:
            read = self.step_graph.parameters_read()
        except (StepsInvalid, PromptRenderError):
            return []  # its errors say more
        return parameter_warnings(self.schema, self.body, self.system_prompt, also_read=read)

    def render(self, inputs: dict[str, Any]) -> tuple[str, str]:
        """The (system prompt, user prompt) for validated inputs."""
        return render_prompt(self.system_prompt, inputs), render_prompt(self.body, inputs)

    @property
    def model_settings(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "model": self.model,
            "temperature": str(self.temperature),
            "max_tokens": self.max_tokens,
            "allowed_models": list(self.allowed_models),
        }


def model_setting_defaults() -> dict[str, Any]:
    """A new version's model settings when nothing says otherwise (the fields' defaults)."""
    return {name: TemplateVersion._meta.get_field(name).get_default() for name in MODEL_SETTING_FIELDS}


def field_bounds(name: str) -> tuple[Any, Any]:
    """The (minimum, maximum) a TemplateVersion field's validators allow (None when unbounded)."""
    lowest = highest = None
    for validator in TemplateVersion._meta.get_field(name).validators:
        if isinstance(validator, MinValueValidator):
            lowest = validator.limit_value
        elif isinstance(validator, MaxValueValidator):
            highest = validator.limit_value
    return lowest, highest


class ReviewAction(models.TextChoices):
    PROPOSED = "proposed", _("proposed it")
    COMMENTED = "commented", _("commented")
    CHANGES_REQUESTED = "changes_requested", _("asked for changes")
    APPROVED = "approved", _("approved and published it")


class VersionReview(models.Model):
    """One step of a version's review, kept with the version: who proposed, commented,
    asked for changes or approved, when, and what they wrote."""

    version = models.ForeignKey(
        TemplateVersion, verbose_name=_("version"), on_delete=models.CASCADE, related_name="reviews"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    action = models.CharField(_("action"), max_length=20, choices=ReviewAction.choices)
    comment = models.TextField(_("comment"), blank=True, max_length=4000)
    created_at = models.DateTimeField(_("when"), auto_now_add=True)

    class Meta:
        verbose_name = _("review step")
        verbose_name_plural = _("review steps")
        ordering = ("created_at", "pk")

    def __str__(self) -> str:
        return f"{self.version} {self.action}"


class ThemeLogo(models.Model):
    """An uploaded logo image, stored once by content and referenced from themes by its digest."""

    digest = models.CharField(_("SHA-256"), max_length=64, primary_key=True)
    content_type = models.CharField(_("content type"), max_length=40)
    data = models.BinaryField(_("image"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("theme logo")
        verbose_name_plural = _("theme logos")

    def __str__(self) -> str:
        return self.digest[:12]

    def get_absolute_url(self) -> str:
        return reverse("templates_app:theme_logo", args=[self.digest])

    @staticmethod
    def content_type_of(data: bytes) -> str:
        """The logo's content type; raises ThemeError when it is not a small PNG, JPEG or WebP."""
        if len(data) > MAX_LOGO_BYTES:
            raise ThemeError([_("Logo must be at most %(kb)d KB.") % {"kb": MAX_LOGO_BYTES // 1000}])
        content_type = sniff_logo(data)
        if not content_type:
            raise ThemeError([_("Logo must be a PNG, JPEG or WebP image (SVG is not accepted).")])
        return content_type

    @classmethod
    def store(cls, data: bytes) -> ThemeLogo:
        """Keep an uploaded logo; raises ThemeError when it is not a small PNG, JPEG or WebP."""
        content_type = cls.content_type_of(data)
        logo, _created = cls.objects.get_or_create(
            digest=logo_digest(data), defaults={"content_type": content_type, "data": data}
        )
        return logo
