from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from jobs.services import SubmissionError, provider_is_available, submit_generation
from promptlab import ratelimits

from .forms import parameter_fields_html, parameter_form_class
from .models import Template


def home(request: HttpRequest) -> HttpResponse:
    templates = (
        Template.objects.visible_to(request.user)
        .runnable()
        .select_related("published_version")
        .order_by("name")
    )
    return render(request, "templates_app/home.html", {"templates": templates})


@require_http_methods(["GET", "POST"])
def run_template(request: HttpRequest, slug: str) -> HttpResponse:
    template = get_object_or_404(
        Template.objects.visible_to(request.user).runnable().select_related("published_version"),
        slug=slug,
    )
    version = template.published_version
    assert version is not None
    language = get_language()
    form = parameter_form_class(version, language)(request.POST or None)
    status = 200
    limit_headers: dict[str, str] = {}
    if request.method == "POST":
        # The same limits as the API: by plan when signed in, by IP when not.
        limit = ratelimits.check_request(request, request.user, group="runs")
        limit_headers = ratelimits.headers_for(limit)
        if limit.exceeded:
            messages.error(
                request,
                _("You have run templates too often. Try again in %(seconds)d seconds.")
                % {"seconds": max(limit.reset, 1)},
            )
            status = 429
    if request.method == "POST" and status == 200 and form.is_valid():
        if not request.session.session_key:
            # An anonymous visitor's jobs are tied to this browser session.
            request.session["anonymous"] = True
            request.session.save()
        try:
            job = submit_generation(
                version, form.cleaned_data, owner=request.user, session_key=request.session.session_key or ""
            )
        except SubmissionError as exc:
            messages.error(request, str(exc))
        else:
            return redirect(job)
    response = render(
        request,
        "templates_app/run.html",
        {
            "template": template,
            "version": version,
            "form": form,
            "fields_html": parameter_fields_html(version, language, form),
            "provider_available": provider_is_available(version.provider),
        },
        status=status,
    )
    for header, value in limit_headers.items():
        response[header] = value
    return response
