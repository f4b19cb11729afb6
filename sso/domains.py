"""``OIDC_DOMAIN_WORKSPACES``: people whose e-mail domain is listed join a team workspace
with a role when they sign in with the provider, e.g.
``example.com=docs-team:editor,example.org=support:member``.

A rule only ever adds a membership: someone already in the workspace keeps the role they
have (higher or lower, owner included), so a rule never undoes what an admin changed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction

from accounts.models import User
from workspaces.models import Membership, Role, Workspace, forget_roles

logger = logging.getLogger(__name__)

# Owner is never given by a rule: a workspace has one, chosen by a person.
GRANTABLE = (Role.MEMBER, Role.EDITOR, Role.ADMIN)


class RuleError(ValueError):
    """What is wrong with one entry of the setting (said to the operator, in English)."""


@dataclass(frozen=True)
class DomainRule:
    domain: str
    workspace: str  # its slug
    role: Role


def parse(text: str) -> list[DomainRule]:
    rules = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        domain, equals, target = entry.partition("=")
        slug, colon, role = target.partition(":")
        domain, slug, role = domain.strip().lower(), slug.strip(), role.strip().lower()
        if not (equals and colon and domain and slug and role):
            raise RuleError(f"{entry!r} is not domain=workspace-slug:role")
        if "@" in domain or "." not in domain:
            raise RuleError(f"{entry!r}: {domain!r} is not an e-mail domain such as example.com")
        if role not in GRANTABLE:
            names = ", ".join(GRANTABLE)
            raise RuleError(f"{entry!r}: the role {role!r} is not one of {names}")
        rules.append(DomainRule(domain, slug, Role(role)))
    return rules


def rules() -> list[DomainRule]:
    return parse(settings.OIDC_DOMAIN_WORKSPACES)


def join_mapped_workspaces(user: User) -> list[Membership]:
    """The memberships the rules gave ``user`` now (none where they were a member already)."""
    domain = user.email.rpartition("@")[2].lower()
    added = []
    try:
        mapped = rules()
    except RuleError as error:
        # Refused at start-up (sso.E004, by migrate and check); a server started without
        # either still signs people in, without the rules.
        logger.error("OIDC_DOMAIN_WORKSPACES ignored: %s", error)
        return []
    for rule in mapped:
        if rule.domain != domain:
            continue
        workspace = Workspace.objects.filter(slug=rule.workspace, personal=False).first()
        if workspace is None:
            logger.warning("OIDC_DOMAIN_WORKSPACES names no team workspace %r", rule.workspace)
            continue
        try:
            # Not get_or_create's update: an existing membership is left as it is.
            with transaction.atomic():
                membership, created = Membership.objects.get_or_create(
                    workspace=workspace, user=user, defaults={"role": rule.role}
                )
        except IntegrityError:  # the same person signing in twice at once: the other one added it
            continue
        if created:
            added.append(membership)
    if added:
        forget_roles(user)
    return added
