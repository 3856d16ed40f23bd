"""Time ``promotion-agent import receipts`` on a JSON Lines file of N receipts (default 100,000).

A fresh SQLite database (seeded at the first import), receipts for the seed's HubFlow
campaign and ProcurePilot, one intent each, a mix of event types (shortlisted bills a
settlement until the campaign's budget is spent; the rest are stored and charged credits).
Then the same file again: every receipt a duplicate. Prints both runs' wall time and rate.

usage: python bench/import_receipts.py [N]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EVENTS = ("shortlisted", "presented", "viewed", "interacted")


def write_file(path: Path, n: int) -> None:
    now = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    with path.open("w", encoding="utf-8") as out:
        for i in range(n):
            item = {
                "receiptId": f"bench-{i:07d}",
                "dataProvenance": "real_event",
                "intentId": f"bench-intent-{i:07d}",
                "offerId": "offer_hubflow",
                "campaignId": "cmp_hubflow",
                "partnerId": "partner_procure_pilot",
                "eventType": EVENTS[i % len(EVENTS)],
                "occurredAt": now,
                "signature": f"sig_{i}",
            }
            out.write(json.dumps(item) + "\n")


def run(path: Path, env: dict[str, str]) -> tuple[float, dict]:
    started = time.perf_counter()
    command = [sys.executable, "-m", "server", "import", "receipts", str(path)]
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, json.loads(done.stdout)


def main() -> int:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    with tempfile.TemporaryDirectory(prefix="pa-import-bench-") as tmp:
        path = Path(tmp) / "receipts.jsonl"
        write_file(path, n)
        unset = ("APP_MODE", "PROMOTION_AGENT_MODE", "REDIS_URL")
        env = {k: v for k, v in os.environ.items() if k not in unset}
        env["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
        for label in ("first import", "same file again"):
            seconds, summary = run(path, env)
            print(
                f"{label}: {n} receipts in {seconds:.1f} s ({n / seconds:,.0f}/s): "
                f"imported {summary['importedCount']}, duplicates {summary['duplicateCount']}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
