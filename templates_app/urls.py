from __future__ import annotations

from django.urls import path

from . import editor_views, export_views, history_views, list_views, review_views, theme_views, views

app_name = "templates_app"

# A template's own page, ``templates_app:run`` (t/<slug>/), runs it: it is a view of
# ``jobs``, which this app does not import, so promptlab/urls.py adds it to this list.

urlpatterns = [
    path("", views.home, name="home"),
    path("import/", views.import_template_file, name="import"),
]

# Themes, versions and the editor.
urlpatterns += [
    path("t/<slug:slug>/v<int:number>/theme.css", theme_views.theme_css, name="theme_css"),
    path("t/<slug:slug>/v<int:number>/preview/", history_views.preview_version, name="preview"),
    path("t/<slug:slug>/v<int:number>/publish/", history_views.publish_version, name="publish"),
    path("t/<slug:slug>/v<int:number>/review/", review_views.review_version, name="review"),
    path("t/<slug:slug>/history/", history_views.template_history, name="history"),
    path("t/<slug:slug>/export/", export_views.export_file, name="export"),
    path("t/<slug:slug>/edit/", editor_views.edit_template, name="edit"),
    path("t/<slug:slug>/switch-provider/", views.switch_provider, name="switch_provider"),
    path("t/<slug:slug>/duplicate/", list_views.duplicate_template, name="duplicate"),
    path("t/<slug:slug>/delete/", list_views.delete_template, name="delete"),
    path("t/<slug:slug>/restore/", list_views.restore_template, name="restore"),
    path("templates/mine/", editor_views.my_templates, name="mine"),
    path("templates/new/", editor_views.create_template, name="create"),
    path("editor/preview/", editor_views.editor_preview, name="editor_preview"),
    path("editor/add-parameter/", editor_views.editor_add_parameter, name="editor_add_parameter"),
    path("theme-logos/<str:digest>", theme_views.theme_logo, name="theme_logo"),
]
