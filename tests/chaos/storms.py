"""Proof 2: duplicate storms bill each (intent, offer, event) once and never past a campaign's budget.

Every receipt is sent three times at the same moment, at 64 requests in flight,
across two server processes sharing PostgreSQL and Redis (the copies of one
receipt go to different servers), and against one server on SQLite. Some
receipts are twins (another receipt id for the same intent, offer and event);
some bill a campaign whose budget fits only a few bills. Checked over the API
(each copy answered 200/201, exactly one 201 per receipt id, every copy naming
the same settlement) and in the database (one settlement per key, committed
spend within every budget and equal to the live settlements' sum, no receipt
pointing at a missing settlement, no settlement without its retry job).

    python -m tests.chaos.storms [--full] [--where postgres-redis-2|sqlite-1]
"""

from __future__ import annotations

import asyncio
import random
import sys
import time
from collections import Counter, defaultdict
from typing import Any

import httpx

from .harness import Db, Stack, active_campaign, billable_receipt, send_all

SUITE = {"receipts": 300, "copies": 3, "concurrency": 64}
FULL = {"receipts": 10_000, "copies": 3, "concurrency": 64}
DEPLOYMENTS = ("postgres-redis-2", "sqlite-1")
BUDGET_PAYOUT, BUDGET_FITS = 150.0, 7  # the small campaign: room for exactly 7 bills


def _bodies(
    big: dict[str, Any], small: dict[str, Any], count: int, rng: random.Random
) -> list[dict[str, Any]]:
    """``count`` receipts: 10 % bill the small-budget campaign, 10 % are twins of another receipt."""
    bodies: list[dict[str, Any]] = []
    while len(bodies) < count:
        roll = rng.random()
        if roll < 0.1:
            bodies.append(billable_receipt(small))
        elif roll < 0.2 and bodies:
            twin_of = rng.choice(bodies)
            campaign = big if twin_of["campaignId"] == big["campaignId"] else small
            bodies.append(billable_receipt(campaign, intentId=twin_of["intentId"]))
        else:
            bodies.append(billable_receipt(big))
    return bodies


def _deploy(stack: Stack, deployment: str) -> tuple[list[str], Db]:
    if deployment == "postgres-redis-2":
        database_url = stack.database_url("postgres")
        redis = stack.redis()
        env = {"REDIS_URL": redis.url}
        servers = stack.servers(2, database_url, **env)
    elif deployment == "sqlite-1":
        database_url = stack.database_url("sqlite")
        servers = stack.servers(1, database_url)
    else:
        raise ValueError(f"deployment must be one of {DEPLOYMENTS}")
    return [s.base_url for s in servers], Db(database_url)


def prove(
    stack: Stack, deployment: str, counts: dict[str, int], seed: int = 9, keepalive_s: float = 5.0
) -> dict[str, Any]:
    """``keepalive_s``: how long the client keeps an idle connection (httpx's default 5 s)."""
    urls, db = _deploy(stack, deployment)
    big = active_campaign(urls[0])
    small = active_campaign(urls[0], budget=BUDGET_PAYOUT * BUDGET_FITS, payout=BUDGET_PAYOUT)
    rng = random.Random(seed)
    bodies = _bodies(big, small, counts["receipts"], rng)
    copies = counts["copies"]
    requests = [
        ("POST", f"{urls[(i + c) % len(urls)]}/events/receipts", body)
        for i, body in enumerate(bodies)
        for c in range(copies)
    ]

    async def storm() -> list[Any]:
        c = counts["concurrency"]
        limits = httpx.Limits(max_connections=c, max_keepalive_connections=c, keepalive_expiry=keepalive_s)
        async with httpx.AsyncClient(timeout=60, limits=limits) as client:
            return await send_all(client, requests, counts["concurrency"])

    started = time.monotonic()
    answers = asyncio.run(storm())
    seconds = time.monotonic() - started

    statuses = Counter(a.status for a in answers)
    created: Counter = Counter()
    named: dict[str, set[Any]] = defaultdict(set)
    for (_, _, body), answer in zip(requests, answers, strict=True):
        if answer.status in (200, 201):
            created[body["receiptId"]] += answer.status == 201
            settlement = answer.body.get("settlement")
            named[body["receiptId"]].add(settlement["settlementId"] if settlement else None)
    by_key: dict[tuple[str, str], set[str]] = defaultdict(set)
    for body in bodies:
        by_key[(body["intentId"], body["offerId"])] |= {i for i in named[body["receiptId"]] if i}
    keys = set(by_key)
    small_keys = {k for k in keys if k[1] == small["offer"]["offerId"]}
    expected_settlements = len(keys) - len(small_keys) + min(len(small_keys), BUDGET_FITS)
    statuses_in_db = db.settlement_statuses()
    small_billed = db.scalar(f"SELECT COUNT(*) FROM settlements WHERE campaign_id = '{small['campaignId']}'")
    figures = {
        "deployment": deployment,
        "receipts": len(bodies),
        "requestsSent": len(requests),
        "duplicatesSent": len(requests) - len(bodies),
        "concurrency": counts["concurrency"],
        "answers2xx": statuses[200] + statuses[201],
        "answers201": statuses[201],
        "answers4xx": sum(v for k, v in statuses.items() if 400 <= k < 500),
        "answers5xx": sum(v for k, v in statuses.items() if k >= 500),
        "noAnswer": statuses[0],
        "receiptsNotExactlyOnce201": sum(1 for b in bodies if created[b["receiptId"]] != 1),
        "copiesNamingDifferentSettlements": sum(1 for ids in named.values() if len(ids) != 1),
        "keysAnsweredWithTwoSettlements": sum(1 for ids in by_key.values() if len(ids) > 1),
        "receiptsStored": len(db.receipt_ids() & {b["receiptId"] for b in bodies}),
        "settlements": sum(statuses_in_db.values()),
        "settlementsExpected": expected_settlements,
        "duplicatedSettlements": db.duplicated_settlements(),
        "smallBudgetBills": small_billed,
        "campaignsOverBudget": len(db.campaigns_over_budget()),
        "receiptsWithMissingSettlement": db.receipts_with_missing_settlement(),
        "settlementsWithoutRetryJob": db.settlements_without_job(),
        "billableReceiptsWithoutSettlement": db.billable_receipts_without_settlement(),
        "requestsPerSecond": round(len(requests) / seconds),
        "seconds": round(seconds, 1),
    }
    first_errors = [a for a in answers if a.status not in (200, 201)][:3]
    figures["_errors"] = [(a.status, round(a.seconds, 2), a.error or str(a.body)[:300]) for a in first_errors]
    return figures


def main(argv: list[str] | None = None) -> int:
    from .run_all import main as run_all

    return run_all(["--only", "duplicate storm", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
