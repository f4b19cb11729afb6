"""accounts sits below workspaces and cannot call it: a new user's personal workspace
is made when the user row is first saved (the signal is how a lower layer is heard)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models.signals import post_save
from django.dispatch import receiver

from .models import Workspace


@receiver(post_save, sender=get_user_model(), dispatch_uid="workspaces.personal_workspace")
def make_personal_workspace(
    sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any
) -> None:
    if created and not raw:
        Workspace.objects.personal_for(instance)
