"""The fake OpenAI-compatible provider (tests/fakes/llm_server.py) in a process of its own.

`bench/runs.py` starts it so that the provider's CPU falls in no measured process and
its threads don't compete with the load client's for one GIL. It prints its base URL
on the first line of stdout, then obeys one command per line on stdin, answering each
with one line:

* ``slow SECONDS COUNT``: the next COUNT requests wait SECONDS before the first token;
* ``reset``: forget queued behaviours and recorded calls;
* ``calls``: the number of provider requests since the last reset.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.fakes.llm_server import FakeLLMServer, slow_first_token  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reply", required=True)
    args = parser.parse_args()
    with FakeLLMServer(reply=args.reply) as fake:
        print(fake.openai_base_url, flush=True)
        for line in sys.stdin:
            command, *rest = line.split()
            if command == "slow":
                fake.script(*[slow_first_token(float(rest[0]))] * int(rest[1]))
                print("ok", flush=True)
            elif command == "reset":
                fake.reset()
                print("ok", flush=True)
            elif command == "calls":
                print(fake.call_count, flush=True)
            else:
                print(f"unknown command {command!r}", flush=True)


if __name__ == "__main__":
    main()
