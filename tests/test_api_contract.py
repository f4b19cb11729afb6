"""Contract: schemathesis generates requests from the served OpenAPI document and
checks every response against it with every check it has (tests/schemathesis.toml
lists the one check left off where, and why): no 5xx, only documented status codes and
headers, bodies that match their schemas, requests the document forbids refused, and
those it allows accepted. Run through its CLI (its pytest plugin does not load under
pytest 9), with a bounded number of examples per operation, on a web server of its own
with rate limits off.

Its examples phase uses the document's examples, and this test creates what they
name (the ``meeting-summary`` template and the example job, owned by the caller), so
every path-parameter operation runs authorised on an object that exists. It signs in
with a JWT: with a personal token, fuzzing ``DELETE auth/tokens/{id}`` soon revoked
the very token the run used (ids start at 1), and every later request was a 401."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import User
from batches.models import Batch, BatchConfiguration, BatchRow
from jobs.models import Job
from jobs.services import submit_generation
from promptlab.openapi import (
    EXAMPLE_BATCH_ID,
    EXAMPLE_JOB_ID,
    EXAMPLE_MEMBER_ID,
    EXAMPLE_SLUG,
    EXAMPLE_TOKEN_ID,
    EXAMPLE_WORKSPACE_SLUG,
    REQUEST_EXAMPLES,
)
from templates_app.demo import demo_templates
from templates_app.models import Template, Visibility
from webhooks.models import WebhookDelivery, WebhookEndpoint
from workspaces.models import Membership, Role, Workspace

from .conftest import ServiceProcess, start_web_server

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.needs_redis]


CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture
def unlimited_server_url(worker: ServiceProcess, service_log_dir: Path) -> Iterator[str]:
    """A web server of its own with rate limits off: a 429 would hide what it answers."""
    server, url = start_web_server(service_log_dir, "web-unlimited", RATELIMIT_ENABLE="0")
    yield url
    server.stop()


def test_api_matches_its_openapi_document(unlimited_server_url: str, tmp_path: Path) -> None:
    live_server_url = unlimited_server_url
    user = User.objects.create_user("contract@example.com", "a long passphrase 42", plan="enterprise")
    # The account the document's sign-in example names, so that auth/token's examples
    # phase signs in (every fuzzed guess is a 401, and only failures are rate limited).
    example = REQUEST_EXAMPLES[("post", "/api/v1/auth/token")]
    ana = User.objects.create_user(example["email"], example["password"])
    demo = next(d for d in demo_templates() if d.slug == EXAMPLE_SLUG)
    template = Template.objects.create(
        slug=EXAMPLE_SLUG, name=demo.name, owner=user, visibility=Visibility.PRIVATE
    )
    template.create_version(body=demo.body, system_prompt=demo.system_prompt, parameters=demo.parameters)
    job = submit_generation(
        template.published_version,
        {
            "notes": "Ana: ship on Friday, tests first.",
            "max_bullets": 3,
            "audience": "the team",
            "include_action_items": True,
        },
        owner=user,
    )
    Job.objects.filter(pk=job.pk).update(id=EXAMPLE_JOB_ID)
    # The example batch: one row, answered by the example job.
    version = template.published_version
    batch = Batch.objects.create(
        id=EXAMPLE_BATCH_ID, template=template, owner=user, state="finished", source_name="api",
        columns=["notes"], total_rows=1, succeeded=1,
    )  # fmt: skip
    configuration = BatchConfiguration.objects.create(
        batch=batch, position=0, template_version=version, provider=version.provider, model=version.model
    )
    BatchRow.objects.create(
        batch=batch, number=1, configuration=configuration, inputs=job.inputs, source={"notes": "Ana"},
        input_key="0" * 64, status="succeeded", job_id=EXAMPLE_JOB_ID,
    )  # fmt: skip
    # The webhook endpoint and delivery the examples name. Its URL is on this machine
    # (nothing listens on port 9): a redelivery the run asks for goes nowhere else.
    endpoint = WebhookEndpoint.objects.create(
        pk=EXAMPLE_TOKEN_ID, owner=user, url="http://127.0.0.1:9/hooks", events=["job.failed"]
    )
    WebhookDelivery.objects.create(
        pk=EXAMPLE_TOKEN_ID, endpoint=endpoint, event_type="job.failed", message_id="msg_example",
        payload={}, status="failed",
    )  # fmt: skip
    # The example workspace, owned by the caller, with the example member in it.
    writers = Workspace.objects.create(name="Writers", slug=EXAMPLE_WORKSPACE_SLUG)
    Membership.objects.create(workspace=writers, user=user, role=Role.OWNER)
    Membership.objects.create(pk=EXAMPLE_MEMBER_ID, workspace=writers, user=ana, role=Role.MEMBER)
    raw = str(AccessToken.for_user(user))
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st is not None
    result = subprocess.run(
        [
            st, "--config-file", str(CONFIG), "run", f"{live_server_url}/api/schema/?format=json",
            "--header", f"Authorization: Bearer {raw}",
            "--phases", "examples,fuzzing,stateful",
            "--max-examples", "10",
            "--exclude-path-regex", "/events$",
            "--seed", "42",
            "--request-timeout", "20",
            "--max-time", "100",
            "--report-dir", str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=420,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    # Every operation reached its logic, except the refresh endpoint: no valid refresh
    # token can be guessed (its logic is covered in test_api.py).
    assert _only_unauthorised(result.stdout) <= {"POST /api/v1/auth/token/refresh"}, result.stdout[-8000:]


def _only_unauthorised(report: str) -> set[str]:
    """The operations schemathesis's warning says answered nothing but 401/403."""
    found: set[str] = set()
    for block in re.findall(r"^40[13] [A-Za-z ]+\(\d+ operations?\):\n((?:  - .+\n)+)", report, re.M):
        found.update(line.strip()[2:] for line in block.splitlines())
    return found
