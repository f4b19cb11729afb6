from __future__ import annotations

from django.contrib.admin.apps import AdminConfig


class PromptLabAdminConfig(AdminConfig):
    """django.contrib.admin, serving PromptLab's admin site (its login is rate limited)."""

    default_site = "promptlab.admin.PromptLabAdminSite"
