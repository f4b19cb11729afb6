from __future__ import annotations

from django.urls import path

from . import views

app_name = "batches"

# Mounted at the site's root (promptlab/urls.py): a batch starts from a template's page
# (t/<slug>/…) and lives under batches/.
urlpatterns = [
    path("t/<slug:slug>/batch/", views.new_batch, name="new"),
    path("t/<slug:slug>/compare/", views.compare_models, name="compare_models"),
    path("batches/", views.batch_list, name="list"),
    path("batches/<uuid:batch_id>/", views.batch_detail, name="detail"),
    path("batches/<uuid:batch_id>/progress/", views.batch_progress, name="progress"),
    path("batches/<uuid:batch_id>/events/", views.batch_events, name="events"),
    path("batches/<uuid:batch_id>/rows/", views.batch_rows, name="rows"),
    path("batches/<uuid:batch_id>/cancel/", views.cancel_batch, name="cancel"),
    path("batches/<uuid:batch_id>/retry/", views.retry_batch, name="retry"),
    path("batches/<uuid:batch_id>/results.<str:extension>", views.download_results, name="download"),
    path("batches/<uuid:batch_id>/compare/", views.compare_matrix, name="compare"),
    # A draft: uploaded and checked, not started.
    path("batches/<uuid:batch_id>/sheet/", views.choose_sheet, name="sheet"),
    path("batches/<uuid:batch_id>/mapping/", views.map_columns, name="mapping"),
    path("batches/<uuid:batch_id>/review/", views.review_batch, name="review"),
    path("batches/<uuid:batch_id>/errors.csv", views.download_errors, name="errors"),
    path("batches/<uuid:batch_id>/start/", views.start_batch, name="start"),
]
