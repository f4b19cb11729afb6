"""The cost of workspace and role checks: the form page and the template read (REST, a
personal token) on an older commit (before workspaces) and on this checkout, in turns.

    .venv/bin/python bench/workspace_checks.py --base a5fd77b [--rounds 5] [--requests 300]

Each side runs in a process of its own, from its own checkout (bench/compare.py's
worktree of the base, with this checkout's venv), on a database of its own, through
Django's test client in-process (no web server: the figure is PromptLab's own time per
request, what the checks add to it). The sides alternate, the order swapped each round,
so that load from elsewhere on the machine falls on both. Prints the median per request
of each side, and new/base.
"""

from __future__ import annotations

import argparse
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

# Run inside each checkout (after TIMED_PRELUDE): only what both the old code and the new one have.
CHILD = (
    TIMED_PRELUDE
    + r"""
from django.core.management import call_command
call_command("migrate", verbosity=0, interactive=False)
from accounts.models import PersonalToken, User
from templates_app.models import Template

requests = int(sys.argv[1])
# The template first: a workspace (the owner's personal one) is deleted only once empty.
Template.all_objects.filter(slug="bench-haiku").delete()
User.objects.filter(email__endswith="@bench.example").delete()
owner = User.objects.create_user("owner@bench.example", "correct horse battery")
reader = User.objects.create_user("reader@bench.example", "correct horse battery")
template = Template.objects.create(slug="bench-haiku", name="Haiku", owner=owner, visibility="signed_in")
template.create_version(
    body="Write about {{ topic }}.",
    parameters=[{"name": "topic", "type": "string", "label": "Topic", "max_length": 50}],
    author=owner,
)
_token, raw = PersonalToken.issue(reader, "bench")
page, api = Client(), Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
page.force_login(reader)

print(json.dumps({
    "form page, signed in (ms)": timed(lambda: page.get("/t/bench-haiku/"), requests),
    "template read, API token (ms)": timed(lambda: api.get("/api/v1/templates/bench-haiku"), requests),
}))
"""
)


def main() -> None:
    parser = argparse.ArgumentParser(description="Workspace checks: an old commit against this checkout.")
    parser.add_argument("--base", required=True, help="a commit before workspaces, e.g. a5fd77b")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    sides = {
        "base": (base_checkout(args.base), f"{POSTGRES}/promptlab_bench_ws_base", "redis://127.0.0.1:6379/7"),
        "new": (ROOT, f"{POSTGRES}/promptlab_bench_ws_new", "redis://127.0.0.1:6379/8"),
    }
    for root, database_url, _redis in sides.values():
        setup(root)
        ensure_database(database_url)
    results: dict[str, list[dict[str, float]]] = {"base": [], "new": []}
    for number in range(args.rounds):
        for side in ("base", "new") if number % 2 == 0 else ("new", "base"):
            print(f"round {number + 1}/{args.rounds}: {side}", file=sys.stderr, flush=True)
            root, database_url, redis_url = sides[side]
            results[side].append(
                in_checkout(root, CHILD, str(args.requests), database_url=database_url, redis_url=redis_url)
            )
    print_table(results, sides["base"][0], args.rounds)


if __name__ == "__main__":
    main()
