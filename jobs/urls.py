from __future__ import annotations

from django.urls import path

from . import embed, views

app_name = "jobs"

urlpatterns = [
    path("", views.job_list, name="list"),
    path("<uuid:job_id>/", views.job_detail, name="detail"),
    path("<uuid:job_id>/cancel/", views.cancel_job, name="cancel"),
    path("<uuid:job_id>/events/", views.job_events, name="events"),
    path("<uuid:job_id>/progress/", views.job_progress, name="progress"),
    path("<uuid:job_id>/retry/", views.retry_job, name="retry"),
    path("<uuid:job_id>/retry-steps/", views.retry_workflow, name="retry_steps"),
    path("<uuid:job_id>/steps/", views.job_steps, name="steps"),
    path("<uuid:job_id>/download.<str:extension>", views.download_job, name="download"),
    # A job run from an embedded form, opened by the signed capability in its URL.
    path("embedded/<str:capability>/", embed.embedded_job, name="embedded"),
    path("embedded/<str:capability>/progress/", embed.embedded_job_progress, name="embedded_progress"),
    path("embedded/<str:capability>/events/", embed.embedded_job_events, name="embedded_events"),
]

# Running a template from its page, t/<slug>/: among the template pages, by the name
# templates_app:run (promptlab/urls.py mounts it there).
run_urlpatterns = [
    path("t/<slug:slug>/", views.run_template, name="run"),
    path("t/<slug:slug>/embed/", embed.embed_template, name="embed"),
    path("t/<slug:slug>/v<int:number>/test-run/", views.test_run_version, name="test_run"),
]
