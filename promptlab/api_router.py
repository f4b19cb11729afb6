"""The API's one router: /api/v1/…"""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from accounts.api.views import MeView, PersonalTokenViewSet, RegisterView, TokenRefresh, TokenView
from audit.api.views import WorkspaceAuditLogView
from batches.api.views import BatchCreateView, BatchViewSet, batch_events_api
from budgets.api.views import WorkspaceBudgetsView
from jobs.api.views import GenerateView, JobViewSet, job_events_api
from templates_app.api.views import TemplateViewSet
from usage.api.views import StatsView
from webhooks.api.views import WebhookDeliveryViewSet, WebhookEndpointViewSet
from workspaces.api.invitations import (
    AcceptInvitationView,
    DeclineInvitationView,
    WorkspaceInvitationsView,
    WorkspaceInvitationView,
)
from workspaces.api.views import WorkspaceMemberViewSet, WorkspaceViewSet

router = SimpleRouter(trailing_slash=False)
router.register("templates", TemplateViewSet, basename="template")
router.register("jobs", JobViewSet, basename="job")
router.register("batches", BatchViewSet, basename="batch")
router.register("auth/tokens", PersonalTokenViewSet, basename="personal-token")
router.register("webhooks", WebhookEndpointViewSet, basename="webhook")
router.register(
    r"webhooks/(?P<endpoint_id>[0-9]+)/deliveries", WebhookDeliveryViewSet, basename="webhook-delivery"
)
router.register("workspaces", WorkspaceViewSet, basename="workspace")
router.register(
    r"workspaces/(?P<slug>[-a-zA-Z0-9_]+)/members", WorkspaceMemberViewSet, basename="workspace-member"
)

urlpatterns = [
    path("auth/register", RegisterView.as_view(), name="register"),
    path("auth/token", TokenView.as_view(), name="token"),
    path("auth/token/refresh", TokenRefresh.as_view(), name="token-refresh"),
    path("auth/me", MeView.as_view(), name="me"),
    path("stats", StatsView.as_view(), name="stats"),
    path("workspaces/<slug:slug>/audit", WorkspaceAuditLogView.as_view(), name="workspace-audit"),
    path("workspaces/<slug:slug>/budgets", WorkspaceBudgetsView.as_view(), name="workspace-budgets"),
    # The stream is an async view served under ASGI; it shadows the router's
    # `events` action, which is there to document it in the OpenAPI schema.
    path("jobs/<uuid:pk>/events", job_events_api, name="job-events-stream"),
    path("batches/<uuid:pk>/events", batch_events_api, name="batch-events-stream"),
    # Running a template is the jobs app's: among the template routes, under the name the
    # router gave it when it was an action of TemplateViewSet.
    path("templates/<slug:slug>/generate", GenerateView.as_view(), name="template-generate"),
    path("templates/<slug:slug>/batches", BatchCreateView.as_view(), name="template-batches"),
    path(
        "workspaces/<slug:slug>/invitations", WorkspaceInvitationsView.as_view(), name="workspace-invitations"
    ),
    path(
        "workspaces/<slug:slug>/invitations/<int:pk>",
        WorkspaceInvitationView.as_view(),
        name="workspace-invitation",
    ),
    path("invitations/accept", AcceptInvitationView.as_view(), name="invitation-accept"),
    path("invitations/decline", DeclineInvitationView.as_view(), name="invitation-decline"),
    *router.urls,
]
