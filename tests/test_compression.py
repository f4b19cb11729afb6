"""Compressed answers (Brotli for the API's JSON, gzip for pages, never an event stream)
and conditional reads (an ETag on every JSON read, 304 with no body on If-None-Match)."""

from __future__ import annotations

import gzip
import json

import brotli
import httpx
import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import PersonalToken, User
from jobs.models import Job, JobStatus
from jobs.services import submit_generation
from templates_app.models import Template, Visibility

from .conftest import HAS_REDIS, SIMPLE_SCHEMA

API = "/api/v1"


@pytest.fixture
def template(owner: User) -> Template:
    template = Template.objects.create(
        slug="mine", name="Mine", owner=owner, visibility=Visibility.PRIVATE, description="Lines. " * 40
    )
    template.create_version(body="Write {{ count }} lines about {{ topic }}.", parameters=SIMPLE_SCHEMA)
    return template


@pytest.fixture
def bearer(owner: User) -> dict[str, str]:
    _token, raw = PersonalToken.issue(owner, "script")
    return {"Authorization": f"Bearer {raw}"}


@pytest.mark.django_db
def test_api_json_is_brotli_for_a_client_that_takes_it_and_gzip_for_one_that_takes_only_gzip(
    client: Client, template: Template, bearer: dict[str, str]
) -> None:
    plain = client.get(f"{API}/templates/mine", headers=bearer)
    assert plain.status_code == 200 and not plain.has_header("Content-Encoding")
    as_br = client.get(f"{API}/templates/mine", headers={**bearer, "Accept-Encoding": "gzip, deflate, br"})
    assert as_br["Content-Encoding"] == "br" and "Accept-Encoding" in as_br["Vary"]
    assert json.loads(brotli.decompress(as_br.content)) == plain.json()
    assert len(as_br.content) < len(plain.content)
    as_gzip = client.get(f"{API}/templates/mine", headers={**bearer, "Accept-Encoding": "gzip"})
    assert as_gzip["Content-Encoding"] == "gzip"
    assert json.loads(gzip.decompress(as_gzip.content)) == plain.json()


@pytest.mark.django_db
def test_pages_are_gzip_only_even_for_a_client_that_takes_brotli(client: Client) -> None:
    page = client.get("/accounts/login/", headers={"Accept-Encoding": "br, gzip"})
    assert page.status_code == 200 and page["Content-Encoding"] == "gzip"
    assert b"</html>" in gzip.decompress(page.content)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path", ["/templates/mine", "/templates/mine/versions", "/templates/mine/schema", "/jobs/{job}"]
)
def test_a_read_again_with_its_etag_is_a_304_with_no_body(
    client: Client, template: Template, owner: User, bearer: dict[str, str], path: str
) -> None:
    job = submit_generation(template.published_version, {"topic": "rain", "count": 2}, owner=owner)
    url = API + path.format(job=job.pk)
    first = client.get(url, headers=bearer)
    assert first.status_code == 200 and first["ETag"]
    again = client.get(url, headers={**bearer, "If-None-Match": first["ETag"]})
    assert again.status_code == 304 and again.content == b""
    stale = client.get(url, headers={**bearer, "If-None-Match": '"not-this-one"'})
    assert stale.status_code == 200 and stale.json() == first.json()


@pytest.mark.django_db
def test_a_job_that_moved_on_has_a_new_etag(
    client: Client, template: Template, owner: User, bearer: dict[str, str]
) -> None:
    job = submit_generation(template.published_version, {"topic": "rain", "count": 2}, owner=owner)
    url = f"{API}/jobs/{job.pk}"
    queued = client.get(url, headers=bearer)
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.SUCCEEDED, output="Rain.", active_key=None, finished_at=timezone.now()
    )
    now = client.get(url, headers={**bearer, "If-None-Match": queued["ETag"]})
    assert now.status_code == 200 and now.json()["output"] == "Rain." and now["ETag"] != queued["ETag"]


@pytest.mark.django_db
def test_someone_elses_job_is_a_404_whatever_etag_they_send(
    client: Client, template: Template, owner: User, other_user: User, bearer: dict[str, str]
) -> None:
    job = submit_generation(template.published_version, {"topic": "rain", "count": 2}, owner=owner)
    etag = client.get(f"{API}/jobs/{job.pk}", headers=bearer)["ETag"]
    _token, raw = PersonalToken.issue(other_user, "theirs")
    theirs = client.get(
        f"{API}/jobs/{job.pk}", headers={"Authorization": f"Bearer {raw}", "If-None-Match": etag}
    )
    assert theirs.status_code == 404


@pytest.mark.django_db
def test_the_openapi_document_describes_the_etag_and_the_304(client: Client) -> None:
    schema = client.get("/api/schema/?format=json").json()
    read = schema["paths"]["/api/v1/jobs/{id}"]["get"]
    assert "304" in read["responses"] and "ETag" in read["responses"]["200"]["headers"]
    assert any(p["name"] == "If-None-Match" and p["in"] == "header" for p in read["parameters"])
    stream = schema["paths"]["/api/v1/jobs/{id}/events"]["get"]
    assert "304" not in stream["responses"]


@pytest.mark.skipif(not HAS_REDIS, reason="event streams need Redis")
@pytest.mark.django_db(transaction=True)
def test_through_the_server_the_api_is_compressed_and_the_event_stream_is_not(live_server_url: str) -> None:
    owner = User.objects.create_user("streams@example.com", "a long passphrase 42")
    template = Template.objects.create(slug="streamed", name="Streamed", owner=owner, description="x " * 200)
    template.create_version(body="Write {{ count }} lines about {{ topic }}.", parameters=SIMPLE_SCHEMA)
    job = submit_generation(template.published_version, {"topic": "rain", "count": 2}, owner=owner)
    Job.objects.filter(pk=job.pk).update(
        status=JobStatus.SUCCEEDED, output="Rain. " * 100, active_key=None, finished_at=timezone.now()
    )
    _token, raw = PersonalToken.issue(owner, "script")
    headers = {"Authorization": f"Bearer {raw}", "Accept-Encoding": "br, gzip"}
    with httpx.Client(base_url=live_server_url, headers=headers, timeout=20) as http:
        read = http.get(f"{API}/jobs/{job.pk}")
        assert read.headers["content-encoding"] == "br" and read.json()["output"].startswith("Rain.")
        with http.stream("GET", f"{API}/jobs/{job.pk}/events") as stream:
            assert stream.status_code == 200 and "content-encoding" not in stream.headers
            events = [line for line in stream.iter_lines() if line.startswith("event: ")]
        assert events[-1] == "event: done"
