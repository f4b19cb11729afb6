"""The job list and a job read through the API, on an older commit and on this checkout,
in turns, over one table of many jobs.

    .venv/bin/python bench/job_list.py --base 6872605 [--jobs 400000] [--rounds 5] [--requests 200]

One database for both sides (the two commits must have the same migrations): this
checkout fills it once, with ``--jobs`` finished jobs of a few hundred other people and,
for the people measured, 200 jobs of their own; a team workspace that shares its jobs
with its members (``members_see_all_jobs``) holds 2,000 jobs of its other members. Each
side then reads it in a process of its own, from its own checkout, through Django's test
client in-process with a personal token (the figure is PromptLab's own time per request).
The sides alternate, the order swapped each round. Prints the median per request of each
side, and new/base.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import ROOT  # noqa: E402
from bench.compare import (  # noqa: E402
    POSTGRES,
    TIMED_PRELUDE,
    base_checkout,
    ensure_database,
    in_checkout,
    print_table,
    setup,
)

DATABASE = f"{POSTGRES}/promptlab_bench_job_list"
REDIS = "redis://127.0.0.1:6379/7"

# Run by this checkout only, once: the rows both sides read.
FILL = r"""
import json, sys
import django
django.setup()
from django.core.management import call_command
from django.db import connection
call_command("migrate", verbosity=0, interactive=False)
from accounts.models import PersonalToken, User
from jobs.models import Job
from templates_app.models import Template
from workspaces.models import Membership, Role
from workspaces.services import change_settings, create_team_workspace

jobs = int(sys.argv[1])
if not User.objects.filter(email="alone@bench.example").exists():
    alone = User.objects.create_user("alone@bench.example", "correct horse battery")
    member = User.objects.create_user("member@bench.example", "correct horse battery")
    # No password: nobody signs in as them, and hashing 300 would take a while.
    others = [User.objects.create_user(f"other{n}@bench.example", None) for n in range(300)]
    team = create_team_workspace(others[0], "Bench team", "bench-team")
    Membership.objects.create(workspace=team, user=member, role=Role.MEMBER)
    Membership.objects.bulk_create(
        [Membership(workspace=team, user=other, role=Role.MEMBER) for other in others[1:20]]
    )
    change_settings(team, others[0], members_see_all_jobs=True)
    parameters = [{"name": "topic", "type": "string", "label": "Topic", "max_length": 50}]
    public = Template.objects.create(slug="bench-public", name="Public", owner=others[0], visibility="public")
    public.create_version(body="About {{ topic }}.", parameters=parameters, author=others[0])
    shared = Template.objects.create(
        slug="bench-shared", name="Shared", owner=others[0], workspace=team, visibility="workspace"
    )
    shared.create_version(body="About {{ topic }}.", parameters=parameters, author=others[0])
    prototype = Job.objects.create(
        template_version=public.published_version, owner=others[0], inputs={"topic": "tea"},
        input_hash="0" * 64, prompt="About tea.", provider="offline", model="offline",
        status="succeeded", output="Tea.", input_tokens=3, output_tokens=2,
    )
    varied = ("id", "owner_id", "created_at", "template_version_id")
    listed = ", ".join(f.column for f in Job._meta.concrete_fields if f.column not in varied)
    def copy(count, owners, version_id):
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO jobs_job (id, owner_id, created_at, template_version_id, {listed}) "
                f"SELECT gen_random_uuid(), (%s::int[])[1 + g %% cardinality(%s::int[])], "
                f"now() - g * interval '1 second', %s, {listed} "
                f"FROM jobs_job, generate_series(1, %s) AS g WHERE jobs_job.id = %s",
                [owners, owners, version_id, count, prototype.pk],
            )
    copy(jobs, [o.pk for o in others[20:]], public.published_version_id)
    copy(2000, [o.pk for o in others[1:20]], shared.published_version_id)
    for person in (alone, member):
        copy(200, [person.pk], public.published_version_id)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE jobs_job")
tokens = {}
for name in ("alone", "member"):
    person = User.objects.get(email=f"{name}@bench.example")
    PersonalToken.objects.filter(user=person).delete()
    tokens[name] = PersonalToken.issue(person, "bench")[1]
    tokens[name + "_job"] = str(Job.objects.filter(owner=person).values_list("pk", flat=True).first())
print(json.dumps(tokens))
"""

# Run inside each checkout (after TIMED_PRELUDE): only what both the old code and the new one have.
CHILD = (
    TIMED_PRELUDE
    + r"""
requests, tokens = int(sys.argv[1]), json.loads(sys.argv[2])
alone = Client(HTTP_AUTHORIZATION=f"Bearer {tokens['alone']}")
member = Client(HTTP_AUTHORIZATION=f"Bearer {tokens['member']}")
job = f"/api/v1/jobs/{tokens['alone_job']}"
from accounts.models import User
from jobs.models import Job

# The list's own queries, without the API around them: the rule's share of the list.
person = User.objects.get(email="alone@bench.example")
rows = lambda: Job.objects.visible_to(person, None).runs().order_by("-created_at")[:26]

print(json.dumps({
    "job list, sharing nothing (ms)": timed(lambda: alone.get("/api/v1/jobs?page_size=25"), requests),
    "  its queries alone (ms)": median_ms(lambda: list(rows().values_list("pk")), requests),
    "job list, in a sharing team (ms)": timed(lambda: member.get("/api/v1/jobs?page_size=25"), requests),
    "job read, sharing nothing (ms)": timed(lambda: alone.get(job), requests),
}))
"""
)


def main() -> None:
    parser = argparse.ArgumentParser(description="The job list: an old commit against this checkout.")
    parser.add_argument("--base", required=True, help="a commit with the same migrations, e.g. 6872605")
    parser.add_argument("--jobs", type=int, default=400_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    sides = {"base": base_checkout(args.base), "new": ROOT}
    for root in sides.values():
        setup(root)
    ensure_database(DATABASE)
    print(f"filling {DATABASE} (once)", file=sys.stderr, flush=True)
    where = {"database_url": DATABASE, "redis_url": REDIS}
    tokens = json.dumps(in_checkout(ROOT, FILL, str(args.jobs), **where))
    results: dict[str, list[dict[str, float]]] = {"base": [], "new": []}
    for number in range(args.rounds):
        for side in ("base", "new") if number % 2 == 0 else ("new", "base"):
            print(f"round {number + 1}/{args.rounds}: {side}", file=sys.stderr, flush=True)
            results[side].append(in_checkout(sides[side], CHILD, str(args.requests), tokens, **where))
    print_table(results, sides["base"], args.rounds)


if __name__ == "__main__":
    main()
