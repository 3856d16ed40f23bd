"""A live run reconciled with the batch engine run on the same requests (``workbench live``).

Shortlists are compared request by request: the same campaigns with the same partners
in the same order, and every priority score within 1e-9. Settlements and dead-letter
entries are compared by status, live against simulated (the mock provider draws its
failures per submission from the scenario's rates, the batch per settlement from its
own generator: the counts agree in distribution, not one by one). Billable receipts
the server did not bill are compared by reason with the slots the batch refused.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from rich.console import Group
from rich.table import Table
from rich.text import Text

from workbench.app.live_run import LiveResult
from workbench.engine.pipeline import RunResult

Slot = tuple[str, str, float]  # campaign, partner, priority score
SCORE_TOLERANCE = 1e-9
SHOWN_MISMATCHES = 20


def batch_shortlists(result: RunResult, n: int) -> list[list[Slot]]:
    """The batch's shortlist of each of the first ``n`` requests, in position order."""
    slots = result.simulation.slots.filter(pl.col("idx") < n)
    cids = result.market.campaigns["campaign_id"].to_list()
    pids = result.market.partners["partner_id"].to_list()
    priority = result.batch.groups["priority_score"].to_numpy()
    out: list[list[Slot]] = [[] for _ in range(n)]
    for idx, ci, pi, grow in zip(*(slots[c].to_list() for c in ("idx", "ci", "pi", "grow")), strict=True):
        out[idx].append((cids[ci], pids[pi], float(priority[grow])))
    return out


def same_shortlist(live: list[Slot], batch: list[Slot]) -> bool:
    return [s[:2] for s in live] == [s[:2] for s in batch] and all(
        math.isclose(a[2], b[2], rel_tol=0.0, abs_tol=SCORE_TOLERANCE)
        for a, b in zip(live, batch, strict=True)
    )


def _counts(values: Any) -> dict[str, int]:
    return dict(sorted(Counter(values).items()))


@dataclass
class Reconciliation:
    scenario: str
    requests: int
    mismatches: list[dict[str, Any]]  # every mismatch (the output shows the first ``SHOWN_MISMATCHES``)
    slots: dict[str, int]
    settlements: dict[str, dict[str, int]]
    dlq_entries: dict[str, dict[str, int]]
    not_billed: dict[str, dict[str, int]]
    credits_ran_out: list[dict[str, Any]]
    drained: bool
    server: dict[str, Any]
    billing: dict[str, Any]
    seconds: dict[str, float]
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches and self.drained

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "requests": self.requests,
            "shortlistMismatches": len(self.mismatches),
            "mismatches": self.mismatches[:SHOWN_MISMATCHES],
            "slots": self.slots,
            "settlements": self.settlements,
            "dlqEntries": self.dlq_entries,
            "notBilled": self.not_billed,
            "creditsRanOut": self.credits_ran_out,
            "queueDrained": self.drained,
            "server": self.server,
            "billing": self.billing,
            "seconds": {k: round(v, 1) for k, v in self.seconds.items()},
            "notes": self.notes,
        }


def reconcile(live: LiveResult) -> Reconciliation:
    n, batch, summary = live.requests, live.batch, live.summary
    expected = batch_shortlists(batch, n)
    answered = summary.shortlists or {}
    intents = batch.traffic.requests["intent_id"].head(n).to_list()
    mismatches = []
    for i in range(n):
        got = answered.get(i)
        if got is None or not same_shortlist(got, expected[i]):
            mismatches.append(
                {
                    "request": i + 1,
                    "intentId": intents[i],
                    "live": None if got is None else [list(s) for s in got],
                    "batch": [list(s) for s in expected[i]],
                }
            )
    sim = batch.simulation
    settled = sim.settlements.filter(pl.col("idx") < n)
    refused = int(sim.slots.filter(pl.col("idx") < n)["budget_refused"].sum())
    credits = _credits_ran_out(batch, n)
    result = Reconciliation(
        scenario=live.scenario.name,
        requests=n,
        mismatches=mismatches,
        slots={"live": sum(len(s) for s in answered.values()), "batch": sum(len(s) for s in expected)},
        settlements={
            "live": _counts(s["status"] for s in live.settlements),
            "batch": _counts(settled["status"].cast(pl.String).to_list()),
        },
        dlq_entries={
            "live": _counts(d["status"] for d in live.dead_letters),
            "batch": {"open": dead} if (dead := int(settled["dead_letter"].sum())) else {},
        },
        not_billed={
            "live": dict(summary.not_billed),
            "batch": {"budget_exhausted": refused} if refused else {},
        },
        credits_ran_out=credits,
        drained=live.drained,
        server={k: live.server_config.get(k) for k in ("source", "weights", "floors", "clock")},
        billing={
            "retryableRate": live.scenario.spec.billing.retryable_failure_rate,
            "terminalRate": live.scenario.spec.billing.terminal_failure_rate,
            "seed": live.scenario.spec.seed,
        },
        seconds=live.seconds,
    )
    result.notes = _notes(result, summary)
    return result


