"""Settlement worker throughput against the mock billing provider (a real HTTP server on 127.0.0.1).

    .venv/bin/python bench/worker.py [--settlements 3000] [--concurrency 1,8,32] [--delay-ms 0]

For each concurrency: a fresh SQLite database with the bench seed (``bench_seed.py``: budgets that do not
close), ``--settlements`` billable receipts recorded through the receipt service (each creates a
settlement and its retry job), then the worker's own batch loop (``SettlementWorker.run_batch``, batches
of 1,000, the given ``SETTLEMENT_WORKER_CONCURRENCY``) against ``promotion-agent mock billing`` until the
queue is empty. Prints settlements per second of the drain and checks that every settlement settled once.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_seed import main as write_seed  # noqa: E402
from server.adapters.alerts import Alerter  # noqa: E402
from server.adapters.hot_state import MemoryHotState  # noqa: E402
from server.adapters.leader_lease import HotStateLease  # noqa: E402
from server.app import build_services  # noqa: E402
from server.domain.models import EventReceipt  # noqa: E402
from server.services import receipts  # noqa: E402
from server.settings import Settings  # noqa: E402
from server.worker import SettlementWorker, WorkerSettings  # noqa: E402
from server.worker_http import WorkerMetrics  # noqa: E402


def start_mock(delay_ms: int) -> tuple[subprocess.Popen, str]:
    mock = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/promotion-agent"),
            "mock",
            "billing",
            "--port",
            "0",
            "--delay-ms",
            str(delay_ms),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert mock.stdout is not None
    for line in mock.stdout:
        found = re.search(r"listening on (http://[0-9.:]+)", line)
        if found:
            return mock, found.group(1)
    raise SystemExit("the mock billing provider did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def drain(count: int, concurrency: int, url: str, mock_pid: int) -> tuple[float, int, float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        write_seed(f"{tmp}/seed.json")
        settings = Settings(
            database_url=f"sqlite+aiosqlite:///{tmp}/bench.sqlite3",
            seed_path=f"{tmp}/seed.json",
            billing_adapter_url=f"{url}/settlements",
        )
        svc = await build_services(settings)
        try:
            now = svc.clock()
            for i in range(count):
                await receipts.record_receipt(
                    svc,
                    EventReceipt(
                        receipt_id=f"rcpt_w{i}",
                        data_provenance="demo_bootstrap",
                        intent_id=f"int_w{i}",
                        offer_id="offer_hubflow",
                        campaign_id="cmp_hubflow",
                        partner_id="partner_procure_pilot",
                        event_type="offer.shortlisted",
                        occurred_at=now,
                        signature="sig_bench",
                    ),
                )
            config = WorkerSettings(batch_size=1000, concurrency=concurrency, interval_ms=10)
            hot = MemoryHotState()
            worker = SettlementWorker(
                svc, config, HotStateLease(hot, config.leader_lease_ms), Alerter(svc.hot, []), WorkerMetrics()
            )
            started = time.perf_counter()
            cpu_worker, cpu_mock = time.process_time(), cpu_seconds(mock_pid)
            settled = 0
            while True:
                assert await worker.hold_lease()
                await worker.run_batch()
                done = worker.last_run.get("settled", 0)
                settled += done
                if not any(worker.last_run.values()):
                    break
            seconds = time.perf_counter() - started
            cpu_worker, cpu_mock = time.process_time() - cpu_worker, cpu_seconds(mock_pid) - cpu_mock
            with sqlite3.connect(f"{tmp}/bench.sqlite3") as db:
                rows = dict(db.execute("SELECT status, count(*) FROM settlements GROUP BY status").fetchall())
            assert rows.get("settled", 0) >= count and settled == count, (rows, settled)
            return seconds, settled, cpu_worker, cpu_mock
        finally:
            await svc.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--settlements", type=int, default=3000)
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--delay-ms", type=int, default=0, help="the mock provider's answer delay")
    args = ap.parse_args()
    mock, url = start_mock(args.delay_ms)
    try:
        httpx.get(f"{url}/events", timeout=5)
        for c in (int(x) for x in args.concurrency.split(",")):
            seconds, settled, cpu_worker, cpu_mock = asyncio.run(drain(args.settlements, c, url, mock.pid))
            print(
                f"worker concurrency={c} settlements={settled} seconds={seconds:.2f} "
                f"rate={settled / seconds:,.0f}/s cpu_per_settlement_ms worker={1000 * cpu_worker / settled:.2f} "
                f"mock={1000 * cpu_mock / settled:.2f} (mock delay {args.delay_ms} ms)"
            )
    finally:
        mock.terminate()
        mock.wait(timeout=10)


if __name__ == "__main__":
    main()
