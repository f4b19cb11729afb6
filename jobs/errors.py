"""What each job error code means, in words people read (translated)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

MESSAGES = {
    "rate_limited": _("The provider is rate-limiting requests; PromptLab retried and gave up."),
    "provider_error": _("The provider had an internal error; PromptLab retried and gave up."),
    "overloaded": _("The provider is overloaded; PromptLab retried and gave up."),
    "connection_error": _("PromptLab could not reach the provider; it retried and gave up."),
    "timeout": _("The provider did not answer in time; PromptLab retried and gave up."),
    "stream_interrupted": _("The provider's answer was cut off; PromptLab retried and gave up."),
    "authentication_failed": _(
        "The provider refused PromptLab's API key. An administrator must fix the key."
    ),
    "permission_denied": _("The provider does not allow this request with PromptLab's API key."),
    "invalid_request": _("The provider rejected the request as invalid."),
    "unknown_model": _("The provider does not know this model."),
    "content_refused": _("The provider declined to answer this prompt."),
    "provider_unavailable": _(
        "The provider is unavailable right now (too many recent failures). Try again later."
    ),
    "provider_not_configured": _("This provider is not configured on this PromptLab."),
    "connection_refused": _(
        "This provider connection breaks PromptLab's rules for outgoing connections (its address or "
        "its key variable), so nothing was sent. An administrator must fix the connection."
    ),
    "unknown_provider": _("This template names a provider PromptLab does not know."),
    "broker_unavailable": _("The job queue is unavailable right now. Nothing was run; please try again."),
    "worker_lost": _("The worker running this job stopped, and the retries ran out."),
    "time_limit": _("The generation took longer than the time limit."),
    "internal_error": _("The generation failed unexpectedly; the error was logged."),
    "infrastructure_error": _(
        "PromptLab's database or job queue failed for a moment during this attempt; it was retried."
    ),
}


# Workflow steps' codes (jobs/workflows), whose detail is no provider's words: a step's name,
# or an explanation already in the reader's words (written when the step failed).
DETAILED_MESSAGES = {
    "step_failed": _("The step “%(detail)s” failed, so the run stopped. The step shows why."),
    "step_output_invalid": _("The answer was not valid JSON for the step, also when asked again: %(detail)s"),
    "step_render_error": _("The step could not be filled in: %(detail)s"),
    "too_many_items": _("The step's list of items is too long: %(detail)s"),
    # Refused before the call by a workspace budget (budgets.services): the detail says what
    # was used, the limit and when it resets. The API answers a refused submission with 402.
    "budget_exhausted": _("The budget ran out, so this step was not run. %(detail)s"),
    "budget_unpriced_model": _("The budget does not allow this step's model. %(detail)s"),
}


def describe_error(code: str, detail: str = "") -> str:
    """The translated message for an error code, with the provider's own words when they add something."""
    if not code:
        return ""
    if code in DETAILED_MESSAGES:
        return str(DETAILED_MESSAGES[code]) % {"detail": detail}
    message = MESSAGES.get(code)
    if message is None:
        return detail
    if detail and detail not in str(message):
        # The provider's words are its own (often English): quoted, after our translated sentence.
        return _("%(message)s The provider said: “%(detail)s”") % {"message": message, "detail": detail}
    return str(message)
