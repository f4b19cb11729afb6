"""A personal token's scope, on every API operation.

Reading (GET, HEAD, OPTIONS) needs ``read``; an operation that only starts or steers a
run (generate, a batch, cancel, retry) says so with ``@needs_scope(TokenScope.RUN)``;
every other change needs ``full``. JWTs and sessions are their owner's whole rights."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.utils.translation import gettext_lazy as _
from rest_framework import permissions
from rest_framework.request import Request

from .models import PersonalToken, TokenScope

Handler = TypeVar("Handler", bound=Callable[..., Any])


def needs_scope(scope: TokenScope) -> Callable[[Handler], Handler]:
    """Mark a view method (a viewset action, or an APIView's ``post``) with the scope it needs."""

    def mark(handler: Handler) -> Handler:
        handler.token_scope = scope  # type: ignore[attr-defined]
        return handler

    return mark


def needed_scope(request: Request, view: Any) -> TokenScope:
    if request.method in permissions.SAFE_METHODS:
        return TokenScope.READ
    name = getattr(view, "action", None) or (request.method or "").lower()
    handler = getattr(view, name, None)
    return getattr(handler, "token_scope", TokenScope.FULL)


class TokenScopePermission(permissions.BasePermission):
    message = _("This API token's scope does not allow this operation.")

    def has_permission(self, request: Request, view: Any) -> bool:
        token = request.auth
        if not isinstance(token, PersonalToken):
            return True
        return token.allows(needed_scope(request, view))
