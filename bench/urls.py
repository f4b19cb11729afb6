from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response


def hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse("Hello, world")


@api_view(["GET"])
@permission_classes([IsAuthenticated])
def hello_drf(request: HttpRequest) -> Response:
    """The API baseline: DRF with the same authentication, permission and throttle classes."""
    return Response({"hello": "world"})


urlpatterns = [
    path("bench/hello/", hello),
    path("bench/hello-drf/", hello_drf),
    path("", include("promptlab.urls")),
]
