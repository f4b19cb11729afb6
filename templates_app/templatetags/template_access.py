"""``{% load template_access %}``: the model's access rule, for pages that show a link only
to those it would let through."""

from __future__ import annotations

from typing import Any

from django import template as django_template

from templates_app.models import Template

register = django_template.Library()


@register.filter
def manages(user: Any, template: Template) -> bool:
    """``{% if user|manages:template %}``: ``Template.is_managed_by``, never restated."""
    return template.is_managed_by(user)
