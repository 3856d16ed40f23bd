#!/usr/bin/env bash
# Measure the API with the shared wrk scripts, following ../shared/bench/README.md:
# a fresh server (empty database apart from the seed), a 3 s warm-up with the same
# script and concurrency, then a 10 s measured run. Prints the RESULT line of each.
#
# usage: bench/api.sh [SCRIPT ...]          (default: evaluate_uncached receipts_shortlisted)
#   env: CONCURRENCY="16" (space-separated list), PORT=3900, DURATION=10s,
#        WEB_CONCURRENCY=1 server processes, SQLITE_DB=path an existing database to run on
#        (see bench/million.sh),
#        BACKEND=sqlite (default) | postgres: a fresh database per run on PG_ADMIN_URL
#        (default the `promotion-agent dev postgres` server) with REDIS_URL (default the
#        `promotion-agent dev redis` server, flushed per run)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
shared=${SHARED_BENCH:-$root/../shared/bench}
port=${PORT:-3900}
duration=${DURATION:-10s}
scripts=("$@")
[ ${#scripts[@]} -gt 0 ] || scripts=(evaluate_uncached receipts_shortlisted)
if ! command -v wrk >/dev/null; then  # Debian's package; the only thing a bench fetches
  if [ "$(id -u)" -eq 0 ]; then apt-get install -y -qq wrk >/dev/null; else sudo apt-get install -y -qq wrk >/dev/null; fi
fi

path_for() {
  case "$1" in
    health) echo /health ;;
    evaluate_*) echo /opportunities/evaluate ;;
    receipts_*) echo /events/receipts ;;
    *) echo "bench: unknown script $1" >&2; exit 2 ;;
  esac
}

# shellcheck source=bench/serve.sh
. "$root/bench/serve.sh"
bench_port_free
server=""
trap '[ -z "$server" ] || kill "$server" 2>/dev/null || true' EXIT

for script in "${scripts[@]}"; do
  for c in ${CONCURRENCY:-16}; do
    data=$(mktemp -d)
    backend_env=(DATABASE_URL="sqlite+aiosqlite:///${SQLITE_DB:-$data/bench.sqlite3}")
    if [ "${BACKEND:-sqlite}" = postgres ]; then
      admin=${PG_ADMIN_URL:-postgresql://postgres:postgres@127.0.0.1:54329/postgres}
      redis=${REDIS_URL:-redis://127.0.0.1:6380/0}
      db="bench_$(date +%s%N)"
      psql -q "$admin" -c "CREATE DATABASE $db"
      redis-cli -u "$redis" flushdb >/dev/null
      backend_env=(DATABASE_URL="${admin%/*}/$db" REDIS_URL="$redis")
    fi
    bench_serve "$data" "${backend_env[@]}" WEB_CONCURRENCY="${WEB_CONCURRENCY:-1}"
    threads=2; [ "$c" -eq 1 ] && threads=1
    url="http://127.0.0.1:$port$(path_for "$script")"
    RUN_ID=warm$(date +%s%N) wrk -t$threads -c$c -d3s -s "$shared/$script.lua" "$url" >/dev/null
    result=$(RUN_ID=$(date +%s%N) wrk -t$threads -c$c -d"$duration" --latency -s "$shared/$script.lua" "$url" | grep '^RESULT')
    echo "$script c=$c backend=${BACKEND:-sqlite} processes=${WEB_CONCURRENCY:-1} $result"
    kill "$server"; wait "$server" 2>/dev/null || true
    server=""
    rm -rf "$data"
    if [ "${BACKEND:-sqlite}" = postgres ]; then psql -q "$admin" -c "DROP DATABASE $db WITH (FORCE)"; fi
  done
done
