"""Reports: the ranking report, outcome frames per campaign / partner / category / region, and the KPIs.

KPIs follow spec/api.md ("Dashboard and audit"), computed over the simulated receipts:
- qualified_recommendation_rate = distinct intents with at least one presented sponsored offer
  ÷ distinct evaluated intents (per campaign or partner: ÷ the intents where it was a candidate);
- detail_view_rate = viewed ÷ presented; handoff_rate = interacted ÷ viewed;
  action_conversion_rate = conversions ÷ interacted;
- disclosure_shown_rate = presented receipts whose campaign had a disclosure ÷ presented receipts;
- fill_rate = sponsored slots filled ÷ sponsored slots requested (per campaign or partner: the slots it
  filled ÷ the slots requested by the intents where it was a candidate);
- mean_relevance_shown / mean_utility_shown: over presented slots.
A rate with a zero denominator is 0, and every rate is clipped to [0, 1] (the dashboard's ``rate``).

Per category and per region use the *request's* category and geo codes (a request naming two
regions counts in both; one naming none is in region "(any)").

Counts per frame: ``opportunities`` = evaluated intents where the campaign / partner was a
candidate (spec §5: every campaign is a candidate with every prefiltered partner, whatever its
category), or the requests of that category / region; ``eligible`` = those where it (or, per
category and region, any candidate) passed every gate; ``slots_won``, ``presented``, ``viewed``,
``interacted``, ``conversions`` from the simulated receipts; ``spend`` = the amounts of the
settlements created (``settled_amount`` / ``failed_amount`` after the retry queue);
``budget_left`` = budget − spend before the run − spend (never below 0: a billable receipt that
does not fit the budget is refused, ``billing_refused``, as the server refuses it).

``Facts.__init__`` is long on purpose: it lays out the run's per-slot arrays once, each next to its meaning.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import polars as pl

from workbench.engine.limits import cap_ties, exhaustion
from workbench.engine.pipeline import RunResult
from workbench.engine.units import currency_of

C = pl.col
ANY_REGION = "(any)"
# Receipt-level (long) exports are written up to this many rows; above it only the grouped frames.
LONG_FRAME_LIMIT = 500_000

KPI_NAMES = (
    "qualified_recommendation_rate",
    "detail_view_rate",
    "handoff_rate",
    "action_conversion_rate",
    "disclosure_shown_rate",
    "fill_rate",
    "mean_relevance_shown",
    "mean_utility_shown",
)


def rate(num: str, den: str) -> pl.Expr:
    return pl.when(C(den) > 0).then((C(num) / C(den)).clip(0.0, 1.0)).otherwise(0.0)


def _mean(num: str, den: str) -> pl.Expr:
    return pl.when(C(den) > 0).then(C(num) / C(den)).otherwise(0.0)


def kpi_exprs() -> list[pl.Expr]:
    return [
        rate("presented_intents", "intents").alias("qualified_recommendation_rate"),
        rate("viewed", "presented").alias("detail_view_rate"),
        rate("interacted", "viewed").alias("handoff_rate"),
        rate("conversions", "interacted").alias("action_conversion_rate"),
        rate("presented_with_disclosure", "presented").alias("disclosure_shown_rate"),
        rate("slots_won", "slots_requested").alias("fill_rate"),
        _mean("relevance_shown", "presented").alias("mean_relevance_shown"),
        _mean("utility_shown", "presented").alias("mean_utility_shown"),
    ]


_ZERO_INT = (
    "slots_won",
    "presented",
    "viewed",
    "interacted",
    "conversions",
    "presented_with_disclosure",
    "presented_intents",
    "billable_events",
    "billing_refused",
    "settlements",
    "settled",
    "failed",
    "retries",
    "dead_letters",
)
_ZERO_FLOAT = ("relevance_shown", "utility_shown", "spend", "settled_amount", "failed_amount")


def _first_in_request(idx: np.ndarray, key: np.ndarray, mask: np.ndarray, max_slots: int) -> np.ndarray:
    """``mask`` rows that are the first of their (request, key) pair among the ``mask`` rows.

    Slots are in request order, at most ``max_slots`` per request, so an earlier row of the
    same request is at most ``max_slots - 1`` rows back.
    """
    first = mask.copy()
    for lag in range(1, max_slots):
        same = np.zeros(len(idx), dtype=bool)
        same[lag:] = (idx[lag:] == idx[:-lag]) & (key[lag:] == key[:-lag]) & mask[:-lag]
        first &= ~same
    return first


def facts_of(result: RunResult) -> Facts:
    """The run's ``Facts``, made once per run (kept on the run)."""
    facts = result.memo.get("facts")
    if facts is None:
        facts = result.memo["facts"] = Facts(result)
    return facts


