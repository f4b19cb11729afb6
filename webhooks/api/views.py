from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from promptlab.api import Conflict, NewestFirstCursorPagination

from .. import services
from ..events import EVENTS
from ..models import WebhookDelivery, WebhookEndpoint
from .serializers import EventTypeSerializer, WebhookDeliverySerializer, WebhookEndpointSerializer


@extend_schema_view(
    list=extend_schema(summary="List your webhook endpoints"),
    create=extend_schema(summary="Add a webhook endpoint"),
    retrieve=extend_schema(summary="Get a webhook endpoint"),
    partial_update=extend_schema(summary="Change a webhook endpoint"),
    destroy=extend_schema(summary="Delete a webhook endpoint"),
)
class WebhookEndpointViewSet(
    mixins.ListModelMixin,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Your webhook endpoints. The signing secret is in the creation answer only (and
    rotate-secret's): keep it then."""

    serializer_class = WebhookEndpointSerializer
    pagination_class = NewestFirstCursorPagination
    lookup_value_regex = r"[0-9]+"
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]

    def get_queryset(self) -> Any:
        return WebhookEndpoint.objects.filter(owner=self.request.user)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = serializer.save(owner=request.user)
        data = self.get_serializer(
            endpoint, context={**self.get_serializer_context(), "show_secret": True}
        ).data
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=WebhookEndpointSerializer, summary="Change the signing secret")
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, pk: str | None = None) -> Response:
        endpoint = self.get_object()
        endpoint.rotate_secret()
        context = {**self.get_serializer_context(), "show_secret": True}
        return Response(self.get_serializer(endpoint, context=context).data)

    @extend_schema(
        responses=EventTypeSerializer(many=True), summary="The events an endpoint may subscribe to"
    )
    @action(detail=False, methods=["get"], url_path="event-types", pagination_class=None)
    def event_types(self, request: Request) -> Response:
        events = [{"name": e.name, "label": str(e.label), "description": str(e.description)} for e in EVENTS]
        return Response(EventTypeSerializer(events, many=True).data)


ENDPOINT_ID = OpenApiParameter(
    "endpoint_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The endpoint."
)


@extend_schema_view(
    list=extend_schema(parameters=[ENDPOINT_ID], summary="An endpoint's deliveries, newest first"),
    retrieve=extend_schema(parameters=[ENDPOINT_ID], summary="A delivery and its attempts"),
)
class WebhookDeliveryViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Deliveries of an endpoint (one per event), each with its attempts."""

    serializer_class = WebhookDeliverySerializer
    pagination_class = NewestFirstCursorPagination
    lookup_value_regex = r"[0-9]+"

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):
            return WebhookDelivery.objects.none()
        # Another user's endpoint is a 404, not an empty list.
        endpoint = get_object_or_404(WebhookEndpoint, pk=self.kwargs["endpoint_id"], owner=self.request.user)
        return endpoint.deliveries.prefetch_related("attempts")

    @extend_schema(
        request=None,
        parameters=[ENDPOINT_ID],
        responses={202: WebhookDeliverySerializer},
        summary="Send a delivery again (one more attempt)",
    )
    @action(detail=True, methods=["post"])
    def redeliver(self, request: Request, endpoint_id: str | None = None, pk: str | None = None) -> Response:
        delivery = self.get_object()
        if not services.redeliver(delivery):
            raise Conflict(_("This delivery is waiting to be sent already."))
        return Response(self.get_serializer(delivery).data, status=status.HTTP_202_ACCEPTED)
