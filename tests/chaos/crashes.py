"""Proof 3: crashes lose nothing, settle nothing twice and leave nothing in ``processing``.

Worker crashes: workers settle against the recording mock provider (150 ms an
answer) while the leader is SIGKILLed at a random moment, over and over; three
workers are kept alive (a replacement boots as soon as one dies), and every
fifth kill hits a worker still starting. Receipts keep arriving meanwhile. At
the end the surviving workers run until the queue is empty: every settlement
must be settled or in the DLQ, none in ``processing`` (a dead worker's claim
expires after its 10 s lease), each settled at most once at the provider with
the provider's id, and every resubmission accounted for by a kill.

Server crashes: a client sends billable receipts at 8 in flight while the server
is SIGKILLed at a random moment and restarted on the same port, over and over.
Afterwards, in the database: every receipt acknowledged (200/201) is stored, no
receipt points at a missing settlement, no settlement lacks its retry job, no
billable receipt lacks its settlement; the receipts whose answer was lost are
sent again and each is answered 200/201 with one settlement.

    python -m tests.chaos.crashes [--full] [--where sqlite|postgres]
"""

from __future__ import annotations

import asyncio
import random
import signal
import sys
import threading
import time
from collections import Counter
from typing import Any

import httpx

from tests.support.worker_fixtures import URL, Command

from .harness import (
    Db,
    Stack,
    active_campaign,
    billable_receipt,
    post_receipts,
    request,
    settlements,
    summary,
    wait_for,
)

SUITE = {"worker_kills": 20, "server_kills": 3}
FULL = {"worker_kills": 100, "server_kills": 20}
ALIVE_WORKERS = 3
RECEIPTS_PER_KILL = 3


# ---------------------------------------------------------------------------
# Worker crashes
# ---------------------------------------------------------------------------


def _url(command: Command) -> str | None:
    if not command.url:
        found = URL.search(command.log_path.read_text(errors="replace"))
        command.url = found.group(0) if found else ""
    return command.url or None


def _role(command: Command) -> str | None:
    url = _url(command)
    if url is None or not command.alive():
        return None
    try:
        return httpx.get(f"{url}/healthz", timeout=2).json().get("role")
    except (httpx.HTTPError, ValueError):
        return None


def prove_worker_kills(stack: Stack, backend: str, kills: int, seed: int = 3) -> dict[str, Any]:
    rng = random.Random(seed)
    database_url = stack.database_url(backend)
    db = Db(database_url)
    mock = stack.mock_billing(BILLING_ADAPTER_DELAY_MS="150")
    (server,) = stack.servers(1, database_url)
    api = server.base_url
    campaign = active_campaign(api)
    issued = _issue(api, campaign, 20)
    # One worker first (booting several at once on a small machine only slows each), then the standbys.
    workers = [stack.launch_worker(database_url, mock.settlements_url)]
    wait_for(lambda: _role(workers[0]) == "leader", "a first worker to lead", 90)
    workers += [stack.launch_worker(database_url, mock.settlements_url) for _ in range(ALIVE_WORKERS - 1)]

    killed_leaders = killed_starting = 0
    started = time.monotonic()
    for kill in range(kills):
        workers = [w for w in workers if w.alive()]
        if kill % 5 == 4:
            # A worker somewhere in its start-up: launched a moment ago, not yet serving (or just).
            victim = stack.launch_worker(database_url, mock.settlements_url)
            time.sleep(rng.uniform(0.0, 2.0))
            killed_starting += 1
        else:
            victim = wait_for(
                lambda workers=workers: next((w for w in workers if _role(w) == "leader"), None),
                "a worker to lead",
                90,
                0.05,
            )
            time.sleep(rng.uniform(0.05, 1.2))
            killed_leaders += 1
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(timeout=10)
        workers = [w for w in workers if w is not victim and w.alive()]
        while len(workers) < ALIVE_WORKERS:
            workers.append(stack.launch_worker(database_url, mock.settlements_url))
        issued += _issue(api, campaign, RECEIPTS_PER_KILL)
    chaos_seconds = time.monotonic() - started

    def drained() -> bool:
        statuses = db.job_statuses()
        return not any(statuses.get(s) for s in ("queued", "processing", "retry_scheduled"))

    started = time.monotonic()
    wait_for(drained, "the surviving workers to empty the queue (claims of dead workers expire)", 300, 0.5)
    drain_seconds = time.monotonic() - started
    events = summary(mock)
    found = settlements(api)
    in_db = db.settlement_statuses()
    dashboard = httpx.get(f"{api}/dashboard", timeout=30).json()["settlementsByStatus"]
    dlq_ids = {r[0] for r in db.rows("SELECT settlement_id FROM dlq_entries WHERE status = 'open'")}
    dlq = len(dlq_ids)
    submissions = events["submissionsByKey"]
    figures = {
        "backend": backend,
        "crashesInjected": kills,
        "leadersKilled": killed_leaders,
        "startingWorkersKilled": killed_starting,
        "settlements": sum(in_db.values()),
        "settled": in_db.get("settled", 0),
        "failedInDlq": dlq,
        "stuckProcessing": in_db.get("processing", 0)
        + len(httpx.get(f"{api}/settlements", params={"status": "processing"}, timeout=30).json()),
        "notSettledOrDlq": sum(in_db.values()) - in_db.get("settled", 0) - dlq,
        "settledTwiceAtProvider": sum(1 for v in events["settledByKey"].values() if v > 1),
        "settlementsIssued": len(issued),
        "settlementsLost": sum(1 for i in issued if i not in events["settledByKey"] and i not in dlq_ids),
        "submissions": sum(submissions.values()),
        "resubmissions": sum(submissions.values()) - len(submissions),
        "resubmittedAfterSettled": sum(events["duplicatesByKey"].values()),
        "overlappingSubmissions": events["overlappingSubmissions"],
        "wrongProviderId": sum(
            1
            for i, s in found.items()
            if s["status"] == "settled" and s["providerSettlementId"] != f"mock_{i}"
        ),
        "dashboardMatchesDb": all(
            dashboard.get(k, 0) == in_db.get(k, 0) for k in set(dashboard) | set(in_db)
        ),
        "lostResultsAudited": db.scalar(
            'SELECT COUNT(*) FROM audit_events WHERE doc LIKE \'%"action":"settlement.result_discarded"%\''
        ),
        "chaosSeconds": round(chaos_seconds, 1),
        "drainSeconds": round(drain_seconds, 1),
    }
    return figures


