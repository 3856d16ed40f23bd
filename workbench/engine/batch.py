"""The batch engine: the server's ranking over many requests at once, with polars expressions.

One formula, two execution paths. The factors and scores come from
``server.domain.ranking`` (``category_factor`` … ``priority_score``) called with
``POLARS``, an ``Ops`` whose ``where`` is ``pl.when`` and whose ``clamp`` is
``clip``; nothing of the formula is restated here. Entity-level rules (governed
trust, freshness age, policy, disclosure, prefilter) are evaluated once per
entity or pair with the server's functions (``workbench.engine.market``).

Deduplication. A request's ranking depends only on its signature (category,
task type, geo set, disclosure, floors, slots; ``workbench.engine.traffic``) and on
which campaigns are out of budget and which workspaces out of credits. The
engine scores every signature × candidate pair once (the *static* frame), then
ranks each signature once per *epoch* (a stretch of requests during which no
budget or credit gate changes). A million requests therefore cost their
distinct signatures × epochs, plus a few integer array operations per request.

Budget semantics (exactly what the per-request comparison test replays):
- Requests are evaluated in arrival order. When request t is ranked, campaign
  c's committed spend is ``spend0_c + n_c(t) × payout_c`` where ``n_c(t)`` is the
  number of c's settlements among the shortlist slots of requests before t,
  and the budget gate is the server's ``budget_ok`` on that spend. A campaign
  that wins several slots in one request (with different partners) is billed
  once for them: the server keeps at most one settlement per (intent, offer,
  event), so its first slot (in position order) whose receipt reaches the
  billable event creates the settlement and the others share it
  (``first_bill_per_campaign``).
- A slot's billable event is the scenario's CPQR billable event for CPQR
  campaigns (``offer.shortlisted``: every slot; ``offer.presented``: the slots
  the funnel presents) and ``conversion.attributed`` for CPA campaigns. The
  funnel outcome of slot k of request t is fixed before ranking from one
  seeded uniform per (request, position) (``simulate.funnel_stages``), so
  billing can feed back into later rankings without a Python loop.
- A settlement counts against the budget from its creation; a settlement that
  later fails (``[billing]``) does not give its amount back within the run.
- As in the server (``SqlSettlements.bill``), a billable receipt whose amount would
  take committed spend past the budget creates no settlement (billing reason
  ``budget_exhausted``): when a campaign wins more slots of one request than its
  budget has room for, the slots beyond the room are shown but not billed
  (``simulate`` marks them ``budget_refused``). Spend never exceeds a budget.
- Workspace credits (only for workspaces listed in ``entities.credits``):
  receipts consume credits (presented 2, viewed 3, interacted 5, conversion 10,
  the server's ``CREDIT_COSTS``) and ``credits_ok`` is "credits left > 0" before
  the request.
Because spend only grows, a gate can only close. The engine processes requests
in arrival-ordered chunks under the current set of closed gates; when a chunk's
cumulative billable counts show a gate closing, it finds the first request that
sees it closed, accepts everything before, closes the gate and starts a new
epoch there. There are at most (campaigns + workspaces + 1) epochs.

The module (~440 lines) is the two halves of one algorithm, the static frame and the epoch loop over
it, which share their column sets and row order; the budget arithmetic and the prices are apart
(``budgets``, ``pricing``). ``run_batch`` is that loop in one function on purpose (its chunk, its closing gates and its
epoch boundaries share a dozen running arrays); ``static_frame`` is one lazy polars query.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from server.domain.gates import STATIC_GATES, budget_gate, credits_gate, static_gates
from server.domain.pricing import enters_auction
from server.domain.ranking import (
    affective_fit_score,
    bid_norm,
    category_factor,
    freshness_factor,
    priority_score,
    region_factor,
    relevance_score,
    targeting_factor,
    task_factor,
    trust_score,
    utility_score,
)
from server.domain.ranking_config import RankingConfig
from server.domain.receipts import CREDIT_COSTS
from workbench.engine.budgets import budget_closed_one, budget_room, first_bill_per_campaign
from workbench.engine.market import MarketTables
from workbench.engine.polars_ops import POLARS
from workbench.engine.pricing import FIXED, with_prices
from workbench.engine.scenario import PricingSpec
from workbench.engine.traffic import Traffic

Progress = Callable[[int, int], None]

# Credits consumed by a slot that reached funnel stage s (0 shortlisted … 4 converted), cumulative.
_STAGE_EVENTS = (
    "offer.shortlisted",
    "offer.presented",
    "owner.viewed",
    "owner.interacted",
    "conversion.attributed",
)
CREDITS_BY_STAGE = np.cumsum([CREDIT_COSTS[e] for e in _STAGE_EVENTS]).astype(np.float64)

MIN_CHUNK = 4_096
MAX_CHUNK = 262_144


C = pl.col
# A candidate's factors and scores as the static frame holds them (and every candidate table shows them).
FACTOR_COLUMNS = (
    "cat",
    "task",
    "region",
    "targeting",
    "freshness",
    "governed_trust",
    "relevance",
    "utility",
    "trust",
    "affective_fit",
)


def static_frame(cfg: RankingConfig, market: MarketTables, signatures: pl.DataFrame) -> pl.DataFrame:
    """Every signature × candidate (campaign-major, prefiltered partners) with factors, scores and static gates.

    ``row`` is the frame's own index; ``cand_order`` the enumeration order within a signature.
    """
    ops = POLARS
    prefilter = market.prefilter(signatures["r_category"].unique(maintain_order=True).to_list())
    n_partners = max(1, len(market.source_partners))
    sig_campaign = (
        signatures.lazy()
        .join(market.campaigns.lazy(), how="cross")
        .with_columns(
            cat=category_factor(cfg, ops, C("c_category") == C("r_category")),
            task=task_factor(cfg, ops, C("intended_for").list.contains(C("task_type"))),
            region=region_factor(
                cfg,
                ops,
                (C("geo").list.len() == 0) | (C("geo").list.set_intersection(C("regions")).list.len() > 0),
            ),
            freshness=freshness_factor(cfg, ops, C("age_days")),
        )
        .drop("intended_for", "regions", "geo")
    )
    frame = (
        sig_campaign.join(prefilter.lazy(), on="r_category")
        .join(market.pairs.lazy(), on=["ci", "pi"])
        .join(market.partners.lazy().select("pi", "partner_id", "governed_trust"), on="pi")
        .with_columns(targeting=targeting_factor(cfg, ops, C("targeting_match")))
        .with_columns(
            trust=trust_score(cfg, ops, C("governed_trust"), C("freshness")),
            relevance=relevance_score(cfg, ops, C("cat"), C("task"), C("region"), C("targeting")),
            affective_fit=affective_fit_score(cfg, ops, C("variant_count"), C("task")),
        )
        .with_columns(utility=utility_score(cfg, ops, C("relevance"), C("region"), C("freshness"), C("task")))
        .with_columns(
            **{
                f"gate_{gate}": passed
                for gate, passed in static_gates(
                    ops,
                    policy=C("policy_ok"),
                    disclosure_required=C("disclosure_required"),
                    disclosure_ready=C("disclosure_ready"),
                    relevance=C("relevance"),
                    relevance_floor=C("relevance_floor"),
                    utility=C("utility"),
                    utility_floor=C("utility_floor"),
                    trust=C("trust"),
                    governed_trust=C("governed_trust"),
                    min_trust=C("min_trust"),
                ).items()
            },
            cand_order=C("ci").cast(pl.Int64) * n_partners + C("pi"),
        )
        .with_columns(static_ok=pl.all_horizontal([f"gate_{gate}" for gate in STATIC_GATES]))
        .select(
            "sig",
            "ci",
            "pi",
            "wi",
            "cand_order",
            "campaign_id",
            "partner_id",
            "payout",
            "slots",
            *FACTOR_COLUMNS,
            *[f"gate_{gate}" for gate in STATIC_GATES],
            "static_ok",
        )
        .sort("sig", "cand_order")
        .collect()
    )
    return frame.with_row_index("row")


EPOCH_COLUMNS = (
    "row",
    "sig",
    "cand_order",
    "payout",
    "relevance",
    "utility",
    "trust",
    "affective_fit",
    "static_ok",
    "slots",
)


def rank_epoch(
    cfg: RankingConfig,
    static: pl.DataFrame,
    budget_out: np.ndarray,
    credits_out: np.ndarray,
    pricing: PricingSpec = FIXED,
) -> pl.DataFrame:
    """Rank every signature under the given closed gates: eligibility, bid_norm, priority, rank, price.

    The order is the server's: priority descending, ties in enumeration order (``cand_order``),
    made explicit in the sort rather than left to a stable-sort promise. Under an auction pricing rule a
    candidate whose payout is below the reserve is not eligible (``server.domain.pricing``).
    """
    ops = POLARS
    eligible = (
        C("static_ok")
        & C("gate_budget")
        & C("gate_credits")
        & enters_auction(pricing.rule, C("payout"), pricing.reserve)
    )
    frame = static.select(EPOCH_COLUMNS).with_columns(
        gate_budget=pl.Series(~budget_out[static["ci"].to_numpy()]),
        gate_credits=pl.Series(~credits_out[static["wi"].to_numpy()]),
    )
    ranked = (
        frame.lazy()
        .with_columns(eligible=eligible)
        # max(1, max bid among the eligible of this request)
        .with_columns(
            max_bid=pl.max_horizontal(pl.lit(1.0), C("payout").filter(C("eligible")).max().over("sig"))
        )
        .with_columns(bid_norm=pl.when(C("eligible")).then(bid_norm(ops, C("payout"), C("max_bid"))))
        .with_columns(
            priority_score=priority_score(
                cfg, ops, C("relevance"), C("utility"), C("trust"), C("affective_fit"), C("bid_norm")
            )
        )
        .sort(
            "sig",
            "eligible",
            "priority_score",
            "cand_order",
            descending=[False, True, True, False],
            nulls_last=True,
        )
        .with_columns(
            rank=pl.when(C("eligible")).then(pl.int_range(1, pl.len() + 1).over("sig")).cast(pl.Int32)
        )
        .with_columns(shortlisted=C("eligible") & (C("rank") <= C("slots")))
    )
    if pricing.rule == "second_price":  # needs the ranked order in numpy (``pricing.with_prices``)
        priced = with_prices(ranked.collect(), cfg, pricing).lazy()
    else:  # the payout: one lazy query, as before there were pricing rules
        priced = ranked.with_columns(price=pl.when(C("eligible")).then(C("payout")))
    return (
        priced.sort("row")
        .select(
            "row",
            "sig",
            "gate_budget",
            "gate_credits",
            "eligible",
            "bid_norm",
            "priority_score",
            "rank",
            "shortlisted",
            "price",
        )
        .collect()
    )


@dataclass
class BatchResult:
    """Where every request went: its group (epoch × signature) and that group's ranked candidates."""

    static: pl.DataFrame  # signature × candidate: factors, scores, static gates
    groups: pl.DataFrame  # group × candidate: row (into static), group, epoch, dynamic gates, priority, rank
    group_of_request: np.ndarray  # int32 per request
    shortlist: np.ndarray  # int64 (groups × max_slots): index into ``groups`` or -1
    epochs: list[dict] = field(default_factory=list)  # start request, campaigns / workspaces closed there
    committed_spend: np.ndarray | None = None  # per campaign at the end
    credits_used: np.ndarray | None = None  # per workspace at the end