class Facts:
    """Slot, settlement and request facts of one run as numpy columns, summed per breakdown key."""

    def __init__(self, result: RunResult) -> None:
        self.result = result
        # Tables derived from these facts alone (``run_tables``, segment breakdowns), kept once made: a
        # run does not change, and the lab compares every re-ranking with the same baseline.
        self.memo: dict[str, Any] = {}
        b, tr, m = result.batch, result.traffic, result.market
        self.n_sig = tr.signatures.height
        self.sig_of = tr.sig_of_request
        slots = result.simulation.slots
        self.idx = slots["idx"].to_numpy()
        self.sig = self.sig_of[self.idx]
        self.ci = slots["ci"].to_numpy()
        self.pi = slots["pi"].to_numpy()
        self.stage = slots["stage"].to_numpy()
        self.presented = self.stage >= 1
        self.billable = slots["billable"].to_numpy()
        self.refused = slots["budget_refused"].to_numpy()
        row = slots["row"].to_numpy()
        self.relevance = b.static["relevance"].to_numpy()[row]
        self.utility = b.static["utility"].to_numpy()[row]
        self.has_disclosure = m.campaigns["has_disclosure"].to_numpy()[self.ci]
        self.max_slots = max(1, tr.max_slots)
        sets = result.simulation.settlements
        self.s_idx = sets["idx"].to_numpy()
        self.s_ci = sets["ci"].to_numpy()
        self.s_pi = sets["pi"].to_numpy()
        self.s_sig = self.sig_of[self.s_idx]
        self.s_amount = sets["amount"].to_numpy()
        self.s_settled = (sets["status"] == "settled").to_numpy()
        self.s_failed = (sets["status"] == "failed").to_numpy()
        self.s_retries = sets["retries"].to_numpy().astype(np.float64)
        self.s_dead = sets["dead_letter"].to_numpy()
        self.unique_intents = tr.unique_intents
        self.intent_code = tr.requests["intent_code"].to_numpy()
        n_groups = b.shortlist.shape[0]
        counts = np.bincount(b.group_of_request, minlength=n_groups)
        group_counts = pl.DataFrame(
            {"group": np.arange(n_groups, dtype=np.int32), "requests": counts.astype(np.int64)}
        )
        # per (group, candidate): how many requests saw it, and whether it was eligible there
        self.candidates = (
            b.groups.select("group", "row", "sig", "eligible")
            .join(b.static.select("row", "ci", "pi", "slots"), on="row", how="left")
            .join(group_counts, on="group", how="left")
        )
        sigs = tr.signatures.select("sig", "r_category", "geo", "slots")
        self.signatures = sigs
        has_eligible = (
            b.groups.group_by("group")
            .agg(C("eligible").any().alias("has_eligible"))
            .join(group_counts, on="group")
            .join(b.groups.select("group", "sig").unique(), on="group")
        )
        self.sig_requests = (
            has_eligible.group_by("sig")
            .agg(
                C("requests").sum().alias("requests"),
                C("requests").filter(C("has_eligible")).sum().alias("requests_with_eligible"),
            )
            .join(sigs, on="sig", how="right")
            .with_columns(C("requests").fill_null(0), C("requests_with_eligible").fill_null(0))
            .with_columns(slots_requested=C("requests") * C("slots"))
        )
        self._per_signature: pl.DataFrame | None = None

    def sums(self, slot_key: np.ndarray, settlement_key: np.ndarray, n_keys: int, first: np.ndarray) -> dict:
        """Additive outcome columns per key (``first``: the presented slots that count a distinct intent)."""

        def count(mask=None, weights=None, where=slot_key):
            w = weights if mask is None else (mask if weights is None else weights * mask)
            return np.bincount(where, weights=w, minlength=n_keys)

        stage, p = self.stage, self.presented
        i64 = np.int64
        return {
            "slots_won": count().astype(i64),
            "presented": count(p).astype(i64),
            "viewed": count(stage >= 2).astype(i64),
            "interacted": count(stage >= 3).astype(i64),
            "conversions": count(stage >= 4).astype(i64),
            "presented_with_disclosure": count(p & self.has_disclosure).astype(i64),
            "presented_intents": count(first).astype(i64),
            "relevance_shown": count(p, self.relevance),
            "utility_shown": count(p, self.utility),
            "billable_events": count(self.billable).astype(i64),
            "billing_refused": count(self.refused).astype(i64),
            "spend": count(None, self.s_amount, settlement_key),
            "settled_amount": count(self.s_settled, self.s_amount, settlement_key),
            "failed_amount": count(self.s_failed, self.s_amount, settlement_key),
            "settlements": count(where=settlement_key).astype(i64),
            "settled": count(self.s_settled, where=settlement_key).astype(i64),
            "failed": count(self.s_failed, where=settlement_key).astype(i64),
            "retries": count(None, self.s_retries, settlement_key).astype(i64),
            "dead_letters": count(self.s_dead, where=settlement_key).astype(i64),
        }

    def per_signature(self) -> pl.DataFrame:
        if self._per_signature is None:
            # a request has one signature: its first presented slot counts its intent
            first = _first_in_request(
                self.idx, np.zeros(len(self.idx), dtype=np.int8), self.presented, self.max_slots
            )
            cols: dict[str, np.ndarray] = {"sig": np.arange(self.n_sig, dtype=np.int32)}
            cols.update(self.sums(self.sig, self.s_sig, self.n_sig, first))
            cols["intents"] = np.bincount(self.sig_of, minlength=self.n_sig).astype(np.int64)
            self._per_signature = pl.DataFrame(cols).join(
                self.sig_requests.select("sig", "requests", "requests_with_eligible", "slots_requested"),
                on="sig",
            )
        return self._per_signature

    def slot_frame(self) -> pl.DataFrame:
        """The slots with their intent codes (for exact distinct-intent counts of replayed logs)."""
        return pl.DataFrame(
            {"sig": self.sig, "intent_code": self.intent_code[self.idx], "presented": self.presented}
        )

    @property
    def requests(self) -> pl.DataFrame:
        return pl.DataFrame({"sig": self.sig_of, "intent_code": self.intent_code})


