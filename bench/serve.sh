# Sourced by the API benchmarks (api.sh, memory.sh): one fresh server on 127.0.0.1:$port.
# Needs $root (the repository) and $port; sets $server to the server's pid.

# Refuse a port something already answers on (a server left running would be measured instead).
bench_port_free() {
  if curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1; then
    echo "bench: something already answers on 127.0.0.1:$port (a server left running?): stop it or set PORT" >&2
    exit 2
  fi
}

# bench_serve DATA [VAR=value ...]: the bench seed (budgets that never close, so every billable receipt
# creates its settlement: bench/bench_seed.py) in DATA, then `promotion-agent serve` with a SQLite
# database in DATA unless the arguments say otherwise; returns once /health answers, its log in DATA.
bench_serve() {
  local data=$1
  shift
  "$root/.venv/bin/python" "$root/bench/bench_seed.py" "$data/seed.json"
  env DATABASE_URL="sqlite+aiosqlite:///$data/bench.sqlite3" SEED_PATH="$data/seed.json" PORT="$port" "$@" \
    "$root/.venv/bin/promotion-agent" serve >"$data/server.log" 2>&1 &
  server=$!
  for _ in $(seq 200); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
  if ! kill -0 "$server" 2>/dev/null; then
    echo "bench: the server did not start:" >&2
    tail -5 "$data/server.log" >&2
    exit 1
  fi
}
