from __future__ import annotations

from django.urls import path

from . import views

app_name = "templates_app"

urlpatterns = [
    path("", views.home, name="home"),
    path("t/<slug:slug>/", views.run_template, name="run"),
    path("import/", views.import_template_file, name="import"),
]
