#!/usr/bin/env bash
# Billable receipts per second on an empty database and after a million stored receipts
# (issue 2: the rate must not fall as the data grows). Needs ~2.5 GB of disk.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "== empty database"
"$root/bench/api.sh" receipts_shortlisted
DATABASE_URL="sqlite+aiosqlite:///$work/big.sqlite3" "$root/.venv/bin/promotion-agent" db init >/dev/null
"$root/.venv/bin/python" "$root/bench/fill_receipts.py" "$work/big.sqlite3" "${RECEIPTS:-1000000}"
echo "== after ${RECEIPTS:-1000000} stored receipts"
SQLITE_DB="$work/big.sqlite3" "$root/bench/api.sh" receipts_shortlisted
