"""Bytes on the wire with and without compression: the form page, the job list, API reads.

In process, through Django's test client with the real middleware: each response is
fetched without Accept-Encoding, with gzip only, and with Brotli offered, and the body
sizes and the compressing middleware's CPU time per response are printed.

    DATABASE_URL=… .venv/bin/python bench/compression.py   (or the embedded SQLite)
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "promptlab.settings")
os.environ.setdefault("SECRET_KEY", "benchmark-only-secret")
os.environ.setdefault("LOG_LEVEL", "WARNING")
os.environ.setdefault("RATELIMIT_ENABLE", "0")  # the bytes, not the limits

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from accounts.models import PersonalToken, User  # noqa: E402
from jobs.models import Job  # noqa: E402
from jobs.services import submit_generation  # noqa: E402
from templates_app.models import Template  # noqa: E402

ENCODINGS = {"identity": "", "gzip": "gzip", "br offered": "gzip, deflate, br"}


def main() -> None:
    call_command("migrate", verbosity=0)
    call_command("seed_demo", stdout=open(os.devnull, "w"))  # noqa: SIM115
    user, _ = User.objects.get_or_create(email="compression-bench@example.com")
    user.set_password("a long passphrase 42")
    user.save()
    _token, raw = PersonalToken.issue(user, "compression bench")
    version = Template.objects.get(slug="meeting-summary").published_version
    for n in range(25):  # a job list of a page's worth
        submit_generation(
            version,
            {
                "notes": f"Bench notes {n}: ship on Friday, tests first.",
                "max_bullets": 4,
                "audience": "the team",
                "include_action_items": True,
            },
            owner=user,
        )
    job = Job.objects.filter(owner=user).first()
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(user)
    bearer = {"Authorization": f"Bearer {raw}"}
    targets = [
        ("form page /t/meeting-summary/", "/t/meeting-summary/", {}),
        ("job list /jobs/", "/jobs/", {}),
        ("API GET templates/{slug}", "/api/v1/templates/meeting-summary", bearer),
        ("API GET jobs", "/api/v1/jobs", bearer),
        ("API GET jobs/{id}", f"/api/v1/jobs/{job.pk}", bearer),
    ]
    print(f"{'response':34} {'identity':>9} {'gzip':>12} {'br offered':>16} {'compress CPU ms':>16}")
    for label, path, headers in targets:
        sizes, encodings = {}, {}
        for name, accept in ENCODINGS.items():
            response = client.get(path, headers={**headers, "Accept-Encoding": accept})
            assert response.status_code == 200, (path, response.status_code)
            sizes[name], encodings[name] = len(response.content), response.get("Content-Encoding", "-")
        cost = _compress_cpu_ms(client, path, headers)
        base = sizes["identity"]
        print(
            f"{label:34} {base:9d} {sizes['gzip']:7d} ({sizes['gzip'] / base:.2f})"
            f" {sizes['br offered']:7d} {encodings['br offered']:>4} ({sizes['br offered'] / base:.2f})"
            f" {cost:16.3f}"
        )
    Job.objects.filter(owner=user).delete()


def _compress_cpu_ms(client: Client, path: str, headers: dict[str, str], n: int = 200) -> float:
    """CPU per response with Brotli/gzip offered minus without, interleaved."""

    def cpu(accept: str) -> float:
        started = time.process_time()
        client.get(path, headers={**headers, "Accept-Encoding": accept})
        return (time.process_time() - started) * 1000

    pairs = [(cpu("gzip, deflate, br"), cpu("")) for _ in range(n)]
    return statistics.median(a for a, _ in pairs) - statistics.median(b for _, b in pairs)


if __name__ == "__main__":
    main()
