"""An anonymous visitor's jobs: filed under their browser session, theirs once they sign in.

Signing in gives the session a new key (``login`` cycles it against session
fixation) before ``user_logged_in`` is sent, so the old key can't be read from the
session then; but cycling keeps the session's data. So the key a visitor's jobs
are filed under is also written into that data when a job is submitted, and the
receiver here reads it back: whichever view signs the person in (the sign-in page,
the registration link, the admin), their jobs follow them into the account.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver
from django.http import HttpRequest

from .models import Job

VISITOR_SESSION = "jobs.visitor_session"


def visitor_session_key(request: HttpRequest) -> str:
    """The key to file an anonymous visitor's job under ("" when signed in): this
    browser session's, made now if the visitor has none yet."""
    if request.user.is_authenticated:
        return ""
    session = request.session
    if not session.session_key:
        session.save()
    if session.get(VISITOR_SESSION) != session.session_key:
        session[VISITOR_SESSION] = session.session_key
    return session.session_key or ""


@receiver(user_logged_in, dispatch_uid="jobs.adopt_visitor_jobs")
def adopt_visitor_jobs(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    """Jobs run before signing in follow the person into their account."""
    session = getattr(request, "session", None)
    if session is None:
        return
    Job.objects.adopt_anonymous(session.pop(VISITOR_SESSION, None), user)
