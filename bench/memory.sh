#!/usr/bin/env bash
# Issue 16's memory target: the server's resident memory after a 10-minute load within 10 % of its
# memory after 1 minute. One server process (SQLite, in-memory hot state, the bench seed), two wrk
# clients at once for the whole run: uncached evaluations and billable receipts (c=8 each), so every
# store and cache the request paths fill grows for the whole run. RSS is sampled every 10 s.
#   env: MINUTES=10, PORT=3900
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${SHARED_BENCH:-$root/../shared/bench}
port=${PORT:-3900}
minutes=${MINUTES:-10}
command -v wrk >/dev/null || { echo "bench: wrk is missing (bench/api.sh installs it)" >&2; exit 2; }
data=$(mktemp -d)
server=""
cleanup() { [ -z "$server" ] || { kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; } || true; rm -rf "$data"; }
trap cleanup EXIT
# shellcheck source=bench/serve.sh
. "$root/bench/serve.sh"
bench_port_free
bench_serve "$data"
rss_mb() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$server/status"; }
echo "start: rss $(rss_mb) MB"
seconds=$((minutes * 60))
RUN_ID=ev$(date +%s%N) wrk -t1 -c8 -d${seconds}s -s "$shared/evaluate_uncached.lua" \
  "http://127.0.0.1:$port/opportunities/evaluate" >"$data/eval.out" &
ev=$!
RUN_ID=rc$(date +%s%N) wrk -t1 -c8 -d${seconds}s -s "$shared/receipts_shortlisted.lua" \
  "http://127.0.0.1:$port/events/receipts" >"$data/rcpt.out" &
rc=$!
for t in $(seq 10 10 "$seconds"); do
  sleep 10
  echo "t=${t}s rss $(rss_mb) MB"
done
wait $ev $rc
echo "evaluate_uncached $(grep '^RESULT' "$data/eval.out")"
echo "receipts_shortlisted $(grep '^RESULT' "$data/rcpt.out")"
echo "database: $(du -m "$data"/bench.sqlite3* | awk '{s += $1} END {print s}') MB"
