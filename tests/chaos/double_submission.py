"""Proof 1: no settlement is ever submitted twice at once, and each is settled exactly once at the provider.

Without Redis (each process has its own in-memory hot state, so nothing but the
database's claim stands between the claimants), three claimants work one retry
queue at the same time: a ``promotion-agent worker`` process and two loops
calling ``POST /settlements/retry-queue/process`` on two server processes that
share the database. The mock provider answers after 300 ms and notices any
two submissions of one idempotency key in flight together.

Phase 1 (drip): the provider drips a valid settled answer one byte every 30 ms
(about 5 s) while the billing deadline is 1 s and the claim lease 3 s, so a
call that outlived its deadline would still be in flight when its claim could
be taken again. Every attempt must end at the deadline and be rescheduled.
Phase 2 (slow): the provider is switched back to settled (300 ms); new
settlements are worked by all three claimants while the dripped ones come due
again (15 s after their attempt) and settle with the provider's first booking.
Phase 3 (paused): a server is frozen (SIGSTOP) in the middle of a billing call
for longer than its claim; the other server takes the job again and settles it;
the frozen one's late answer, once it resumes, must be discarded and audited.

    python -m tests.chaos.double_submission [--full] [--where sqlite|postgres]
"""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
import time
from collections import Counter
from typing import Any

import httpx

from .harness import (
    Db,
    Stack,
    active_campaign,
    billable_receipt,
    post_receipts,
    request,
    summary,
    wait_for,
)

SUITE = {"settlements": 40, "drips": 4, "pauses": 1}
FULL = {"settlements": 1000, "drips": 40, "pauses": 5}
SETTINGS = {"BILLING_ADAPTER_TIMEOUT_MS": "1000", "SETTLEMENT_RETRY_LEASE_MS": "3000"}
DB_CLAIM_REFUSALS = (
    "Another worker claimed this job first.",
    "Another claim holds this job until its lease expires.",
)


async def _process_loop(base_url: str, stop: asyncio.Event, tally: Counter) -> None:
    """Call the retry queue's process endpoint back to back until ``stop``; count what it says."""
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
        while not stop.is_set():
            answer = await request(client, "POST", "/settlements/retry-queue/process", {"limit": 5})
            tally["requests"] += 1
            if answer.status != 200:
                tally[f"http_{answer.status}"] += 1
                await asyncio.sleep(0.05)
                continue
            for item in answer.body["items"]:
                tally[item["outcome"]] += 1
                if item["outcome"] == "skipped" and item["message"] in DB_CLAIM_REFUSALS:
                    tally["refused_by_db_claim"] += 1
            if not answer.body["items"]:
                await asyncio.sleep(0.02)


def _all_jobs_finished(db: Db, total: int) -> bool:
    return db.job_statuses().get("completed", 0) == total


def prove(stack: Stack, backend: str, counts: dict[str, int]) -> dict[str, Any]:
    n, drips = counts["settlements"], counts["drips"]
    database_url = stack.database_url(backend)
    db = Db(database_url)
    mock = stack.mock_billing(BILLING_ADAPTER_MODE="drip", BILLING_ADAPTER_DRIP_MS="30")
    env = {"BILLING_ADAPTER_URL": mock.settlements_url, **SETTINGS}
    servers = stack.servers(2, database_url, **env)
    worker = stack.worker(database_url, mock.settlements_url, **SETTINGS).command
    api = servers[0].base_url
    campaign = active_campaign(api)

    tally: Counter = Counter()
    started = time.monotonic()

    def overlapped() -> bool:
        return summary(mock)["overlappingSubmissions"] > 0

    async def wait(condition: Any, what: str, timeout: float) -> bool:
        """Wait for ``condition``; False (stop the proof, it has failed) as soon as two submissions overlap."""
        await asyncio.to_thread(wait_for, lambda: overlapped() or condition(), what, timeout, 0.25)
        return not overlapped()

    async def run() -> None:
        stop = asyncio.Event()
        loops = [asyncio.create_task(_process_loop(s.base_url, stop, tally)) for s in servers]
        try:
            # Phase 1: dripped answers, every attempt cut at the 1 s deadline and rescheduled.
            await asyncio.to_thread(_post, api, campaign, drips)
            rescheduled = lambda: db.job_statuses().get("retry_scheduled", 0) == drips  # noqa: E731
            if not await wait(
                rescheduled, "every dripped settlement to be rescheduled after its deadline", 60 + drips
            ):
                return
            # Phase 2: the provider answers in 300 ms; new settlements and the dripped ones settle.
            await asyncio.to_thread(mock.set_mode, "settled", 300)
            await asyncio.to_thread(_post, api, campaign, n)
            await wait(lambda: _all_jobs_finished(db, n + drips), "every settlement to settle", 120 + n * 0.5)
        finally:
            stop.set()
            await asyncio.gather(*loops)

    asyncio.run(run())
    events = mock.events()
    found = db.settlement_docs()
    submissions = events["submissionsByKey"]
    duplicates = events["duplicatesByKey"]
    keys = set(found)
    figures = {
        "backend": backend,
        "settlements": len(keys),
        "dripped": drips,
        "claimants": 3,
        "processRequests": tally["requests"],
        "submissions": sum(submissions.values()),
        "refusedByDbClaim": tally["refused_by_db_claim"],
        "overlappingSubmissions": events["overlappingSubmissions"],
        "settledAtProvider": len(events["settledByKey"]),
        "maxSubmissionsPerKey": max(submissions.values(), default=0),
        "resubmittedAfterSettled": sum(duplicates.values()),
        "settledInDb": sum(1 for s in found.values() if s["status"] == "settled"),
        "wrongProviderId": sum(1 for i, s in found.items() if s["providerSettlementId"] != f"mock_{i}"),
        "stillProcessing": db.settlement_statuses().get("processing", 0),
        "serverErrors": sum(v for k, v in tally.items() if k.startswith("http_5")),
        "workerAlive": worker.alive(),
        "seconds": round(time.monotonic() - started, 1),
    }
    figures["_submissionsByKey"] = submissions
    figures["_settledByKey"] = events["settledByKey"]
    figures["_keys"] = keys
    worker.stop(signal.SIGTERM)
    figures.update(_paused_claimant(servers, mock, db, campaign, counts["pauses"]))
    return figures


