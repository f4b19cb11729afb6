"""The batch pages without a browser: upload, the sheet and column steps, the review's
error table and its CSV, starting, the batch page and its fragments, cancel, retry, the
comparison page and "run on several models"; each user sees only their own batches."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from batches.models import Batch, BatchRow, BatchState
from jobs.models import Job

pytestmark = pytest.mark.django_db


def upload(client: Client, slug: str, content: str, name: str = "rows.csv", **fields: Any) -> Any:
    data = {
        "file": SimpleUploadedFile(name, content.encode(), content_type="text/csv"),
        **_no_configs(),
        **fields,
    }
    return client.post(f"/t/{slug}/batch/", data)


def _no_configs() -> dict[str, str]:
    return {"config-TOTAL_FORMS": "4", "config-INITIAL_FORMS": "0"}


@pytest.fixture
def signed_in(client: Client, owner: Any) -> Client:
    client.force_login(owner)
    return client


BAD_FILE = "topic,count\nrain,2\n,3\nsnow,9\n"
GOOD_FILE = "Assunto,count\nrain,2\nsnow,1\nrain,2\n"


def test_upload_with_errors_shows_the_error_table_and_creates_no_job(
    signed_in: Client, make_template
) -> None:
    make_template()
    response = upload(signed_in, "haiku", BAD_FILE)
    batch = Batch.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/batches/{batch.pk}/review/"
    page = signed_in.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert (batch.state, batch.valid_rows, batch.invalid_rows) == (BatchState.DRAFT, 1, 2)
    assert [(e["row"], e["column"]) for e in batch.errors] == [(2, "topic"), (3, "count")]
    assert "Errors by row and column" in html and "Run the 1 valid row" in html
    errors_csv = b"".join(signed_in.get(f"/batches/{batch.pk}/errors.csv").streaming_content).decode(
        "utf-8-sig"
    )
    assert errors_csv.splitlines()[1:] == [
        "2,topic,This field is required.",
        "3,count,Ensure this value is less than or equal to 5.",
    ]
    assert not Job.objects.exists() and not BatchRow.objects.exists()
