"""The batch pages without a browser: upload, the sheet and column steps, the review's
error table and its CSV, starting, the batch page and its fragments, cancel, retry, the
comparison page and "run on several models"; each user sees only their own batches."""

from __future__ import annotations

import csv
import io
import re
from decimal import Decimal
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from batches.models import Batch, BatchRow, BatchState
from jobs.models import Job, JobStatus

from .conftest import wait_until

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
    assert "Run Haiku on a file" in signed_in.get("/t/haiku/batch/").content.decode()
    response = upload(signed_in, "haiku", BAD_FILE)
    batch = Batch.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/batches/{batch.pk}/review/"
    page = signed_in.get(response["Location"])
    assert page.status_code == 200
    html = page.content.decode()
    assert (batch.state, batch.valid_rows, batch.invalid_rows) == (BatchState.DRAFT, 1, 2)
    assert [(e["row"], e["column"]) for e in batch.errors] == [(2, "topic"), (3, "count")]
    assert "Errors by row and column" in html and "Run the 1 valid row" in html
    assert 'id="estimate-distinct">1<' in html and "US$ 0 to 0" in html  # the offline model is free
    errors_csv = b"".join(signed_in.get(f"/batches/{batch.pk}/errors.csv").streaming_content).decode(
        "utf-8-sig"
    )
    assert errors_csv.splitlines()[1:] == [
        "2,topic,This field is required.",
        "3,count,Ensure this value is less than or equal to 5.",
    ]
    assert not Job.objects.exists() and not BatchRow.objects.exists()


def test_an_unknown_column_gets_the_mapping_step(signed_in: Client, make_template) -> None:
    make_template()
    response = upload(signed_in, "haiku", "Subject,count\nrain,2\n")
    batch = Batch.objects.get()
    assert response["Location"] == f"/batches/{batch.pk}/mapping/"
    page = signed_in.get(response["Location"]).content.decode()
    assert "Column “Subject”" in page and "Column “count”" in page
    response = signed_in.post(f"/batches/{batch.pk}/mapping/", {"column_0": "topic", "column_1": "count"})
    assert response["Location"] == f"/batches/{batch.pk}/review/"
    batch.refresh_from_db()
    assert (batch.valid_rows, batch.invalid_rows, batch.mapping) == (
        1,
        0,
        {"Subject": "topic", "count": "count"},
    )
    assert "Run the 1 row" in signed_in.get(response["Location"]).content.decode()


def test_pasted_rows_without_a_file_are_checked_too(signed_in: Client, make_template) -> None:
    make_template()
    response = signed_in.post("/t/haiku/batch/", {"rows": "topic\nfog\nmist\n", **_no_configs()})
    batch = Batch.objects.get()
    assert response["Location"] == f"/batches/{batch.pk}/review/"
    assert (batch.source_name, batch.valid_rows) == ("pasted rows", 2)


