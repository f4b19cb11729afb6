"""Events of the layers below (accounts) and of models named, not imported (a workspace's
memberships, however they are made: the services, an invitation, the admin), heard by
their signals and recorded."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.exceptions import ObjectDoesNotExist
from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import PersonalToken
from accounts.signals import signed_in_through_api, tokens_revoked

from .context import current_request
from .models import Action
from .services import record


def personal_workspace(user: Any) -> Any:
    """A person's own events (sign-ins, tokens) are in their personal workspace's log."""
    try:
        return user.personal_workspace
    except ObjectDoesNotExist:
        return None


def acting_on(user: Any) -> Any:
    """Whoever's request it is (staff, in the admin); else the account's owner (a task, a
    password reset by e-mail)."""
    by = getattr(current_request(), "user", None)
    return by if by is not None and by.is_authenticated else user


def token_details(token: PersonalToken) -> dict[str, Any]:
    return {"prefix": token.prefix, "expires_at": token.expires_at and token.expires_at.isoformat()}


@receiver(user_logged_in, dispatch_uid="audit.signed_in")
def signed_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    record(Action.SIGNED_IN, workspace=personal_workspace(user), actor=user, target=user, request=request)


@receiver(signed_in_through_api, dispatch_uid="audit.signed_in_through_api")
def signed_in_with_a_jwt(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    record(
        Action.SIGNED_IN,
        workspace=personal_workspace(user),
        actor=user,
        target=user,
        details={"through": "api"},
        request=request,
    )


@receiver(user_login_failed, dispatch_uid="audit.sign_in_failed")
def sign_in_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    # Django has already masked the password; the address tried is kept (an unknown one
    # too, linked to nobody), so its owner sees the attempts on their account.
    tried = str(credentials.get("username") or credentials.get("email") or "").strip()
    user = get_user_model().objects.filter(email__iexact=tried).first() if tried else None
    record(
        Action.SIGN_IN_FAILED,
        workspace=personal_workspace(user) if user else None,
        actor=user,
        actor_email=tried,
        target=user,
        request=request,
    )


@receiver(post_save, sender=PersonalToken, dispatch_uid="audit.token_saved")
def token_saved(
    sender: Any, instance: PersonalToken, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if raw:
        return
    if created:
        action = Action.TOKEN_CREATED
    elif instance.revoked_at is not None and "revoked_at" in (kwargs.get("update_fields") or ()):
        action = Action.TOKEN_REVOKED
    else:
        return
    record(
        action,
        workspace=personal_workspace(instance.user),
        actor=acting_on(instance.user),
        target=instance,
        details=token_details(instance),
    )


@receiver(tokens_revoked, dispatch_uid="audit.tokens_revoked")
def tokens_revoked_in_bulk(
    sender: Any, user: Any, tokens: list[PersonalToken], reason: str, **kwargs: Any
) -> None:
    for token in tokens:
        record(
            Action.TOKEN_REVOKED,
            workspace=personal_workspace(user),
            actor=acting_on(user),
            target=token,
            details={**token_details(token), "reason": reason},
        )


@receiver(post_save, sender="workspaces.Membership", dispatch_uid="audit.member_joined")
def member_joined(sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
    # A personal workspace's one member is its owner, made with the account: no event.
    if not created or raw or instance.workspace.personal:
        return
    record(
        Action.MEMBER_JOINED,
        workspace=instance.workspace,
        target=instance.user,
        details={"role": instance.role},
    )
