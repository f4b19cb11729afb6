"""Who may do what to a template through the API: the site's rule (``Template.is_managed_by``)."""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request

from ..models import Template

# Actions that only read a template (or run it) although not all are GETs: ``generate`` is a POST.
READ_ACTIONS = ("generate", "versions", "input_schema")


class ManagesTemplateOrReadOnly(permissions.BasePermission):
    """Anyone who can see a template may read and run it; only those who manage it (its
    owner and staff, as on the site) may change or delete it."""

    def has_object_permission(self, request: Request, view: Any, obj: Template) -> bool:
        if request.method in permissions.SAFE_METHODS or getattr(view, "action", None) in READ_ACTIONS:
            return True
        return obj.is_managed_by(request.user)