ORDER = (
    "opportunities",
    "intents",
    "eligible",
    "slots_requested",
    "slots_won",
    "presented",
    "viewed",
    "interacted",
    "conversions",
    "presented_with_disclosure",
    "presented_intents",
    "billable_events",
    "billing_refused",
    "spend",
    "settled_amount",
    "failed_amount",
    "settlements",
    "settled",
    "failed",
    "retries",
    "dead_letters",
    *KPI_NAMES,
)


def finish(frame: pl.DataFrame) -> pl.DataFrame:
    """Fill the missing counts with 0, add the KPIs, put the columns in the one standard order."""
    frame = frame.with_columns(
        [C(c).fill_null(0) for c in _ZERO_INT if c in frame.columns]
        + [C(c).fill_null(0.0) for c in _ZERO_FLOAT if c in frame.columns]
    )
    frame = frame.with_columns(kpi_exprs()).drop("relevance_shown", "utility_shown")
    head = [c for c in frame.columns if c not in ORDER]
    return frame.select(head + [c for c in ORDER if c in frame.columns])


def _entity_outcomes(f: Facts, key: str) -> pl.DataFrame:
    n_keys = f.result.market.campaigns.height if key == "ci" else f.result.market.partners.height
    slot_key, settlement_key = (f.ci, f.s_ci) if key == "ci" else (f.pi, f.s_pi)
    seen = (
        f.candidates.group_by("group", key)
        .agg(C("eligible").any(), C("requests").first(), C("slots").first())
        .group_by(key)
        .agg(
            C("requests").sum().alias("intents"),
            C("requests").filter(C("eligible")).sum().alias("eligible"),
            (C("requests") * C("slots")).sum().alias("slots_requested"),
        )
    )
    first = _first_in_request(f.idx, slot_key, f.presented, f.max_slots)
    cols = {key: np.arange(n_keys, dtype=np.int32)}
    cols.update(f.sums(slot_key, settlement_key, n_keys, first))
    return seen.join(pl.DataFrame(cols), on=key, how="right")


