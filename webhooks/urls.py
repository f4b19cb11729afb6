from __future__ import annotations

from django.urls import path

from . import views

app_name = "webhooks"

urlpatterns = [
    path("", views.list_endpoints, name="list"),
    path("new/", views.create_endpoint, name="create"),
    path("<int:endpoint_id>/", views.endpoint_detail, name="detail"),
    path("<int:endpoint_id>/edit/", views.edit_endpoint, name="edit"),
    path("<int:endpoint_id>/delete/", views.delete_endpoint, name="delete"),
    path("<int:endpoint_id>/rotate-secret/", views.rotate_secret, name="rotate-secret"),
    path("<int:endpoint_id>/deliveries/<int:delivery_id>/", views.delivery_detail, name="delivery"),
    path(
        "<int:endpoint_id>/deliveries/<int:delivery_id>/redeliver/",
        views.redeliver_delivery,
        name="redeliver",
    ),
]
