"""Outcomes by a request attribute (segments): by category and by region (a request naming no region
counts under ``(any)``), summed per traffic signature so that a million requests cost what their few
hundred signatures cost."""

from __future__ import annotations

import polars as pl

from workbench.engine.reports import ANY_REGION, Facts, finish

C = pl.col


def _request_breakdown(f: Facts, key: str, sig_keys: pl.DataFrame) -> pl.DataFrame:
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
    return finish(frame.with_columns(C("intents").fill_null(0))).drop("intents").sort(key)


def category_outcomes(f: Facts) -> pl.DataFrame:
    keys = f.signatures.select("sig", C("r_category").alias("category"))
    return _request_breakdown(f, "category", keys)


def region_outcomes(f: Facts) -> pl.DataFrame:
    keys = f.signatures.select(
        "sig",
        pl.when(C("geo").list.len() == 0).then(pl.lit([ANY_REGION])).otherwise(C("geo")).alias("region"),
    ).explode("region")
    return _request_breakdown(f, "region", keys)