def _credits_ran_out(batch: RunResult, n: int) -> list[dict[str, Any]]:
    """Workspaces whose credits the batch saw run out within the first ``n`` requests (1-based request)."""
    out, seen = [], set()
    for epoch in batch.batch.epochs:
        for w in epoch["credits_closed"]:
            if w not in seen and epoch["start"] < n:
                seen.add(w)
                out.append({"workspaceId": batch.market.workspaces[w], "fromRequest": epoch["start"] + 1})
    return out


def _notes(r: Reconciliation, summary: Any) -> list[str]:
    notes = []
    if summary.refused:
        notes.append(
            f"the server refused {summary.refused:,} requests or receipts, e.g. {summary.problems[0]}"
        )
    if not r.drained:
        notes.append("the settlement queue did not drain: some settlements are still open")
    if r.mismatches and r.credits_ran_out:
        first = min(c["fromRequest"] for c in r.credits_ran_out)
        before = sum(1 for m in r.mismatches if m["request"] < first)
        names = ", ".join(c["workspaceId"] for c in r.credits_ran_out)
        notes.append(
            f"workspace credits ran out in the batch ({names}, from request {first:,}): a server that does "
            f"not meter them (no wallet) keeps ranking those campaigns. {before:,} of the "
            f"{len(r.mismatches):,} mismatches come before request {first:,}"
        )
    return notes


def _status_table(title: str, live: dict[str, int], batch: dict[str, int]) -> Group:
    table = Table(header_style="bold")
    for col in ("status", "live", "batch"):
        table.add_column(col, justify="left" if col == "status" else "right", no_wrap=True)
    for status in sorted(set(live) | set(batch)):
        table.add_row(status, f"{live.get(status, 0):,}", f"{batch.get(status, 0):,}")
    if not live and not batch:
        table.add_row("(none)", "0", "0")
    table.add_row(Text("total", style="bold"), f"{sum(live.values()):,}", f"{sum(batch.values()):,}")
    return Group(Text(title, style="bold"), table)  # a title above the table, never wrapped to its width


def _slots(slots: list[list[Any]] | None) -> str:
    if slots is None:
        return "(no answer)"
    return ", ".join(f"{c}/{p} {s:.6f}" for c, p, s in slots) or "(empty)"


def render(r: Reconciliation) -> Group:
    clock = r.server.get("clock")
    head = Text(
        f"{r.scenario}: {r.requests:,} requests on a private server ({clock}; mock billing failing "
        f"{100 * r.billing['retryableRate']:g}% retryable, {100 * r.billing['terminalRate']:g}% terminal), "
        f"replayed in {r.seconds.get('replay', 0):.0f} s, settled in {r.seconds.get('settle', 0):.0f} s"
    )
    verdict = Text(
        f"shortlists: {r.requests:,} compared with the batch engine, {len(r.mismatches):,} mismatches "
        f"({r.slots['live']:,} slots live, {r.slots['batch']:,} in the batch)",
        style="green" if not r.mismatches else "red bold",
    )
    parts: list[Any] = [head, verdict]
    for m in r.mismatches[:SHOWN_MISMATCHES]:
        parts.append(
            Text(
                f"  request {m['request']:,} ({m['intentId']}):\n    live  {_slots(m['live'])}\n"
                f"    batch {_slots(m['batch'])}"
            )
        )
    if len(r.mismatches) > SHOWN_MISMATCHES:
        parts.append(Text(f"  … and {len(r.mismatches) - SHOWN_MISMATCHES:,} more"))
    parts.append(_status_table("settlements by status", r.settlements["live"], r.settlements["batch"]))
    parts.append(_status_table("dead letters (DLQ) by status", r.dlq_entries["live"], r.dlq_entries["batch"]))
    if r.not_billed["live"] or r.not_billed["batch"]:
        parts.append(
            _status_table(
                "billable receipts not billed, by reason", r.not_billed["live"], r.not_billed["batch"]
            )
        )
    parts += [Text(f"note: {note}", style="yellow") for note in r.notes]
    return Group(*parts)