def campaign_outcomes(f: Facts) -> pl.DataFrame:
    m = f.result.market
    base = m.campaigns.select(
        "ci",
        "campaign_id",
        "advertiser",
        "c_category",
        "billing_model",
        "currency",
        "payout",
        "budget",
        "spend0",
    )
    frame = base.join(_entity_outcomes(f, "ci"), on="ci", how="left").with_columns(
        C("intents").fill_null(0), C("eligible").fill_null(0), C("slots_requested").fill_null(0)
    )
    frame = (
        finish(frame)
        .with_columns(
            budget_left=C("budget") - C("spend0") - C("spend"),
        )
        .rename({"c_category": "category", "intents": "opportunities", "spend0": "spend_before"})
    )
    ran_out = (
        exhaustion(f.result)
        .filter(C("kind") == "budget")
        .select(
            C("id").alias("campaign_id"),
            C("request_no").alias("budget_exhausted_at_request"),
            C("at").alias("budget_exhausted_at"),
            C("intent_id").alias("budget_exhausted_at_intent"),
        )
    )
    return frame.join(ran_out, on="campaign_id", how="left").sort("ci").drop("ci")


def partner_outcomes(f: Facts) -> pl.DataFrame:
    m = f.result.market
    base = m.partners.select("pi", "partner_id", "provider_org", "governed_trust")
    frame = base.join(_entity_outcomes(f, "pi"), on="pi", how="left").with_columns(
        C("intents").fill_null(0), C("eligible").fill_null(0), C("slots_requested").fill_null(0)
    )
    return finish(frame).rename({"intents": "opportunities"}).sort("pi").drop("pi")


def overall_kpis(f: Facts) -> dict[str, Any]:
    r = f.result
    base = f.per_signature().select(pl.all().exclude("sig").sum())
    intents = r.traffic.size
    if not f.unique_intents:
        intents = int(np.unique(f.intent_code).size)
        presented_intents = int(np.unique(f.intent_code[f.idx[f.presented]]).size)
        base = base.with_columns(presented_intents=pl.lit(presented_intents, pl.Int64))
    row = finish(base.with_columns(intents=pl.lit(intents, pl.Int64))).row(0, named=True)
    closed = r.batch.epochs[-1]
    out: dict[str, Any] = {
        "requests": r.traffic.size,
        "distinct_intents": intents,
        "signatures": r.traffic.signatures.height,
        "epochs": len(r.batch.epochs),
        "requests_with_eligible": row["requests_with_eligible"],
        "slots_requested": row["slots_requested"],
        "shortlisted": row["slots_won"],
        "presented": row["presented"],
        "viewed": row["viewed"],
        "interacted": row["interacted"],
        "conversions": row["conversions"],
    }
    out.update({name: row[name] for name in KPI_NAMES})
    out.update(
        spend=row["spend"],
        settled_amount=row["settled_amount"],
        failed_amount=row["failed_amount"],
        billing_refused=row["billing_refused"],
        settlements=row["settlements"],
        settled=row["settled"],
        failed=row["failed"],
        retries=row["retries"],
        dead_letters=row["dead_letters"],
        campaigns_out_of_budget=len(closed["budget_closed"]),
        workspaces_out_of_credits=len(closed["credits_closed"]),
    )
    out["currency"] = currency_of(r.market.campaigns["currency"].to_list())
    ran_out = exhaustion(r)
    last = ran_out["request_no"].max() if ran_out.height else None
    out["last_exhausted_at_request"] = (
        None if last is None else int(cast(int, last))
    )  # request_no is an integer column
    ties = cap_ties(r)
    out.update(
        weight_sum=ties.weight_sum, slots_at_priority_cap=ties.at_cap, slots_tied_at_priority_cap=ties.tied
    )
    return out