def _paused_claimant(
    servers: list[Any], mock: Any, db: Db, campaign: dict[str, Any], rounds: int
) -> dict[str, Any]:
    """Phase 3: a claimant frozen (SIGSTOP) in the middle of its billing call until its claim has expired.

    Server 1 claims a settlement and submits it (the provider answers in 800 ms); the process is
    stopped before it can read the answer, for longer than the 3 s lease. Server 2 takes the job
    again and settles it (the provider says it was booked already). When server 1 resumes, its
    late answer must be discarded and audited, never applied over the settlement.
    """
    frozen, other = servers
    mock.set_mode("settled", 800)
    lease_s = int(SETTINGS["SETTLEMENT_RETRY_LEASE_MS"]) / 1000
    tally: Counter = Counter()
    for _ in range(rounds):
        (sid,) = _post(other.base_url, campaign, 1)
        answer: dict[str, Any] = {}

        def claim_on_frozen(answer: dict[str, Any] = answer) -> None:
            response = httpx.post(
                f"{frozen.base_url}/settlements/retry-queue/process", json={"limit": 1}, timeout=60
            )
            answer.update(response.json())

        caller = threading.Thread(target=claim_on_frozen)
        caller.start()
        wait_for(lambda sid=sid: summary(mock)["submissionsByKey"].get(sid), "server 1 to submit", 30, 0.02)
        frozen.process.send_signal(signal.SIGSTOP)
        try:
            time.sleep(lease_s + 0.5)

            def settled_by_other(sid: str = sid) -> bool:
                body = httpx.post(
                    f"{other.base_url}/settlements/retry-queue/process", json={"limit": 1}, timeout=30
                ).json()
                return any(i["settlementId"] == sid and i["outcome"] == "settled" for i in body["items"])

            wait_for(settled_by_other, "server 2 to take the expired claim and settle", 30, 0.2)
        finally:
            frozen.process.send_signal(signal.SIGCONT)
        caller.join(timeout=60)
        (item,) = answer.get("items") or [{}]
        tally["lateAnswersDiscarded"] += item.get(
            "outcome"
        ) == "skipped" and "claim on this job was lost" in (item.get("message") or "")
        audit = httpx.get(
            f"{other.base_url}/audit-trail", params={"entityId": sid, "pageSize": 100}, timeout=30
        )
        actions = Counter(e["action"] for e in audit.json()["items"])
        tally["discardsAudited"] += actions["settlement.result_discarded"] == 1
        tally["settledOnce"] += actions["settlement.settled"] == 1
        doc = db.settlement_docs()[sid]
        tally["recordedWithProviderId"] += (
            doc["status"] == "settled" and doc["providerSettlementId"] == f"mock_{sid}"
        )
        events = summary(mock)
        tally["bookedOnceAtProvider"] += events["settledByKey"].get(sid) == 1
    events = summary(mock)
    return {
        "pausedClaimants": rounds,
        **{f"paused{k[0].upper()}{k[1:]}": v for k, v in tally.items()},
        "overlappingSubmissionsAfterPauses": events["overlappingSubmissions"],
    }


def _post(api: str, campaign: dict[str, Any], count: int) -> list[str]:
    answers = post_receipts(api, [billable_receipt(campaign) for _ in range(count)])
    return [a.body["settlement"]["settlementId"] for a in answers]


def main(argv: list[str] | None = None) -> int:
    from .run_all import main as run_all

    return run_all(["--only", "double submission", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