def test_the_longest_paste_the_box_takes_fits_in_a_request(signed_in: Client, make_template) -> None:
    """The box's maxlength (the browser cuts a paste there) is under Django's 1 MB limit on
    a form's fields even for text of 4-byte characters: the rows are checked, not refused
    with a bare 400 as a 1,000,000-character limit let happen."""
    from batches.forms import PASTED_MAX_CHARS

    make_template()
    page = signed_in.get("/t/haiku/batch/").content.decode()
    assert f'maxlength="{PASTED_MAX_CHARS}"' in page
    line = "𝒜" * 49 + "\n"  # 4 bytes each in UTF-8, the most a character takes
    rows = "topic\n" + line * ((PASTED_MAX_CHARS - 6) // len(line))
    response = signed_in.post("/t/haiku/batch/", {"rows": rows, **_no_configs()})
    assert response.status_code in (200, 302), response.status_code


def test_neither_file_nor_rows_keeps_the_form_with_an_error_summary(signed_in: Client, make_template) -> None:
    make_template()
    page = signed_in.post("/t/haiku/batch/", _no_configs()).content.decode()
    assert "There is a problem" in page and "Choose a file, or paste the rows below." in page
    assert "<title>Error:" in page
    assert not Batch.objects.exists()


def test_batches_are_their_owners_alone(client: Client, owner: Any, other_user: Any, make_template) -> None:
    from batches.services import create_batch

    template = make_template()
    batch = create_batch(template, owner, [(1, {"topic": "x", "count": 2}, {"topic": "x"})])
    paths = [f"/batches/{batch.pk}/{tail}" for tail in ("", "progress/", "rows/", "compare/", "review/")]
    paths += [f"/batches/{batch.pk}/results.csv"]
    client.force_login(other_user)
    for path in paths:
        assert client.get(path).status_code == 404, path
    for path in ("cancel/", "retry/"):
        assert client.post(f"/batches/{batch.pk}/{path}").status_code == 404
    assert str(batch.pk) not in client.get("/batches/").content.decode()
    client.logout()
    assert client.get(f"/batches/{batch.pk}/")["Location"].startswith("/accounts/login/")
    assert client.get("/t/haiku/batch/")["Location"].startswith("/accounts/login/")


def test_run_on_several_models_is_a_one_row_comparison(signed_in: Client, make_template) -> None:
    make_template()
    # The form page's button posts the filled form: shown again with the configurations.
    page = signed_in.post("/t/haiku/compare/", {"topic": "tides", "count": "2"}).content.decode()
    assert 'value="tides"' in page and "Configuration 4" in page and "There is a problem" not in page
    assert '<option value="offline/offline-echo" selected>' in page  # the own model, to compare with
    data = {
        "compare_step": "run",
        "topic": "tides",
        "count": "2",
        "config-TOTAL_FORMS": "4",
        "config-INITIAL_FORMS": "0",
        "config-0-choice": "offline/offline-echo",
        "config-1-choice": "offline/offline-echo",
        "config-1-temperature": "0.2",
    }
    response = signed_in.post("/t/haiku/compare/", data)
    batch = Batch.objects.get()
    assert response["Location"] == f"/batches/{batch.pk}/compare/"
    assert [c.temperature for c in batch.configurations.order_by("position")] == [None, Decimal("0.20")]
    assert list(batch.rows.values_list("number", "inputs")) == [(1, {"topic": "tides", "count": 2})] * 2
    page = signed_in.get(response["Location"]).content.decode()
    assert "Totals per configuration" in page and page.count("offline/offline-echo") >= 2


def test_run_on_several_models_needs_two_configurations(signed_in: Client, make_template) -> None:
    make_template()
    data = {"compare_step": "run", "topic": "tides", "count": "2", **_no_configs()}
    data["config-0-choice"] = "offline/offline-echo"
    page = signed_in.post("/t/haiku/compare/", data).content.decode()
    assert "Choose a model in at least 2 configurations." in page
    assert not Batch.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_fixed_file_runs_every_row_through_the_worker_to_succeeded(
    client: Client, owner: Any, make_template, worker, llm
) -> None:
    make_template()
    client.force_login(owner)
    upload(client, "haiku", BAD_FILE)
    assert not Job.objects.exists()
    # Fixed: the Portuguese label names the topic column; rows 1 and 3 are the same input.
    review = upload(client, "haiku", GOOD_FILE)["Location"]
    batch = Batch.objects.get(pk=review.split("/")[2])
    response = client.post(f"/batches/{batch.pk}/start/")
    assert response["Location"] == f"/batches/{batch.pk}/"
    wait_until(lambda: Batch.objects.get(pk=batch.pk).state == BatchState.FINISHED, timeout=30)
    batch.refresh_from_db()
    assert (batch.total_rows, batch.succeeded, batch.failed) == (3, 3, 0)
    assert set(batch.rows.values_list("status", flat=True)) == {"succeeded"}
    assert Job.objects.filter(status=JobStatus.SUCCEEDED).count() == 2  # identical rows ran once
    assert not batch.source.name  # the draft's file went when it started
    page = client.get(f"/batches/{batch.pk}/").content.decode()
    assert "3 of 3 rows finished" in page and 'value="3"' in page
    assert len(re.findall(r'href="/jobs/[0-9a-f-]{36}/"', page)) == 3  # each row links to its job
    assert "sse-connect" not in page and "hx-trigger" not in page  # finished: nothing to follow
    fragment = client.get(f"/batches/{batch.pk}/progress/").content.decode()
    assert fragment.lstrip().startswith('<div id="batch-progress"') and "<html" not in fragment
    assert "Batch ended: Finished. 3 succeeded, 0 failed." in fragment
    rows = client.get(f"/batches/{batch.pk}/rows/?status=succeeded", headers={"HX-Request": "true"})
    assert rows.content.decode().lstrip().startswith('<div id="batch-rows"')
    download = client.get(f"/batches/{batch.pk}/results.csv")
    assert download["Content-Type"] == "text/csv; charset=utf-8"
    header, *lines = csv.reader(io.StringIO(b"".join(download.streaming_content).decode("utf-8-sig")))
    assert header[:6] == ["Assunto", "count", "output", "status", "error", "input_tokens"]
    assert [line[:2] for line in lines] == [["rain", "2"], ["snow", "1"], ["rain", "2"]]
    assert all(line[3] == "succeeded" and line[-1].startswith("http://testserver/jobs/") for line in lines)
    # Starting again (a second click) starts nothing more.
    assert client.post(f"/batches/{batch.pk}/start/")["Location"] == f"/batches/{batch.pk}/"
    assert Job.objects.count() == 2


def test_without_redis_the_page_polls_its_progress_until_the_batch_ends(
    signed_in: Client, owner: Any, make_template, settings: Any
) -> None:
    from batches.services import create_batch

    settings.REDIS_URL = ""  # the embedded mode: no event stream
    batch = create_batch(make_template(), owner, [(1, {"topic": "x"}, {"topic": "x"})])
    page = signed_in.get(f"/batches/{batch.pk}/").content.decode()
    assert "sse-connect" not in page
    assert f'hx-get="/batches/{batch.pk}/progress/" hx-trigger="every 2s"' in page
    assert 'http-equiv="refresh"' in page  # and without JavaScript, a <noscript> refresh
    running = signed_in.get(f"/batches/{batch.pk}/progress/").content.decode()
    assert 'hx-trigger="every 2s"' in running and "hx-swap-oob" not in running
    Batch.objects.filter(pk=batch.pk).update(state=BatchState.FINISHED, pending=0, succeeded=1)
    ended = signed_in.get(f"/batches/{batch.pk}/progress/").content.decode()
    # The last answer stops the polling, replaces the controls and fills the announcement.
    assert "hx-trigger" not in ended and 'class="batch-controls" hx-swap-oob="true"' in ended
    assert 'hx-swap-oob="innerHTML:#batch-announcer"' in ended


def test_with_redis_the_page_follows_its_event_stream(signed_in: Client, owner: Any, make_template) -> None:
    from batches.services import create_batch

    batch = create_batch(make_template(), owner, [(1, {"topic": "x"}, {"topic": "x"})])
    page = signed_in.get(f"/batches/{batch.pk}/").content.decode()
    assert f'sse-connect="/batches/{batch.pk}/events/" sse-close="done"' in page
    assert 'sse-swap="progress"' in page and 'hx-trigger="sse:progress throttle:2s, sse:done"' in page


def test_cancel_and_retry_from_the_batch_page(signed_in: Client, owner: Any, make_template) -> None:
    from batches.services import create_batch

    batch = create_batch(make_template(), owner, [(1, {"topic": "a"}, {}), (2, {"topic": "b"}, {})])
    BatchRow.objects.filter(batch=batch, number=2).update(status="failed", error="The provider said no.")
    Batch.objects.filter(pk=batch.pk).update(pending=1, failed=1)
    page = signed_in.get(f"/batches/{batch.pk}/").content.decode()
    assert "Retry the failed row" in page and "Cancel the batch" in page and "The provider said no." in page
    response = signed_in.post(f"/batches/{batch.pk}/retry/", follow=True)
    assert "1 failed row runs again." in response.content.decode()
    response = signed_in.post(f"/batches/{batch.pk}/cancel/", follow=True)
    assert "The batch was cancelled" in response.content.decode()
    assert Batch.objects.get(pk=batch.pk).state == BatchState.CANCELLED
    assert (
        "The batch had already ended."
        in signed_in.post(f"/batches/{batch.pk}/cancel/", follow=True).content.decode()
    )


def test_a_manager_compares_the_draft_with_the_published_version(
    signed_in: Client, owner: Any, other_user: Any, make_template
) -> None:
    template = make_template(owner=owner)
    published = template.published_version
    draft = template.create_version(
        body="Tell {{ topic }} briefly.", parameters=published.parameters, publish=False
    )
    page = signed_in.get("/t/haiku/batch/").content.decode()
    assert f"Version {draft.number} (draft)" in page
    data = {
        "file": SimpleUploadedFile("rows.csv", b"topic\nfog\n", content_type="text/csv"),
        **_no_configs(),
        "config-0-choice": "offline/offline-echo",
        "config-0-version": str(published.number),
        "config-1-choice": "offline/offline-echo",
        "config-1-version": str(draft.number),
    }
    review = signed_in.post("/t/haiku/batch/", data)["Location"]
    batch = Batch.objects.get()
    assert [(c.template_version_id, c.draft_run) for c in batch.configurations.order_by("position")] == [
        (published.pk, False),
        (draft.pk, True),
    ]
    assert signed_in.get(review).status_code == 200
    # Someone who doesn't manage the template is offered no version to choose.
    signed_in.force_login(other_user)
    assert "(draft)" not in signed_in.get("/t/haiku/batch/").content.decode()


def test_a_batch_file_may_be_larger_than_other_forms_but_not_than_the_plan_allows(
    signed_in: Client, make_template, settings: Any
) -> None:
    make_template()
    settings.SITE_MAX_BODY_BYTES = 2_000
    settings.BATCH_MAX_FILE_BYTES = {
        "free": 3_000,
        "starter": 3_000,
        "professional": 3_000,
        "enterprise": 3_000,
    }
    content = "topic\n" + "fog\n" * 600  # 2,406 bytes: past the site's limit, within the plan's
    response = upload(signed_in, "haiku", content)
    assert response.status_code == 302 and Batch.objects.get().valid_rows == 600
    assert signed_in.post("/t/haiku/", {"topic": "x" * 3_000}).status_code == 413  # any other form
    too_big = upload(signed_in, "haiku", "topic\n" + "fog\n" * 800).content.decode()  # 3,206 bytes
    assert "the limit of your plan is 2.9" in too_big and Batch.objects.count() == 1


def test_the_comparison_totals_give_the_median_time_of_each_configuration(owner: Any, make_template) -> None:
    """Read by the database from the middle rows (an even count averages the two)."""
    from datetime import timedelta

    from django.utils import timezone

    from batches.matrix import comparison_totals
    from batches.services import create_batch

    template = make_template()
    rows = [(n, {"topic": f"t{n}", "count": 2}, {"topic": f"t{n}"}) for n in range(1, 5)]
    batch = create_batch(template, owner, rows)
    configuration = batch.configurations.get()
    start = timezone.now()

    def give_times(seconds: list[int]) -> None:
        for row, took in zip(batch.rows.order_by("number"), seconds, strict=False):
            job = Job.objects.create(
                template_version=configuration.template_version, owner=owner, inputs=row.inputs,
                input_hash=f"{row.number:064d}", prompt="p", provider="offline", model="offline-echo",
                status="succeeded", started_at=start, finished_at=start + timedelta(seconds=took),
            )  # fmt: skip
            BatchRow.objects.filter(pk=row.pk).update(job=job)

    give_times([10, 1, 3, 2])
    assert comparison_totals(batch, [configuration])[0].median_seconds == 2.5
    BatchRow.objects.filter(batch=batch, number=4).update(job=None)
    assert comparison_totals(batch, [configuration])[0].median_seconds == 3.0


def test_the_page_links_keep_the_filter_and_say_which_way_they_go() -> None:
    """One include for every list's page links: a batch's rows go Previous / Next (file
    order), lists newest first go Newer / Older; the filter stays on each link."""
    from django.core.paginator import Paginator
    from django.template.loader import render_to_string

    page = Paginator(list(range(30)), 10).page(2)
    rows = render_to_string(
        "includes/pagination.html",
        {"page": page, "query": "status=failed", "rows": "rows", "id_prefix": "batch-rows"},
    )
    assert 'aria-label="Pages of rows"' in rows
    assert 'href="?status=failed&amp;page=1" id="batch-rows-previous">Previous</a>' in rows
    assert 'href="?status=failed&amp;page=3" id="batch-rows-next">Next</a>' in rows
    newest_first = render_to_string("includes/pagination.html", {"page": page})
    assert 'aria-label="Pages"' in newest_first and "Page 2 of 3" in newest_first
    assert 'href="?page=1">Newer</a>' in newest_first and 'href="?page=3">Older</a>' in newest_first
    assert render_to_string("includes/pagination.html", {"page": Paginator([1], 10).page(1)}).strip() == ""


def test_the_error_summary_names_the_configuration_of_each_error(signed_in: Client, make_template) -> None:
    make_template()
    data = {"rows": "topic\nfog\n", **_no_configs(), "config-1-choice": "offline/offline-echo"}
    page = signed_in.post("/t/haiku/batch/", {**data, "config-1-temperature": "9"}).content.decode()
    assert 'href="#id_config-1-temperature">Configuration 2, Temperature: ' in page
    assert not Batch.objects.exists()
