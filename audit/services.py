"""Adding to the audit log: ``record`` is the one way in, for every app."""

from __future__ import annotations

from typing import Any

from .context import client_address, current_request
from .models import Action, AuditEntry

_CURRENT = object()  # "the current request's", told apart from an explicit None


def record(
    action: Action | str,
    *,
    workspace: Any = None,
    actor: Any = _CURRENT,
    actor_email: str = "",
    target: Any = None,
    target_type: str = "",
    target_id: Any = "",
    target_text: str = "",
    details: dict[str, Any] | None = None,
    request: Any = None,
) -> AuditEntry:
    """Add an entry to the audit log and return it.

    - ``action``: an ``audit.models.Action`` (add a member there for a new kind of event).
    - ``workspace``: the ``Workspace`` it happened in (its log shows it), or None for the
      site's own events (provider connections, a sign-in with an unknown address): the
      admin shows those. Its name is kept as text, so the entry outlives it.
    - ``actor``: who did it, a user or None (nobody: a task, a command). Not given: the
      signed-in person of the request being answered. ``actor_email`` is kept as text
      (the actor's address when not given), so the entry outlives the account; for a
      failed sign-in it is the address tried.
    - ``target``: the object acted on (a model instance: its model's name, pk and str are
      kept), or ``target_type``/``target_id``/``target_text`` given as text.
    - ``details``: JSON-serialisable facts, e.g. ``{"version": 3, "previous": 2}`` (with
      ``"slug"``, for a template: the page links to that version's changes) or
      ``{"from": "editor", "to": "admin"}``.
    - ``request``: where the address (REMOTE_ADDR) comes from; the current request's when
      not given.

    Call it inside the transaction that makes the change: when that rolls back, the
    entry goes with it.
    """
    request = request if request is not None else current_request()
    if actor is _CURRENT:
        user = getattr(request, "user", None)
        actor = user if user is not None and user.is_authenticated else None
    if target is not None:
        target_type = target_type or target._meta.model_name
        target_id = target_id or target.pk
        target_text = target_text or str(target)
    return AuditEntry.objects.create(
        workspace=workspace,
        workspace_name=(workspace.name if workspace is not None else "")[:100],
        actor=actor,
        actor_email=(actor_email or getattr(actor, "email", "") or "")[:254],
        action=action,
        target_type=target_type[:40],
        target_id=str(target_id or "")[:64],
        target_text=str(target_text)[:200],
        details=details or {},
        ip_address=client_address(request) if request is not None else None,
    )
