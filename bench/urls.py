from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import include, path


def hello(request: HttpRequest) -> HttpResponse:
    return HttpResponse("Hello, world")


urlpatterns = [path("bench/hello/", hello), path("", include("promptlab.urls"))]