def _issue(api: str, campaign: dict[str, Any], count: int) -> list[str]:
    """Send ``count`` billable receipts; the ids of the settlements the API answered with."""
    answers = post_receipts(api, [billable_receipt(campaign) for _ in range(count)])
    return [a.body["settlement"]["settlementId"] for a in answers]


# ---------------------------------------------------------------------------
# Server crashes during receipt ingestion
# ---------------------------------------------------------------------------


class Sender:
    """Sends fresh billable receipts at ``concurrency`` in flight from a thread, until stopped."""

    def __init__(self, base_url: str, campaign: dict[str, Any], concurrency: int = 8) -> None:
        self.base_url, self.campaign, self.concurrency = base_url, campaign, concurrency
        self.acknowledged: dict[str, int] = {}  # receiptId -> 200/201
        self.unanswered: dict[str, dict[str, Any]] = {}  # sent, answer lost (the server died)
        self.statuses: Counter = Counter()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> Sender:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=120)

    async def _run(self) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=30) as client:
            await asyncio.gather(*(self._one_lane(client) for _ in range(self.concurrency)))

    async def _one_lane(self, client: httpx.AsyncClient) -> None:
        while not self._stop.is_set():
            body = billable_receipt(self.campaign)
            answer = await request(client, "POST", "/events/receipts", body)
            self.statuses[answer.status] += 1
            if answer.status in (200, 201):
                self.acknowledged[body["receiptId"]] = answer.status
            else:
                self.unanswered[body["receiptId"]] = body
                if answer.status == 0:
                    await asyncio.sleep(0.1)  # the server is down: do not spin


def prove_server_kills(stack: Stack, backend: str, kills: int, seed: int = 5) -> dict[str, Any]:
    rng = random.Random(seed)
    database_url = stack.database_url(backend)
    db = Db(database_url)
    (server,) = stack.servers(1, database_url)
    campaign = active_campaign(server.base_url)
    sender = Sender(server.base_url, campaign).start()
    try:
        for _ in range(kills):
            before = len(sender.acknowledged)
            wait_for(
                lambda before=before: len(sender.acknowledged) > before + 20,
                "receipts to be acknowledged",
                90,
                0.05,
            )
            time.sleep(rng.uniform(0.0, 1.0))
            server.process.send_signal(signal.SIGKILL)
            server.process.wait(timeout=10)
            server = stack.restart(server)
        before = len(sender.acknowledged)
        wait_for(lambda: len(sender.acknowledged) > before + 20, "receipts after the last restart", 90, 0.05)
    finally:
        sender.stop()
    stored = db.receipt_ids()
    lost = [r for r in sender.acknowledged if r not in stored]
    resent = post_receipts(server.base_url, list(sender.unanswered.values()), concurrency=8)
    resent_statuses = Counter(a.status for a in resent)
    stored_after = db.receipt_ids()
    return {
        "backend": backend,
        "crashesInjected": kills,
        "receiptsSent": sum(sender.statuses.values()),
        "acknowledged": len(sender.acknowledged),
        "notAnswered": len(sender.unanswered),  # refused while the server was down, or cut by the kill
        "serverErrors": sum(v for k, v in sender.statuses.items() if k >= 500),
        "acknowledgedButNotStored": len(lost),
        "receiptsWithMissingSettlement": db.receipts_with_missing_settlement(),
        "settlementsWithoutRetryJob": db.settlements_without_job(),
        "billableReceiptsWithoutSettlement": db.billable_receipts_without_settlement(),
        "duplicatedSettlements": db.duplicated_settlements(),
        "resentAnswered201": resent_statuses[201],
        "resentAnswered200": resent_statuses[200],  # stored before the kill cut the answer
        "sentButNotStored": sum(
            1 for r in (*sender.acknowledged, *sender.unanswered) if r not in stored_after
        ),
    }


def main(argv: list[str] | None = None) -> int:
    from .run_all import main as run_all

    return run_all(["--only", "crashes", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
