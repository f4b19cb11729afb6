"""Run a PromptLab template from a script and follow its output live.

    pip install httpx
    python docs/api_example.py --url http://127.0.0.1:8000 --email you@example.com \\
        --password '…' --template product-description \\
        --inputs '{"product_name": "Aurora lamp", "features": "Warm light", "tone": "friendly"}'

It signs in for a JWT, starts a generation, prints the output as it streams
(Server-Sent Events; it resumes with Last-Event-ID if the connection drops),
and exits 0 when the job succeeded. Long-running scripts can use a personal
API token instead of email and password (--token pl_…).
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import httpx


def bearer(client: httpx.Client, args: argparse.Namespace) -> str:
    if args.token:
        return args.token
    response = client.post("/api/v1/auth/token", json={"email": args.email, "password": args.password})
    response.raise_for_status()
    return response.json()["access"]


def follow(client: httpx.Client, job: dict) -> str:
    """Print the job's output as it arrives; return its final status."""
    out = sys.stdout
    last_id = None
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        headers = {"Accept": "text/event-stream", **({"Last-Event-ID": last_id} if last_id else {})}
        try:
            with client.stream("GET", job["links"]["events"], headers=headers, timeout=60) as stream:
                stream.raise_for_status()
                event, data = "message", []
                for line in stream.iter_lines():
                    if line.startswith("event: "):
                        event = line[7:]
                    elif line.startswith("data: "):
                        data.append(line[6:])
                    elif line.startswith("id: "):
                        last_id = line[4:]
                    elif line == "" and data:
                        payload = "\n".join(data)
                        if event == "chunk":
                            out.write(json.loads(payload)["text"])
                            out.flush()
                        elif event == "reset":  # a retry starts the answer over
                            out.write("\n[retrying]\n")
                        elif event == "done":
                            out.write("\n")
                            return payload
                        event, data = "message", []
        except httpx.TransportError:
            time.sleep(1)  # reconnect and resume where we stopped
    return "timeout"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--email")
    parser.add_argument("--password")
    parser.add_argument("--token", help="a personal API token (pl_…) instead of email and password")
    parser.add_argument("--template", required=True, help="the template's slug")
    parser.add_argument("--inputs", default="{}", help="the inputs, as a JSON object")
    args = parser.parse_args(argv)
    with httpx.Client(base_url=args.url, timeout=30) as client:
        client.headers["Authorization"] = f"Bearer {bearer(client, args)}"
        response = client.post(
            f"/api/v1/templates/{args.template}/generate", json={"inputs": json.loads(args.inputs)}
        )
        if response.status_code >= 400:
            error = response.json()["error"]
            print(f"{error['code']}: {error['message']} {error['details']}", file=sys.stderr)
            return 1
        status = follow(client, response.json())
    print(f"[{status}]", file=sys.stderr)
    return 0 if status == "succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
