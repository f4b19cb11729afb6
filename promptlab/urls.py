from __future__ import annotations

from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from graphql_api.views import graphql_endpoint
from jobs.urls import run_urlpatterns
from templates_app import urls as template_urls

from . import views
from .api import api_not_found
from .api_router import urlpatterns as api_urlpatterns

urlpatterns = [
    # The template pages, their form page included: a template is run by jobs (which may
    # import templates_app, never the reverse), under the same names templates_app:….
    path("", include(([*template_urls.urlpatterns, *run_urlpatterns], template_urls.app_name))),
    path("jobs/", include("jobs.urls")),
    path("usage/", include("usage.urls")),
    # A workspace's audit log: the audit app's page, under the workspace's address.
    path("workspaces/<slug:slug>/audit/", include("audit.urls")),
    path("workspaces/<slug:slug>/budgets/", include("budgets.urls")),
    path("workspaces/", include("workspaces.urls")),
    path("accounts/webhooks/", include("webhooks.urls")),
    # Batches: started from a template's page (t/<slug>/batch/), kept under batches/.
    path("", include("batches.urls")),
    path("accounts/", include("accounts.urls")),
    path("sso/", include("sso.urls")),
    path("admin/", admin.site.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("health/", views.health, name="health"),
    path("metrics", views.metrics, name="metrics"),
    path("api/v1/", include((api_urlpatterns, "api"))),
    path("graphql", graphql_endpoint, name="graphql"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/docs/",
        # Our page around Swagger UI: the document's language, a way back to the site.
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="api/docs.html"),
        name="api-docs",
    ),
    # Last: what no API route matches (a malformed id included) is a JSON 404, DEBUG or not.
    re_path(r"^api/", api_not_found),
]

handler404 = "promptlab.api.json_404"
handler500 = "promptlab.api.json_500"
