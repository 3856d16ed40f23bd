#!/usr/bin/env bash
# Issue 16's "flat" target: billable receipts and uncached evaluations per second on an empty
# database and on one holding a million stored receipts (with their settlements, retry jobs, audit
# events, served slots and intents), the two alternating for ROUNDS rounds (this VM varies by up to
# ±25 % from one run to the next: compare medians). Needs ~3 GB of disk.
#   env: RECEIPTS=1000000, ROUNDS=3, SCRIPTS="receipts_shortlisted evaluate_uncached"
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
scripts=${SCRIPTS:-receipts_shortlisted evaluate_uncached}
# the bench seed (budgets that do not run out), as bench/api.sh serves with
"$root/.venv/bin/python" "$root/bench/bench_seed.py" "$work/seed.json"
DATABASE_URL="sqlite+aiosqlite:///$work/big.sqlite3" SEED_PATH="$work/seed.json" \
  "$root/.venv/bin/promotion-agent" db init >/dev/null
"$root/.venv/bin/python" "$root/bench/fill_receipts.py" "$work/big.sqlite3" "${RECEIPTS:-1000000}"
ls -l "$work/big.sqlite3" | awk '{printf "database size: %.2f GB\n", $5 / 1e9}'
for round in $(seq "${ROUNDS:-3}"); do
  for script in $scripts; do
    echo "round $round empty $("$root/bench/api.sh" "$script")"
    echo "round $round million $(SQLITE_DB="$work/big.sqlite3" "$root/bench/api.sh" "$script")"
  done
done
