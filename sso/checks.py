"""The single sign-on settings, checked when any management command or server starts."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register

from . import domains


@register()
def check_sso_settings(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    problems: list[Error | Warning] = []
    given = {
        "OIDC_ISSUER": settings.OIDC_ISSUER,
        "OIDC_CLIENT_ID": settings.OIDC_RP_CLIENT_ID,
        "OIDC_CLIENT_SECRET": settings.OIDC_RP_CLIENT_SECRET,
    }
    if any(given.values()) and not all(given.values()):
        missing = ", ".join(name for name, value in given.items() if not value)
        problems.append(
            Error(
                "Single sign-on needs OIDC_ISSUER, OIDC_CLIENT_ID and OIDC_CLIENT_SECRET; "
                f"{missing} not set.",
                hint="Set all three to turn sign-in with the provider on, or none to leave it off.",
                id="sso.E001",
            )
        )
    if settings.OIDC_ISSUER and not settings.OIDC_ISSUER.startswith(("https://", "http://")):
        problems.append(Error(f"OIDC_ISSUER {settings.OIDC_ISSUER!r} is not a URL.", id="sso.E002"))
    scopes = settings.OIDC_RP_SCOPES.split()
    if "openid" not in scopes or "email" not in scopes:
        problems.append(
            Error(
                f"OIDC_SCOPES {settings.OIDC_RP_SCOPES!r} must include openid and email.",
                hint="Accounts are matched by their verified e-mail address.",
                id="sso.E003",
            )
        )
    try:
        rules = domains.rules()
    except domains.RuleError as error:
        problems.append(
            Error(
                f"OIDC_DOMAIN_WORKSPACES: {error}.",
                hint="Write comma-separated rules such as example.com=docs-team:editor "
                "(an e-mail domain, a team workspace's slug, and member, editor or admin).",
                id="sso.E004",
            )
        )
    else:
        if rules and not settings.OIDC_ISSUER:
            problems.append(
                Warning(
                    "OIDC_DOMAIN_WORKSPACES is set but single sign-on is off (no OIDC_ISSUER).",
                    id="sso.W001",
                )
            )
    return problems
