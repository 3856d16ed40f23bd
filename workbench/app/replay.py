"""Replay a scenario against a live exchange API: its opportunities, then the receipts buyer agents send.

The traffic and the funnel draws are the batch engine's own (same seeded
generators as ``workbench run``), so the live server meets the scenario the
analyst tuned. What gets shortlisted is the server's answer; each shortlisted
offer then gets the receipts its funnel stage reaches (shortlisted, presented,
viewed, interacted, conversion). A replay file with recorded receipts sends
those instead of simulated ones.

Intent and receipt ids carry a run id, so replaying the same scenario twice
creates new opportunities instead of colliding with the first run's
(deduplicated) receipts. Requests go out a few at a time; cancelling the
coroutine (the terminal's cancel key, Ctrl-C on the command line) stops it
between requests.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec
import numpy as np

from workbench.app.client import ApiClient, ApiError
from workbench.engine.scenario import Scenario, scenario_workspaces
from workbench.engine.simulate import draw_stages, rngs
from workbench.engine.traffic import Traffic, build_traffic

# Funnel stage (0 shortlisted … 4 converted) → the receipts a slot that reached it sends.
STAGE_EVENTS = ("shortlisted", "presented", "viewed", "interacted", "conversion")

Progress = Callable[[int, int], None]


@dataclass
class ReplaySummary:
    run_id: str
    requests: int = 0
    shortlisted: int = 0
    receipts: int = 0
    deduplicated: int = 0
    refused: int = 0
    problems: list[str] = field(default_factory=list)
    settlement_ids: set[str] = field(default_factory=set)  # the settlements the receipts created (or shared)
    not_billed: Counter = field(default_factory=Counter)  # billable events not billed, by billingReason
    # Workspaces of the scenario with no credits left after the replay (id -> available credits, 0 or
    # less): the credits gate kept their campaigns out of shortlists from the moment they ran out.
    out_of_credits: dict[str, float] = field(default_factory=dict)
    # With ``record``: each request's shortlist as answered, (campaignId, partnerId, priorityScore) in order.
    shortlists: dict[int, list[tuple[str, str, float]]] | None = None

    @property
    def settlements(self) -> int:
        return len(self.settlement_ids)

    def describe(self) -> str:
        text = (
            f"{self.requests} requests, {self.shortlisted} offers shortlisted, {self.receipts} receipts, "
            f"{self.settlements} settlements"
        )
        if self.deduplicated:
            text += f", {self.deduplicated} deduplicated"
        if self.refused:
            text += f", {self.refused} refused"
        if self.out_of_credits:
            spent = ", ".join(f"{ws} ({credits:,.0f})" for ws, credits in self.out_of_credits.items())
            text += f"; credits ran out (their campaigns stopped being shortlisted): {spent}"
        return text


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def planned_requests(
    scenario: Scenario, run_id: str, limit: int | None = None
) -> tuple[list[dict], np.ndarray]:
    """The scenario's opportunity requests (API bodies, arrival order) and their funnel stages per position."""
    gens = rngs(scenario.spec.seed)
    traffic = build_traffic(scenario, scenario.ranking, gens["traffic"])
    stages = draw_stages(scenario.spec.funnel, gens["funnel"], traffic.size, traffic.max_slots)
    n = traffic.size if limit is None else min(limit, traffic.size)
    return request_bodies(traffic, run_id, n), stages[:n]


def request_bodies(traffic: Traffic, run_id: str, n: int) -> list[dict]:
    """The first ``n`` requests of ``traffic`` as API bodies (arrival order), intent ids suffixed with the
    run's."""
    frame = traffic.requests.head(n).join(traffic.signatures, on="sig", how="left").sort("idx")
    return [
        {
            "intentId": f"{row['intent_id']}-{run_id}",
            "category": row["r_category"],
            "taskType": row["task_type"],
            "placement": row["placement"],
            "constraints": {"geo": list(row["geo"])} if row["geo"] else {},
            "relevanceFloor": row["relevance_floor"],
            "utilityFloor": row["utility_floor"],
            "sponsoredSlots": int(row["slots"]),
            "disclosureRequired": bool(row["disclosure_required"]),
        }
        for row in frame.iter_rows(named=True)
    ]


def _receipt(intent_id: str, item: dict[str, Any], event: str) -> dict[str, Any]:
    return {
        "receiptId": f"{intent_id}:{item['offerId']}:{item['partnerId']}:{event}",
        "dataProvenance": "demo_bootstrap",
        "intentId": intent_id,
        "offerId": item["offerId"],
        "campaignId": item["campaignId"],
        "partnerId": item["partnerId"],
        "eventType": event,
        "occurredAt": _now(),
        "signature": "sig_workbench_replay",
    }


