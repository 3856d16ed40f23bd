"""Proof 4b: Redis stopped or hung mid-load: a clear 503 at once, never a wrong answer, and recovery.

A server on PostgreSQL with Redis (password-protected) takes receipts and
evaluations at 8 in flight, each request with a 2 s client timeout. Redis is
SIGKILLed (connections refused), then started again on the same port, then
SIGSTOPped (it accepts connections and never answers), then continued. Every
answer must be a 2xx or a 503 whose JSON message names the hot state (the URL
without its password) with ``Retry-After: 1``; no 500, no request left
hanging past the client timeout; every receipt acknowledged is in the
database; after each outage the answers are 2xx again; and the receipts that
got a 503 are accepted when sent again, once each.

    python -m tests.chaos.redis_outage [--full]
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections import Counter
from typing import Any

import httpx

from tests.support import opportunity

from .harness import (
    Answer,
    Db,
    Stack,
    active_campaign,
    billable_receipt,
    post_receipts,
    request,
    wait_for,
)

SUITE = {"outage_s": 2.0, "rounds": 1}
FULL = {"outage_s": 5.0, "rounds": 5}
PASSWORD = "redis-pw-7f3a9c"
CLIENT_TIMEOUT_S = 2.0


class Load:
    """Receipts (6 lanes) and evaluations (2 lanes) back to back from a thread; every answer kept, in order."""

    def __init__(self, base_url: str, campaign: dict[str, Any]) -> None:
        self.base_url, self.campaign = base_url, campaign
        self.answers: list[
            tuple[float, str, Answer, dict[str, Any] | None]
        ] = []  # (at, kind, answer, receipt)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> Load:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def count_since(self, at: float, status: int | None = None) -> int:
        """Answers since ``at`` with ``status`` (None: any answer that is not a 2xx)."""
        return sum(
            1
            for t, _, a, _ in list(self.answers)
            if t >= at and (a.status == status if status is not None else a.status not in (200, 201))
        )

    async def _run(self) -> None:
        async with httpx.AsyncClient(base_url=self.base_url, timeout=CLIENT_TIMEOUT_S) as client:
            lanes = [self._lane(client, "receipt") for _ in range(6)] + [
                self._lane(client, "evaluate") for _ in range(2)
            ]
            await asyncio.gather(*lanes)

    async def _lane(self, client: httpx.AsyncClient, kind: str) -> None:
        while not self._stop.is_set():
            if kind == "receipt":
                body: dict[str, Any] = billable_receipt(self.campaign)
                answer = await request(client, "POST", "/events/receipts", body)
            else:
                body = opportunity(category="crm_software")
                answer = await request(client, "POST", "/opportunities/evaluate", body)
            self.answers.append((time.monotonic(), kind, answer, body if kind == "receipt" else None))
            if answer.status == 503:
                await asyncio.sleep(0.05)


def prove(stack: Stack, counts: dict[str, Any]) -> dict[str, Any]:
    database_url = stack.database_url("postgres")
    db = Db(database_url)
    redis = stack.redis(password=PASSWORD)
    (server,) = stack.servers(1, database_url, REDIS_URL=redis.url)
    campaign = active_campaign(server.base_url)
    load = Load(server.base_url, campaign).start()
    outages: list[tuple[str, float, float]] = []  # (how, from, to)
    recovered_after: list[float] = []
    try:
        wait_for(
            lambda: load.count_since(0.0, 201) >= 20, "receipts to be accepted before the outage", 60, 0.05
        )
        for _ in range(counts["rounds"]):
            for how in ("stopped", "hung"):
                begin = time.monotonic()
                redis.kill() if how == "stopped" else redis.pause()
                wait_for(
                    lambda begin=begin: load.count_since(begin) >= 10,
                    f"refusals while Redis is {how}",
                    30,
                    0.05,
                )
                time.sleep(counts["outage_s"])
                redis.start() if how == "stopped" else redis.resume()
                end = time.monotonic()
                outages.append((how, begin, end))
                recovered_at = wait_for(
                    lambda end=end: _recovered(load, end), f"recovery after Redis {how}", 30, 0.05
                )
                recovered_after.append(recovered_at - end)
        time.sleep(1.0)
    finally:
        load.stop()

    answers = list(load.answers)
    statuses = Counter(a.status for _, _, a, _ in answers)
    unavailable = [a for _, _, a, _ in answers if a.status == 503]
    bad_503 = [a for a in unavailable if not _clear_503(a, redis)]
    acknowledged = {body["receiptId"] for _, _, a, body in answers if body and a.status in (200, 201)}
    refused = {body["receiptId"]: body for _, _, a, body in answers if body and a.status not in (200, 201)}
    stored = db.receipt_ids()
    # The receipts refused during the outages, sent again now: each accepted, one settlement each.
    resent = post_receipts(server.base_url, list(refused.values()), concurrency=8) if refused else []
    resent_statuses = Counter(a.status for a in resent)
    during = [a for t, _, a, _ in answers if any(b <= t <= e for _, b, e in outages)]
    return {
        "requestsSent": len(answers),
        "outages": len(outages),
        "answered2xx": statuses[200] + statuses[201],
        "answered503": statuses[503],
        "unclear503": len(bad_503),
        "answered500": statuses[500],
        "otherStatuses": sum(v for k, v in statuses.items() if k not in (200, 201, 503, 500, 0)),
        "clientTimeouts": statuses[0],
        "slowestAnswerDuringOutageS": round(max((a.seconds for a in during), default=0.0), 2),
        "acknowledgedButNotStored": len(acknowledged - stored),
        "refusedThenResent": len(refused),
        "resentAccepted": resent_statuses[200] + resent_statuses[201],
        "resentFoundStored": resent_statuses[200],
        "duplicatedSettlements": db.duplicated_settlements(),
        "receiptsWithMissingSettlement": db.receipts_with_missing_settlement(),
        "settlementsWithoutRetryJob": db.settlements_without_job(),
        "recoveredWithinS": round(max(recovered_after, default=0.0), 2),
        "passwordShown": any(PASSWORD in str(a.body) for a in unavailable),
        "_firstUnclear": [str(a.body)[:300] for a in bad_503[:3]],
        "_example503": unavailable[0].body if unavailable else None,
    }


def _recovered(load: Load, since: float) -> float | None:
    """The moment from which every answer is a 2xx again (20 in a row), or None yet."""
    streak = 0
    for t, _, a, _ in list(load.answers):
        if t < since:
            continue
        if a.status in (200, 201):
            streak += 1
            if streak >= 20:
                return t
        else:
            streak = 0
    return None


def _clear_503(answer: Answer, redis: Any) -> bool:
    body = answer.body
    return (
        isinstance(body, dict)
        and "hot state (Redis at redis://:***@127.0.0.1:" in str(body.get("message", ""))
        and answer.headers.get("retry-after") == "1"
    )


def main(argv: list[str] | None = None) -> int:
    from .run_all import main as run_all

    return run_all(["--only", "redis outage", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
