"""The events an endpoint may subscribe to: a registry, so that later apps add theirs.

An event type is a name (``job.succeeded``: the payload's ``type``), a label and a
description for people. ``EVENTS.register`` adds one; the forms, the API's choices
and the OpenAPI document read the registry, so a new event needs nothing else there.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class EventType:
    name: str
    label: str | Promise
    description: str | Promise


class EventRegistry:
    def __init__(self) -> None:
        self._events: dict[str, EventType] = {}

    def register(self, event: EventType) -> EventType:
        if event.name in self._events:
            raise ValueError(f"The webhook event {event.name!r} is registered already.")
        self._events[event.name] = event
        return event

    def __iter__(self) -> Iterator[EventType]:
        return iter(self._events.values())

    def __contains__(self, name: object) -> bool:
        return name in self._events

    def get(self, name: str) -> EventType | None:
        return self._events.get(name)

    def choices(self) -> list[tuple[str, str | Promise]]:
        return [(event.name, event.label) for event in self]

    def names(self) -> list[str]:
        return list(self._events)


EVENTS = EventRegistry()

JOB_SUCCEEDED = EVENTS.register(
    EventType("job.succeeded", _("Job succeeded"), _("A job finished with its answer."))
)
JOB_FAILED = EVENTS.register(
    EventType("job.failed", _("Job failed"), _("A job ended with an error (its attempts are spent)."))
)
JOB_CANCELLED = EVENTS.register(
    EventType("job.cancelled", _("Job cancelled"), _("A job was cancelled before it finished."))
)

# The event each terminal job status is.
JOB_STATUS_EVENTS = {"succeeded": JOB_SUCCEEDED, "failed": JOB_FAILED, "cancelled": JOB_CANCELLED}
