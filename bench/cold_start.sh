#!/usr/bin/env bash
# Time `make run` on a fresh clone until the home page answers.
# Usage: bench/cold_start.sh [PORT]   (pip's and npm's download caches are kept, as on any machine)
set -euo pipefail
port=${1:-8765}
src=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'kill -- -$pid 2>/dev/null || true; rm -rf "$work"' EXIT
git clone -q "$src" "$work/promptlab"
cd "$work/promptlab"
env -u DATABASE_URL -u REDIS_URL -u DJANGO_SETTINGS_MODULE setsid make run PORT="$port" >"$work/run.log" 2>&1 &
pid=$!
start=$(date +%s%N)
deadline=$((SECONDS + 600))
until curl -sf "http://127.0.0.1:$port/" >/dev/null; do
  ((SECONDS < deadline)) || { echo "no answer after 600 s"; tail -20 "$work/run.log"; exit 1; }
  sleep 0.2
done
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "make run on a fresh clone answered after $((elapsed_ms / 1000)).$(printf %03d $((elapsed_ms % 1000))) s"
