"""Where a run meets a limit: the priority score's 1.0 cap, and budgets and credit balances running out.

Both change what the KPIs mean without changing how they look, so the engine
computes them for every run and the lab, the reports and the command line show
them (no Textual here).

The cap. ``priority_score`` is clamped to [0, 1]. When the weights sum to more
than 1, strong candidates reach 1.0 before the clamp and then tie; the server's
stable sort orders tied candidates by enumeration (creation) order, so the
shortlist among them says nothing about their scores. ``cap_ties`` counts the
shortlisted slots at the cap and those that tie there with another eligible
candidate of the same request.

Running out. Budgets and balances are spent in arrival order (``engine``); a
gate that closes stays closed, so from that request on the campaign (or every
campaign of the workspace) is out. ``exhaustion`` lists each campaign budget and
workspace balance that ran out, with the first request that found it closed
(its index and arrival time): after the last of them more traffic only lowers
the rates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from server.domain.ranking_config import RankingConfig, normalised_weights, weight_sum, weights_sum_to_one
from workbench.engine.pipeline import RunResult

C = pl.col
PRIORITY_CAP = 1.0


# ---------------------------------------------------------------------------
# The 1.0 cap
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class CapTies:
    """Shortlisted slots whose priority score reached the 1.0 cap, and those tied there."""

    weight_sum: float
    slots: int  # shortlisted slots of the run
    at_cap: int  # of which scored exactly 1.0 (clamped)
    tied: int  # of which shared the cap with another eligible candidate of the request

    @property
    def sums_to_one(self) -> bool:
        return abs(self.weight_sum - 1.0) <= 1e-6

    @property
    def tied_share(self) -> float:
        return self.tied / self.slots if self.slots else 0.0


def cap_ties(result: RunResult) -> CapTies:
    groups, slots = result.batch.groups, result.simulation.slots
    n_groups = result.batch.shortlist.shape[0]
    capped = groups.filter(C("eligible") & (C("priority_score") >= PRIORITY_CAP))
    per_group = np.bincount(capped["group"].to_numpy(), minlength=n_groups)
    grow = slots["grow"].to_numpy()
    at_cap = groups["priority_score"].to_numpy()[grow] >= PRIORITY_CAP
    tied = at_cap & (per_group[groups["group"].to_numpy()[grow]] >= 2)
    return CapTies(weight_sum(result.cfg.weights), slots.height, int(at_cap.sum()), int(tied.sum()))


def normalise(cfg: RankingConfig) -> RankingConfig:
    """``cfg`` with its weights scaled to sum to 1 (ValueError when they are all 0)."""
    return cfg if weights_sum_to_one(cfg.weights) else cfg.with_weights(**normalised_weights(cfg.weights))


# ---------------------------------------------------------------------------
# Budgets and credit balances that ran out
# ---------------------------------------------------------------------------

EXHAUSTION_SCHEMA = {
    "kind": pl.Enum(["budget", "credits"]),  # a campaign's budget or a workspace's credit balance
    "id": pl.String,  # campaign id or workspace id
    "request_no": pl.Int64,  # the first request (1-based, arrival order) that found it closed
    "intent_id": pl.String,
    "at": pl.Datetime("us", "UTC"),  # that request's arrival
    "after_seconds": pl.Float64,  # since the start of the traffic (the scenario's as_of)
    "share_of_traffic": pl.Float64,  # requests before it ÷ all requests
    "limit": pl.Float64,  # the budget (after the scenario's multiplier) or the starting credits
    "currency": pl.String,  # of a budget; "credits" for a balance
}


def exhaustion(result: RunResult) -> pl.DataFrame:
    """Every budget and credit balance that ran out, in the order they did (ties: budgets first, by id).

    From the engine's epochs: an epoch starts at the first request that sees a gate closed, and a
    gate never reopens, so the first epoch listing a campaign (workspace) as closed dates it. One
    closed before the first request (spend or credits used up before the day) has ``request_no`` 1.
    """
    m, tr, epochs = result.market, result.traffic, result.batch.epochs
    rows = pl.DataFrame(
        {
            "start": [e["start"] for e in epochs],
            "budget": [e["budget_closed"] for e in epochs],
            "credits": [e["credits_closed"] for e in epochs],
        },
        schema={"start": pl.Int64, "budget": pl.List(pl.Int64), "credits": pl.List(pl.Int64)},
    )
    campaigns = m.campaigns.select(
        C("ci").cast(pl.Int64).alias("index"),
        C("campaign_id").alias("id"),
        C("budget").alias("limit"),
        "currency",
    )
    workspaces = pl.DataFrame(
        {
            "index": list(range(len(m.workspaces))),
            "id": list(m.workspaces),
            "limit": m.credits0.tolist(),
            "currency": ["credits"] * len(m.workspaces),
        },
        schema={"index": pl.Int64, "id": pl.String, "limit": pl.Float64, "currency": pl.String},
    )
    first = [
        rows.select("start", kind)
        .explode(kind)
        .drop_nulls(kind)
        .group_by(kind)
        .agg(C("start").min())
        .rename({kind: "index"})
        .join(table, on="index")
        .with_columns(kind=pl.lit(kind))
        for kind, table in (("budget", campaigns), ("credits", workspaces))
    ]
    requests = tr.requests.select(C("idx").alias("start"), "intent_id", C("arrival_at").alias("at"))
    n, as_of = max(tr.size, 1), result.scenario.spec.as_of
    return (
        pl.concat(first)
        .join(requests, on="start", how="left")
        .with_columns(
            request_no=C("start") + 1,
            after_seconds=(C("at") - pl.lit(as_of)).dt.total_microseconds() / 1e6,
            share_of_traffic=C("start") / n,
        )
        .select(list(EXHAUSTION_SCHEMA))
        .cast(EXHAUSTION_SCHEMA)  # type: ignore[arg-type] - polars' stub wants DataType instances; classes work
        .sort("request_no", "kind", "id")
    )


def fmt_after(seconds: float) -> str:
    """``8 h 41 min``: how far into the traffic."""
    minutes = int(seconds // 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def exhaustion_summary(result: RunResult, table: pl.DataFrame | None = None) -> str:
    """One line: how many budgets and balances ran out and when the last did (why more traffic adds little)."""
    table = exhaustion(result) if table is None else table
    n_c, n_w = result.market.campaigns.height, len(result.market.workspaces)
    budgets = table.filter(C("kind") == "budget")
    credits = table.filter(C("kind") == "credits")
    if not table.height:
        return "No budget or credit balance ran out."
    parts = []
    if budgets.height:
        parts.append(f"{budgets.height} of {n_c} budget{'s' if n_c != 1 else ''} ran out")
    if credits.height:
        parts.append(f"{credits.height} of {n_w} credit balance{'s' if n_w != 1 else ''} ran out")
    last = table.row(-1, named=True)
    return (
        f"{' and '.join(parts)}; the last ({last['id']}) at request {last['request_no']:,} of "
        f"{result.traffic.size:,}, {last['at']:%H:%M:%S} ({fmt_after(last['after_seconds'])} in)."
    )