def _recorded(scenario: Scenario, run_id: str) -> dict[str, list[dict[str, Any]]]:
    """Recorded receipts by (suffixed) intent id, re-identified for this run."""
    by_intent: dict[str, list[dict[str, Any]]] = {}
    for receipt in scenario.replay_receipts:
        body = msgspec.to_builtins(receipt)
        body = {k: v for k, v in body.items() if v is not None}
        body["intentId"] = f"{receipt.intent_id}-{run_id}"
        body["receiptId"] = f"{receipt.receipt_id}-{run_id}"
        body.pop("opportunityId", None)
        body.pop("traceId", None)
        by_intent.setdefault(body["intentId"], []).append(body)
    return by_intent


async def _send_receipt(client: ApiClient, body: dict[str, Any], summary: ReplaySummary) -> None:
    try:
        answer = await client.post_receipt(body)
    except ApiError as exc:
        if exc.unreachable or exc.refused_key:
            raise
        summary.refused += 1
        if len(summary.problems) < 20:
            summary.problems.append(exc.message)
        return
    summary.receipts += 1
    if answer.get("deduplicated"):
        summary.deduplicated += 1
    elif answer.get("settlement"):
        summary.settlement_ids.add(answer["settlement"]["settlementId"])
    elif answer.get("billingReason") not in (None, "event_not_billable"):
        summary.not_billed[answer["billingReason"]] += 1


async def _one(
    client: ApiClient,
    body: dict[str, Any],
    stages: np.ndarray,
    recorded: dict[str, list[dict[str, Any]]] | None,
    summary: ReplaySummary,
    index: int = 0,
) -> None:
    try:
        answer = await client.evaluate(body)
    except ApiError as exc:
        if exc.unreachable or exc.refused_key:
            raise
        summary.refused += 1
        if len(summary.problems) < 20:
            summary.problems.append(exc.message)
        return
    summary.requests += 1
    shortlisted = answer.get("shortlisted", [])
    summary.shortlisted += len(shortlisted)
    if summary.shortlists is not None:
        summary.shortlists[index] = [
            (s["campaignId"], s["partnerId"], s["priorityScore"]) for s in shortlisted
        ]
    if recorded is not None:
        for receipt in recorded.get(body["intentId"], []):
            await _send_receipt(client, receipt, summary)
        return
    for position, item in enumerate(shortlisted):
        stage = int(stages[position]) if position < len(stages) else 0
        for event in STAGE_EVENTS[: stage + 1]:
            await _send_receipt(client, _receipt(body["intentId"], item, event), summary)


async def replay_scenario(
    client: ApiClient,
    scenario: Scenario,
    progress: Progress | None = None,
    limit: int | None = None,
    concurrency: int = 8,
    run_id: str | None = None,
) -> ReplaySummary:
    """Send the scenario's traffic and receipts to the API; raises ApiError if the server goes away
    or refuses the API key (a 401/403 would refuse every other request too), and ReplayRefused
    before sending anything to a server on real data only (real_test)."""
    from workbench.app.server_mode import check_replay_target

    await check_replay_target(client)
    summary = ReplaySummary(run_id=run_id or secrets.token_hex(3))
    bodies, stages = planned_requests(scenario, summary.run_id, limit)
    await send_requests(client, scenario, bodies, stages, summary, progress, concurrency)
    summary.out_of_credits = await credits_run_out(client, scenario)
    return summary


async def credits_run_out(client: ApiClient, scenario: Scenario) -> dict[str, float]:
    """The scenario's workspaces whose wallet on the server has no available credits (id -> credits);
    none from a server without wallets (404: an older server)."""
    spent: dict[str, float] = {}
    for workspace in scenario_workspaces(scenario):
        try:
            wallet = await client.wallet(workspace)
        except ApiError as exc:
            if exc.status == 404:
                return {}
            raise
        if float(wallet["availableCredits"]) <= 0:
            spent[workspace] = float(wallet["availableCredits"])
    return spent


async def send_requests(
    client: ApiClient,
    scenario: Scenario,
    bodies: list[dict[str, Any]],
    stages: np.ndarray,
    summary: ReplaySummary,
    progress: Progress | None = None,
    concurrency: int = 8,
) -> None:
    """Send ``bodies`` and their receipts, ``concurrency`` requests at a time (1: in arrival order, each
    request's receipts before the next request, so budgets are spent as the batch engine spends them)."""
    recorded = _recorded(scenario, summary.run_id) if scenario.replay_receipts else None
    total = len(bodies)
    if progress:
        progress(0, total)
    for start in range(0, total, concurrency):
        chunk = range(start, min(start + concurrency, total))
        await asyncio.gather(*(_one(client, bodies[i], stages[i], recorded, summary, i) for i in chunk))
        if progress:
            progress(chunk.stop, total)
