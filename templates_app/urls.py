from __future__ import annotations

from django.urls import path

from . import views

app_name = "templates_app"

urlpatterns = [
    path("", views.home, name="home"),
    path("t/<slug:slug>/", views.run_template, name="run"),
    path("t/<slug:slug>/v<int:number>/theme.css", views.theme_css, name="theme_css"),
    path("t/<slug:slug>/v<int:number>/preview/", views.preview_version, name="preview"),
    path("t/<slug:slug>/v<int:number>/publish/", views.publish_version, name="publish"),
    path("t/<slug:slug>/history/", views.template_history, name="history"),
    path("t/<slug:slug>/edit/", views.edit_template, name="edit"),
    path("templates/mine/", views.my_templates, name="mine"),
    path("templates/new/", views.create_template, name="create"),
    path("editor/preview/", views.editor_preview, name="editor_preview"),
    path("theme-logos/<str:digest>", views.theme_logo, name="theme_logo"),
]
