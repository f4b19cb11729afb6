"""Who may do what to a template through the API: the site's rule (``Template.is_managed_by``)."""

from __future__ import annotations

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request

from ..models import Template


class ManagesTemplateOrReadOnly(permissions.BasePermission):
    """Anyone who can see a template may read it (every reading action is a GET: its
    versions, its input schema, its export); only those who manage it (its workspace's
    editors and above, and staff, as on the site) may change or delete it. Running it is
    ``jobs``' to allow."""

    def has_object_permission(self, request: Request, view: Any, obj: Template) -> bool:
        return request.method in permissions.SAFE_METHODS or obj.is_managed_by(request.user)
