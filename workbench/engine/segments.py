"""Outcomes by a segment of the traffic: category, region, partner and task type.

Request attributes (category, task type, region) are summed per traffic signature, so that a
million requests cost what their few hundred signatures cost.

Two region views, for two questions:
- ``region_outcomes`` (the run's ``outcomes_region``): per geo code; a request naming two regions
  counts under both, one naming none under ``(any)``. Its totals do not add up to the run's.
- the ``region`` segment (``segment_breakdown(…, "region")``, used by comparisons): the request's
  *set* of codes, sorted and joined with ``+`` (``EU+UK``), ``(any)`` for none. Every request is in
  exactly one region segment, so the totals add up.

A request names no partner (spec §5: every campaign is a candidate with every prefiltered partner),
so the ``partner`` segment is ``reports.partner_outcomes``: a slot belongs to the partner that carries
it, so slots won, presented, viewed, interacted, conversions, spend and settlements add up by
partner; ``opportunities``, ``eligible``, ``slots_requested`` and ``presented_intents`` (hence the
qualified-recommendation rate and the fill rate) count the requests where the partner was a
candidate, and a request has several, so those do not add up.

Category, region (the set) and task type add up in every count, spend included; the rates of a sum
are the rates recomputed from the summed counts. (A replayed log that repeats one intent id under two
categories counts that intent once in each: the only exception, for ``intents`` and
``presented_intents``.)
"""

from __future__ import annotations

import polars as pl

from workbench.engine.pipeline import RunResult
from workbench.engine.reports import ANY_REGION, ORDER, Facts, facts_of, finish, partner_outcomes

C = pl.col

BYS = ("category", "region", "partner", "task_type")
# A segment's columns: its value, then the outcome counts and KPIs in the standard order
# (``opportunities``: requests; ``intents``: distinct intent ids, fewer when a replayed log repeats one).
SEGMENT_COLUMNS = ORDER
# The columns that add up to the run's totals in every breakdown, partner included.
SLOT_ADDITIVE = (
    "slots_won",
    "presented",
    "viewed",
    "interacted",
    "conversions",
    "presented_with_disclosure",
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
)
# What adds up besides, in the request breakdowns (category, region, task type) only.
REQUEST_ADDITIVE = ("opportunities", "intents", "eligible", "slots_requested", "presented_intents")

NOTES = {
    "category": "category: the request's category; every request is in one, so the totals add up.",
    "region": (
        f"region: the request's set of geo codes (EU+UK for a request naming both, {ANY_REGION} for none); "
        "every request is in one, so the totals add up (the run's outcomes_region counts a request under "
        "each of its codes)."
    ),
    "partner": (
        "partner: the partner that carries the slot; slots, funnel counts and spend add up, while "
        "opportunities, eligible, slots requested, the qualified-recommendation rate and the fill rate "
        "count the requests where the partner was a candidate (a request has several), so they do not."
    ),
    "task_type": "task type: the request's task type; every request is in one, so the totals add up.",
}


def _request_breakdown(f: Facts, key: str, sig_keys: pl.DataFrame, intents: bool = False) -> pl.DataFrame:
    """Outcomes by a request attribute; ``sig_keys`` maps each signature to its key value(s).

    Every request has one signature, so per-signature sums add up per key; distinct intents
    do too unless a replayed log repeats an intent id across requests (then counted exactly).
    """
    per_sig = f.per_signature()
    frame = per_sig.join(sig_keys, on="sig").group_by(key).agg(pl.all().exclude("sig").sum())
    if not f.unique_intents:
        exact = (
            f.requests.join(sig_keys, on="sig")
            .group_by(key)
            .agg(C("intent_code").n_unique().cast(pl.Int64).alias("intents"))
            .join(
                f.slot_frame()
                .filter(C("presented"))
                .join(sig_keys, on="sig")
                .group_by(key)
                .agg(C("intent_code").n_unique().cast(pl.Int64).alias("presented_intents")),
                on=key,
                how="left",
            )
        )
        frame = frame.drop("intents", "presented_intents").join(exact, on=key, how="left")
    frame = frame.rename({"requests": "opportunities", "requests_with_eligible": "eligible"})
    frame = finish(frame.with_columns(C("intents").fill_null(0))).sort(key)
    return frame if intents else frame.drop("intents")


def category_outcomes(f: Facts, intents: bool = False) -> pl.DataFrame:
    keys = f.signatures.select("sig", C("r_category").alias("category"))
    return _request_breakdown(f, "category", keys, intents)


def region_outcomes(f: Facts) -> pl.DataFrame:
    """Per geo code: a request naming several counts under each (the totals double-count it)."""
    keys = f.signatures.select(
        "sig",
        pl.when(C("geo").list.len() == 0).then(pl.lit([ANY_REGION])).otherwise(C("geo")).alias("region"),
    ).explode("region")
    return _request_breakdown(f, "region", keys)


def region_set_outcomes(f: Facts) -> pl.DataFrame:
    """Per set of geo codes (``EU+UK``; ``(any)`` for none): each request in exactly one."""
    keys = f.signatures.select(
        "sig",
        pl.when(C("geo").list.len() == 0)
        .then(pl.lit(ANY_REGION))
        .otherwise(C("geo").list.unique().list.sort().list.join("+"))
        .alias("region"),
    )
    return _request_breakdown(f, "region", keys, intents=True)


def task_type_outcomes(f: Facts) -> pl.DataFrame:
    keys = f.result.traffic.signatures.select("sig", "task_type")
    return _request_breakdown(f, "task_type", keys, intents=True)


def parse_by(values: list[str]) -> tuple[str, ...]:
    """``--by`` values (repeatable, comma lists, ``all``; ``task-type`` for ``task_type``) in ``BYS``
    order; ValueError naming what was expected."""
    chosen: set[str] = set()
    for value in values:
        for part in value.split(","):
            name = part.strip().lower().replace("-", "_")
            if name == "all":
                chosen.update(BYS)
            elif name in BYS:
                chosen.add(name)
            else:
                raise ValueError(
                    f"--by: expected {', '.join(BYS)} or all, got {part.strip()!r}"
                    if part.strip()
                    else f"--by: expected {', '.join(BYS)} or all"
                )
    return tuple(b for b in BYS if b in chosen)


def segment_breakdown(result: RunResult | Facts, by: str) -> pl.DataFrame:
    """The outcomes and KPIs per value of ``by`` (one of ``BYS``): ``segment`` then ``SEGMENT_COLUMNS``,
    sorted by segment."""
    f = result if isinstance(result, Facts) else facts_of(result)
    key = f"segments:{by}"
    if key not in f.memo:
        f.memo[key] = _breakdown(f, by)
    return f.memo[key]


def _breakdown(f: Facts, by: str) -> pl.DataFrame:
    if by == "category":
        frame = category_outcomes(f, intents=True).rename({"category": "segment"})
    elif by == "region":
        frame = region_set_outcomes(f).rename({"region": "segment"})
    elif by == "partner":
        frame = partner_outcomes(f).rename({"partner_id": "segment"}).with_columns(intents=C("opportunities"))
    elif by == "task_type":
        frame = task_type_outcomes(f).rename({"task_type": "segment"})
    else:
        raise ValueError(f"segment: expected one of {', '.join(BYS)}, got {by!r}")
    return frame.select("segment", *SEGMENT_COLUMNS).sort("segment")
