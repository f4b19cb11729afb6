from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from . import principals


class Plan(models.TextChoices):
    FREE = "free", _("Free")
    STARTER = "starter", _("Starter")
    PROFESSIONAL = "professional", _("Professional")
    ENTERPRISE = "enterprise", _("Enterprise")


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> User:
        # Emails are stored lower-cased, so signing in ignores case.
        return self.get(email__iexact=username or "")


class User(AbstractUser):
    """A person, identified by email address (no separate username)."""

    username = None  # type: ignore[assignment]
    first_name = None  # type: ignore[assignment]
    last_name = None  # type: ignore[assignment]
    email = models.EmailField(_("email address"), unique=True)
    name = models.CharField(_("name"), max_length=150, blank=True)
    plan = models.CharField(_("plan"), max_length=16, choices=Plan.choices, default=Plan.FREE)
    language = models.CharField(
        _("language"),
        max_length=16,
        choices=settings.LANGUAGES,
        blank=True,
        help_text=_("The language of every page once signed in; empty to follow the browser."),
    )
    awaiting_confirmation = models.BooleanField(
        _("awaiting confirmation"),
        default=False,
        help_text=_("Registered, inactive until the link e-mailed to the address is followed."),
    )

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.email

    def get_full_name(self) -> str:
        return self.name or self.email

    def get_short_name(self) -> str:
        return self.name or self.email

    def save(self, *args: Any, **kwargs: Any) -> None:
        created = self._state.adding
        # set_password() leaves the raw password here until the save (not on a hash upgrade).
        password_changed = not created and self._password is not None
        super().save(*args, **kwargs)
        if password_changed:
            self.revoke_credentials()
        # Signing in only stamps last_login: nothing an API caller's rights depend on.
        if not created and set(kwargs.get("update_fields") or ()) != {"last_login"}:
            self.forget_cached_principals()

    def revoke_credentials(self) -> None:
        """A new password ends every credential the old one handed out: personal API
        tokens and JWT refresh tokens (access JWTs are refused by their password claim,
        other sessions by Django's session hash)."""
        from .refresh_tokens import revoke_all_for  # imports simplejwt's models
        from .signals import tokens_revoked

        now = timezone.now()
        with transaction.atomic():
            # Locked: a token revoked meanwhile (its own page) is neither revoked nor told twice.
            usable = list(
                PersonalToken.objects.select_for_update().filter(user_id=self.pk, revoked_at__isnull=True)
            )
            PersonalToken.objects.filter(pk__in=[token.pk for token in usable]).update(revoked_at=now)
        for token in usable:
            token.revoked_at = now
        revoke_all_for(self.pk)
        if usable:
            # A bulk update sends no post_save: the audit log hears of these through this signal.
            tokens_revoked.send(sender=PersonalToken, user=self, tokens=usable, reason="password_changed")

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        self.forget_cached_principals()
        return super().delete(*args, **kwargs)

    def forget_cached_principals(self) -> None:
        """Deactivation, a new password or deletion takes effect on the very next API request."""
        if self.pk is None:
            return
        hashes = PersonalToken.objects.filter(user_id=self.pk).values_list("key_hash", flat=True)
        principals.forget([principals.user_key(self.pk), *map(principals.token_key, hashes)])


TOKEN_PREFIX = "pl_"


def limited_to_templates(credential: Any) -> bool:
    """Is ``credential`` a personal token limited to some templates? Such a token reaches
    those templates and their jobs only: not the workspaces, their members, invitations,
    budgets or log (a token made to run one template must not hand a workspace over)."""
    return isinstance(credential, PersonalToken) and credential.templates.exists()


class TokenScope(models.TextChoices):
    """What a personal token may do, in rising order: each allows what the ones before do."""

    READ = "read", _("Read only")
    RUN = "run", _("Read and run templates")
    FULL = "full", _("Everything its owner may do")

    @property
    def rank(self) -> int:
        return [TokenScope.READ, TokenScope.RUN, TokenScope.FULL].index(self) + 1


def hash_token(raw: str) -> str:
    # Tokens are 256 random bits, so a fast hash is as safe as a slow one here.
    return hashlib.sha256(raw.encode()).hexdigest()


