"""Contract: schemathesis generates requests from the served OpenAPI document and
checks every response against it: no 5xx, only documented status codes, bodies
that match their schemas. Run through its CLI (its pytest plugin does not load
under pytest 9), with a bounded number of examples per operation."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from accounts.models import PersonalToken, User
from templates_app.models import Template, Visibility

from .conftest import SIMPLE_SCHEMA

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.needs_redis]


def test_api_matches_its_openapi_document(live_server_url: str, tmp_path: Path) -> None:
    user = User.objects.create_user("contract@example.com", "a long passphrase 42", plan="enterprise")
    template = Template.objects.create(slug="haiku", name="Haiku", owner=user, visibility=Visibility.PRIVATE)
    template.create_version(body="Write {{ count }} lines about {{ topic }}.", parameters=SIMPLE_SCHEMA)
    _token, raw = PersonalToken.issue(user, "contract")
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st is not None
    result = subprocess.run(
        [
            st, "run", f"{live_server_url}/api/schema/?format=json",
            "--header", f"Authorization: Bearer {raw}",
            "--checks", "not_a_server_error,status_code_conformance,content_type_conformance,"
            "response_headers_conformance,response_schema_conformance",
            "--phases", "examples,fuzzing,stateful",
            "--max-examples", "10",
            "--exclude-path-regex", "/events$",
            "--seed", "42",
            "--request-timeout", "20",
            "--max-time", "120",
            "--report-dir", str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=420,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
