from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import services
from .events import EVENTS
from .forms import WebhookEndpointForm
from .models import WebhookDelivery, WebhookEndpoint

# The secret of an endpoint just made or re-keyed, kept for the one page that shows it
# (the GET after the POST), then forgotten, as a new API token is.
NEW_SECRET_SESSION_KEY = "webhooks:new-secret"
DELIVERIES_PER_PAGE = 25


def _endpoint_for_user(request: HttpRequest, endpoint_id: int) -> WebhookEndpoint:
    return get_object_or_404(WebhookEndpoint, pk=endpoint_id, owner=request.user)


def _delivery_for_user(request: HttpRequest, endpoint_id: int, delivery_id: int) -> WebhookDelivery:
    return get_object_or_404(
        WebhookDelivery.objects.select_related("endpoint"),
        pk=delivery_id,
        endpoint_id=endpoint_id,
        endpoint__owner=request.user,
    )


def _show_secret_once(request: HttpRequest, endpoint: WebhookEndpoint) -> None:
    request.session[NEW_SECRET_SESSION_KEY] = {"id": endpoint.pk, "value": endpoint.secret}


@login_required
@require_GET
def list_endpoints(request: HttpRequest) -> HttpResponse:
    endpoints = WebhookEndpoint.objects.filter(owner=request.user)
    return render(request, "webhooks/list.html", {"endpoints": endpoints, "events": list(EVENTS)})


@login_required
@require_http_methods(["GET", "POST"])
def create_endpoint(request: HttpRequest) -> HttpResponse:
    form = WebhookEndpointForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.instance.owner = request.user
        endpoint = form.save()
        _show_secret_once(request, endpoint)
        return redirect(endpoint)
    return render(request, "webhooks/form.html", {"form": form, "endpoint": None})


@login_required
@require_http_methods(["GET", "POST"])
def edit_endpoint(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint_for_user(request, endpoint_id)
    form = WebhookEndpointForm(request.POST or None, instance=endpoint)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("The endpoint was saved."))
        return redirect(endpoint)
    return render(request, "webhooks/form.html", {"form": form, "endpoint": endpoint})


@login_required
@require_GET
def endpoint_detail(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint_for_user(request, endpoint_id)
    new_secret = request.session.pop(NEW_SECRET_SESSION_KEY, None)
    if new_secret is not None and new_secret.get("id") != endpoint.pk:
        new_secret = None
    deliveries = endpoint.deliveries.prefetch_related("attempts")
    page = Paginator(deliveries, DELIVERIES_PER_PAGE).get_page(request.GET.get("page"))
    context = {"endpoint": endpoint, "new_secret": new_secret, "page": page}
    return render(request, "webhooks/detail.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def delete_endpoint(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    """GET asks (a page of its own, so it works without JavaScript); POST deletes."""
    endpoint = _endpoint_for_user(request, endpoint_id)
    if request.method == "GET":
        return render(request, "webhooks/delete.html", {"endpoint": endpoint})
    endpoint.delete()
    messages.success(request, _("The endpoint “%(url)s” was deleted.") % {"url": endpoint.url})
    return redirect("webhooks:list")


@login_required
@require_http_methods(["GET", "POST"])
def rotate_secret(request: HttpRequest, endpoint_id: int) -> HttpResponse:
    endpoint = _endpoint_for_user(request, endpoint_id)
    if request.method == "GET":
        return render(request, "webhooks/rotate_secret.html", {"endpoint": endpoint})
    endpoint.rotate_secret()
    _show_secret_once(request, endpoint)
    return redirect(endpoint)


@login_required
@require_GET
def delivery_detail(request: HttpRequest, endpoint_id: int, delivery_id: int) -> HttpResponse:
    delivery = _delivery_for_user(request, endpoint_id, delivery_id)
    context = {"endpoint": delivery.endpoint, "delivery": delivery, "attempts": delivery.attempts.all()}
    return render(request, "webhooks/delivery.html", context)


@login_required
@require_POST
def redeliver_delivery(request: HttpRequest, endpoint_id: int, delivery_id: int) -> HttpResponse:
    delivery = _delivery_for_user(request, endpoint_id, delivery_id)
    if services.redeliver(delivery):
        messages.success(request, _("The delivery will be sent again in a moment."))
    else:
        messages.error(request, _("This delivery is waiting to be sent already."))
    return redirect("webhooks:delivery", endpoint_id, delivery_id)