def run_batch(
    cfg: RankingConfig,
    market: MarketTables,
    traffic: Traffic,
    stages: np.ndarray,
    progress: Progress | None = None,
    pricing: PricingSpec = FIXED,
) -> BatchResult:
    """Rank every request in arrival order, spending budgets and credits as it goes (module docstring)."""
    static = static_frame(cfg, market, traffic.signatures)
    n, n_sig = traffic.size, traffic.signatures.height
    max_slots = stages.shape[1]
    sig_of = traffic.sig_of_request
    n_c, n_w = len(market.payout), len(market.credits0)
    billed = np.zeros(n_c, dtype=np.int64)
    # Under the second price a settlement's amount is its slot's price (``spent``); otherwise the
    # payout, and committed spend is ``spend0 + count × payout`` exactly as the server sums it.
    priced = pricing.rule == "second_price"
    spent = np.zeros(n_c, dtype=np.float64)
    used = np.zeros(n_w, dtype=np.float64)
    spend0, payout, budget = market.spend0, market.payout, market.budget
    credits0 = market.credits0
    need = market.billable_stage.astype(np.int16)

    def budget_closed(count: np.ndarray, amount: np.ndarray) -> np.ndarray:
        """The budget gate at committed = spend0 + count × payout (or + amount, when priced)."""
        return ~budget_gate(spend0 + (amount if priced else count * payout), payout, budget)

    def credits_closed(spent: np.ndarray) -> np.ndarray:
        return ~credits_gate(credits0 - spent)

    budget_out, credits_out = budget_closed(billed, spent), credits_closed(used)
    group_of_request = np.empty(n, dtype=np.int32)
    group_frames: list[pl.DataFrame] = []
    shortlists: list[np.ndarray] = []
    epochs: list[dict] = []
    n_groups = groups_height = 0
    start = 0
    sig_col = static["sig"].to_numpy()
    sig_start = np.searchsorted(sig_col, np.arange(n_sig))
    sig_count = np.bincount(sig_col, minlength=n_sig)
    # One padding entry at the end: an empty slot (-1) reads it, so indexing never needs a branch.
    row_ci = np.append(static["ci"].to_numpy(), 0)
    row_wi = np.append(static["wi"].to_numpy(), 0)
    while True:
        ranked = rank_epoch(cfg, static, budget_out, credits_out, pricing)
        row_price = np.append(ranked["price"].fill_null(0.0).to_numpy(), 0.0)  # ``ranked`` is in row order
        sl_rows = ranked.filter(C("shortlisted")).select("sig", "rank", "row")
        sl = np.full((n_sig, max_slots), -1, dtype=np.int64)
        sl[sl_rows["sig"].to_numpy(), sl_rows["rank"].to_numpy() - 1] = sl_rows["row"].to_numpy()
        epochs.append(
            {
                "start": start,
                "budget_closed": np.flatnonzero(budget_out).tolist(),
                "credits_closed": np.flatnonzero(credits_out).tolist(),
            }
        )
        t, chunk, stop = start, MIN_CHUNK, None
        while t < n and stop is None:
            end = min(n, t + chunk)
            cand = sl[sig_of[t:end]]
            valid = cand >= 0
            cidx = row_ci[cand]
            st = stages[t:end]
            bill = first_bill_per_campaign(valid & (st >= need[cidx]), cidx)
            cost = np.where(valid, CREDITS_BY_STAGE[st], 0.0)
            widx = row_wi[cand]
            tot_c = np.bincount(cidx[bill], minlength=n_c)
            amt = np.where(bill, row_price[cand], 0.0) if priced else None
            tot_a = np.bincount(cidx[bill], weights=amt[bill], minlength=n_c) if amt is not None else spent
            tot_w = np.bincount(widx[valid], weights=cost[valid], minlength=n_w) if n_w else used
            closes_c = budget_closed(billed + tot_c, spent + tot_a) & ~budget_out
            closes_w = credits_closed(used + tot_w) & ~credits_out if n_w else np.zeros(0, bool)
            if not closes_c.any() and not closes_w.any():
                billed += tot_c
                if priced:
                    spent += tot_a
                used += tot_w
                t, chunk = end, min(MAX_CHUNK, chunk * 2)
                if progress:
                    progress(t, n)
                continue
            # The first request (relative index b in 1..k) that sees a gate closed.
            b = end - t
            for c in np.flatnonzero(closes_c):
                if amt is not None:
                    per_amt = np.where(cidx == c, amt, 0.0).sum(axis=1).cumsum()
                    first = np.flatnonzero(~budget_gate(spend0[c] + spent[c] + per_amt, payout[c], budget[c]))
                else:
                    per_req = (bill & (cidx == c)).sum(axis=1).cumsum()
                    first = np.flatnonzero(
                        budget_closed_one(spend0[c], payout[c], budget[c], billed[c] + per_req)
                    )
                b = min(b, int(first[0]) + 1)
            for w in np.flatnonzero(closes_w):
                per_req = np.where(valid & (widx == w), cost, 0.0).sum(axis=1).cumsum()
                first = np.flatnonzero(~credits_gate(credits0[w] - (used[w] + per_req)))
                b = min(b, int(first[0]) + 1)
            billed += np.bincount(cidx[:b][bill[:b]], minlength=n_c)
            if amt is not None:
                spent += np.bincount(cidx[:b][bill[:b]], weights=amt[:b][bill[:b]], minlength=n_c)
            used += (
                np.bincount(widx[:b][valid[:b]], weights=cost[:b][valid[:b]], minlength=n_w) if n_w else 0.0
            )
            t = stop = t + b
        stop = n if stop is None else stop
        # Keep the groups (signatures) this epoch's requests used; a group's rows are its
        # signature's rows of ``static`` (contiguous, same order), so shortlist rows map by offset.
        used_sigs = np.flatnonzero(np.bincount(sig_of[start:stop], minlength=n_sig)).astype(np.int32)
        sig_to_group = np.full(n_sig, -1, dtype=np.int32)
        sig_to_group[used_sigs] = np.arange(n_groups, n_groups + len(used_sigs), dtype=np.int32)
        group_of_request[start:stop] = sig_to_group[sig_of[start:stop]]
        frame = ranked.filter(pl.Series(np.isin(ranked["sig"].to_numpy(), used_sigs)))
        frame = frame.with_columns(
            group=pl.Series(sig_to_group[frame["sig"].to_numpy()]),
            epoch=pl.lit(len(epochs) - 1, pl.Int32),
        )
        group_start = groups_height + np.concatenate([[0], np.cumsum(sig_count[used_sigs])[:-1]])
        sl_e = sl[used_sigs]
        shortlists.append(
            np.where(sl_e >= 0, group_start[:, None] + (sl_e - sig_start[used_sigs][:, None]), -1)
        )
        group_frames.append(frame)
        groups_height += frame.height
        n_groups += len(used_sigs)
        if stop >= n:
            break
        start = stop
        budget_out |= budget_closed(billed, spent)
        if n_w:
            credits_out |= credits_closed(used)
    groups = pl.concat(group_frames)
    shortlist = np.concatenate(shortlists) if shortlists else np.full((0, max_slots), -1, dtype=np.int64)
    if progress:
        progress(n, n)
    return BatchResult(
        static=static,
        groups=groups,
        group_of_request=group_of_request,
        shortlist=shortlist,
        epochs=epochs,
        # a slot past the budget is refused its settlement (``simulate``), so spend stops at the budget
        committed_spend=(
            spend0 + spent
            if priced
            else spend0 + np.minimum(billed, budget_room(spend0, payout, budget)) * payout
        ),
        credits_used=used,
    )
