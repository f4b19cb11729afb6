from __future__ import annotations

from django.urls import path

from . import views

app_name = "jobs"

urlpatterns = [
    path("", views.job_list, name="list"),
    path("<uuid:job_id>/", views.job_detail, name="detail"),
    path("<uuid:job_id>/cancel/", views.cancel_job, name="cancel"),
    path("<uuid:job_id>/events/", views.job_events, name="events"),
]