class PersonalToken(models.Model):
    """A long-lived API token for scripts: shown once, stored only as a hash."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(
        _("prefix"), max_length=12, help_text=_("The token's first characters, to recognise it.")
    )
    key_hash = models.CharField(_("key hash"), max_length=64, unique=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    # A lazy reference: accounts imports nothing above it. The rule that applies the
    # limit is the templates' own (templates_app's TemplateQuerySet.reachable_with).
    templates = models.ManyToManyField(
        "templates_app.Template",
        verbose_name=_("templates"),
        blank=True,
        related_name="+",
        help_text=_("The templates this token may see and run; none chosen: every template its owner may."),
    )

    scope = models.CharField(
        _("scope"),
        max_length=8,
        choices=TokenScope.choices,
        default=TokenScope.FULL,
        help_text=_(
            "Read only: looks, never changes or runs anything. Read and run: also runs templates "
            "and cancels or retries its runs. Everything: also changes templates, tokens and settings."
        ),
    )
    # CASCADE, not SET_NULL: a token limited to a workspace that is gone must not reach them all.
    workspace = models.ForeignKey(
        "workspaces.Workspace",
        verbose_name=_("workspace"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="+",
        help_text=_(
            "The one workspace whose templates and jobs the token reaches; empty: all of its owner's."
        ),
    )

    class Meta:
        verbose_name = _("personal API token")
        verbose_name_plural = _("personal API tokens")
        ordering = ("-created_at",)

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def save(self, *args: Any, **kwargs: Any) -> None:
        created = self._state.adding
        super().save(*args, **kwargs)
        if not created:
            principals.forget([principals.token_key(self.key_hash)])

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        principals.forget([principals.token_key(self.key_hash)])
        return super().delete(*args, **kwargs)

    @classmethod
    def issue(
        cls,
        user: User,
        name: str,
        expires_at: datetime | None = None,
        templates: Iterable[Any] = (),
        *,
        scope: str = TokenScope.FULL,
        workspace: Any = None,
    ) -> tuple[PersonalToken, str]:
        """Create a token, limited to ``templates`` when any are given, to ``workspace``
        when given, and to ``scope``; the raw value is returned once and never stored."""
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with transaction.atomic():
            token = cls.objects.create(
                user=user,
                name=name,
                prefix=raw[:10],
                key_hash=hash_token(raw),
                expires_at=expires_at,
                scope=scope,
                workspace=workspace,
            )
            token.templates.set(templates)
        return token, raw

    @classmethod
    def template_choices(cls, user: User) -> QuerySet[Any]:
        """The templates a token of ``user`` may be limited to: those they may run.
        Reached through the relation, so that accounts imports nothing above it."""
        related = cls._meta.get_field("templates").related_model
        return related.objects.visible_to(user).runnable().order_by("name")  # type: ignore[union-attr]

    @classmethod
    def workspace_choices(cls, user: User) -> QuerySet[Any]:
        """The workspaces a token of ``user`` may be limited to: theirs (through the
        relation, as above)."""
        related = cls._meta.get_field("workspace").related_model
        return related.objects.of(user)  # type: ignore[union-attr]

    def allows(self, needed: str) -> bool:
        """Does the token's scope cover an operation that needs ``needed``?"""
        return TokenScope(self.scope).rank >= TokenScope(needed).rank

    @property
    def is_limited(self) -> bool:
        """Limited in any way: to some templates, one workspace, or a scope below everything."""
        return self.scope != TokenScope.FULL or self.workspace_id is not None or self.templates.exists()

    @property
    def is_usable(self) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > timezone.now())

    def revoke(self) -> None:
        if self.revoked_at is None:
            self.revoked_at = timezone.now()
            self.save(update_fields=["revoked_at"])

    def touch(self) -> bool:
        """Record use, at most once a minute (not a write per request); True if written.

        The cached token's ``last_used_at`` goes stale; the shared cache, not it,
        says whether this minute's use is already recorded."""
        now = timezone.now()
        if self.last_used_at is not None and now - self.last_used_at < timedelta(minutes=1):
            return False
        if not principals.claim_use_stamp(self.pk):
            return False
        PersonalToken.objects.filter(pk=self.pk).update(last_used_at=now)
        self.last_used_at = now
        return True
