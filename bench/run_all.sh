#!/usr/bin/env bash
# `make bench`: every figure of bench/RESULTS.md measured again on this machine, appended to it as a dated
# section of raw results (the API with wrk at c=16 and c=64, three rounds; PostgreSQL + Redis with two
# server processes; the rates after a million stored receipts; memory over a 10-minute load; the batch
# engine; the lab's loop; a 20-variant sweep; the settlement worker). wrk comes from Debian when it is
# missing (api.sh); nothing else is fetched. Run it on an otherwise idle machine: the figures share its
# cores. About 35 minutes. SKIP_SLOW=1 leaves out the million-receipt and 10-minute memory runs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
out=$(mktemp)
{
  echo
  echo "## $(date -u +%Y-%m-%d) — make bench (raw output)"
  echo
  echo "Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(uname -sr), $(.venv/bin/python -V)."
  echo
  echo '```text'
  for round in 1 2 3; do
    CONCURRENCY="16 64" bash bench/api.sh evaluate_uncached evaluate_cached receipts_shortlisted
  done
  # PostgreSQL 15 + Redis (the local development servers, started here when they are not running;
  # left out, with a line saying so, on a machine without their binaries)
  pg_started="" redis_started=""
  if ! command -v redis-server >/dev/null || ! .venv/bin/python -c 'import sys; from server.dev import pg_bin; sys.exit(pg_bin("postgres") is None)'; then
    echo "postgres: skipped (PostgreSQL 15 or redis-server is not installed)"
  else
    if ! pg_isready -q -h 127.0.0.1 -p 54329 2>/dev/null; then
      .venv/bin/promotion-agent dev postgres >/dev/null 2>&1 & pg_started=$!
    fi
    if ! redis-cli -p 6380 ping >/dev/null 2>&1; then
      .venv/bin/promotion-agent dev redis >/dev/null 2>&1 & redis_started=$!
    fi
    for _ in $(seq 100); do
      pg_isready -q -h 127.0.0.1 -p 54329 2>/dev/null && redis-cli -p 6380 ping >/dev/null 2>&1 && break
      sleep 0.3
    done
    BACKEND=postgres WEB_CONCURRENCY=2 bash bench/api.sh receipts_shortlisted evaluate_uncached
    [ -z "$pg_started" ] || { kill "$pg_started"; wait "$pg_started" 2>/dev/null || true; }
    [ -z "$redis_started" ] || { kill "$redis_started"; wait "$redis_started" 2>/dev/null || true; }
  fi
  if [ -z "${SKIP_SLOW:-}" ]; then
    bash bench/million.sh 2>&1 | tr "\r" "\n" | grep -v " receipts$"
    bash bench/memory.sh | awk '/^start|^t=60s|^t=300s|^t=600s|RESULT|^database/'
  fi
  .venv/bin/python bench/batch.py --repeat 3
  .venv/bin/python bench/lab_latency.py --changes 8
  .venv/bin/workbench sweep scenarios/crowded-market.toml --set traffic.requests=100000 \
    --grid ranking.weights.bid=0.05:0.50:0.05 --grid ranking.floors.relevance=0.65,0.72 --normalise \
    --out "$(mktemp -d)" --no-progress | tail -1
  .venv/bin/python bench/worker.py --settlements 2000 --concurrency 1,8,32
  .venv/bin/python bench/worker.py --settlements 600 --concurrency 1,32 --delay-ms 20
  echo '```'
} 2>&1 | grep -v ' - INFO - \| - WARNING - ' | tee "$out"
cat "$out" >> bench/RESULTS.md
rm -f "$out"
echo "appended to bench/RESULTS.md"
