"""The ranking report: every request of a run in arrival order with its shortlist, one row per slot and
every score (the ``ranking_report`` export and the lab's shortlist sample). ``ranking_report`` is one
function on purpose: each column is one gather by the same row arithmetic, listed in export order."""

from __future__ import annotations

import numpy as np
import polars as pl

from workbench.engine.pipeline import RunResult
from workbench.engine.simulate import STAGES as STAGE_NAMES


def enum_series(values: list[str]) -> pl.Series:
    """A string column as an Enum of its distinct values (cheap to gather, dictionary-encoded in Parquet)."""
    return pl.Series(values, dtype=pl.Enum(list(dict.fromkeys(values))))


def ranking_report(result: RunResult) -> pl.DataFrame:
    """Every request (arrival order) with its shortlist, one row per slot and every score.

    A request with an empty shortlist has one row with ``position`` null. Built with
    index arithmetic rather than joins: slots are already in (request, position) order,
    so each column is one gather from a small table (signatures, candidates, campaigns).
    """
    b, m, tr = result.batch, result.market, result.traffic
    slots, sets = result.simulation.slots, result.simulation.settlements
    n, n_slots = tr.size, slots.height
    per_request = np.bincount(slots["idx"].to_numpy(), minlength=n)
    req_of_row = np.repeat(np.arange(n), np.maximum(per_request, 1))
    has_slot = per_request[req_of_row] > 0
    slot_of_row = np.zeros(len(req_of_row), dtype=np.int64)
    slot_of_row[has_slot] = np.arange(n_slots)

    status = np.zeros(n_slots, dtype=np.int64)  # 0: no settlement, 1 settled, 2 failed, 3 refused (budget)
    status[np.flatnonzero(slots["billable"].to_numpy())] = np.where(
        (sets["status"] == "settled").to_numpy(), 1, 2
    )
    status[slots["budget_refused"].to_numpy()] = 3
    present = pl.Series(has_slot)

    def at_slot(values: np.ndarray) -> pl.Series:
        """A per-slot integer column spread to the report's rows (null where a request has no slot)."""
        return pl.select(pl.when(present).then(pl.Series(values[slot_of_row]))).to_series()

    static_rows = at_slot(slots["row"].to_numpy().astype(np.int64))
    group_rows = at_slot(slots["grow"].to_numpy())
    ci = at_slot(slots["ci"].to_numpy().astype(np.int64))
    campaigns = pl.DataFrame(
        {
            "campaign_id": enum_series(m.campaigns["campaign_id"].to_list()),
            "offer_id": m.campaigns["offer_id"].cast(pl.Categorical),
            "bid": m.campaigns["payout"],
        }
    )
    scores = b.static.select("relevance", "utility", "trust", "affective_fit", "governed_trust", "freshness")
    eligible = np.bincount(
        b.groups["group"].to_numpy(), weights=b.groups["eligible"].to_numpy(), minlength=b.shortlist.shape[0]
    ).astype(np.int64)
    sig = tr.sig_of_request[req_of_row]
    sigs = tr.signatures
    columns = [
        tr.requests["intent_id"].gather(req_of_row),
        tr.requests["arrival_at"].gather(req_of_row),
        enum_series(sigs["r_category"].to_list()).gather(sig).alias("category"),
        enum_series(sigs["task_type"].to_list()).gather(sig).alias("task_type"),
        enum_series(sigs["geo"].list.join("|").to_list()).gather(sig).alias("geo"),
        pl.Series("sponsored_slots", sigs["slots"].to_numpy()[sig]),
        pl.Series("total_candidates", np.full(len(req_of_row), m.total_candidates, dtype=np.int64)),
        pl.Series("eligible_candidates", eligible[b.group_of_request[req_of_row]]),
        at_slot(slots["position"].to_numpy()).alias("position"),
        campaigns["campaign_id"].gather(ci),
        enum_series(m.partners["partner_id"].to_list())
        .gather(at_slot(slots["pi"].to_numpy().astype(np.int64)))
        .alias("partner_id"),
        *campaigns.select(pl.col("offer_id", "bid").gather(ci)).get_columns(),
        *scores.select(pl.all().gather(static_rows)).get_columns(),
        *b.groups.select("bid_norm", "priority_score", "price")
        .select(pl.all().gather(group_rows))
        .get_columns(),
        enum_series(list(STAGE_NAMES))
        .gather(at_slot(slots["stage"].to_numpy().astype(np.int64)))
        .alias("funnel_stage"),
        pl.select(pl.when(present).then(pl.Series(slots["billable"].to_numpy()[slot_of_row])))
        .to_series()
        .alias("billable"),
        pl.Series(
            [None, "settled", "failed", "budget_refused"],
            dtype=pl.Enum(["settled", "failed", "budget_refused"]),
        )
        .gather(status[slot_of_row] * has_slot)
        .alias("settlement_status"),
    ]
    return pl.DataFrame(columns)
