"""A scenario's opportunity requests, in arrival order, and their distinct ranking signatures.

Ranking a request depends only on its *signature*: category, task type, the set
of geo codes, whether disclosure is required, the two floors and the number of
slots. Requests are stored as one small integer (their signature) plus an intent
id and an arrival time, so a million requests cost a million integers; the
ranking itself runs per signature (``engine``).

Generated traffic draws a segment per request (by weight) and Poisson arrival
times in ``[as_of, as_of + window)`` from the scenario's traffic generator;
intent ids are ``{name}-0000001``-style and unique. Replayed traffic keeps the
file's order, spread evenly over the window.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import numpy as np
import polars as pl

from server.domain.ranking_config import RankingConfig
from workbench.engine.replay_log import ReplayRequest
from workbench.engine.scenario import Scenario

SIGNATURE_SCHEMA = {
    "sig": pl.Int32,
    "r_category": pl.String,
    "task_type": pl.String,
    "geo": pl.List(pl.String),
    "disclosure_required": pl.Boolean,
    "relevance_floor": pl.Float64,
    "utility_floor": pl.Float64,
    "slots": pl.Int32,
    "placement": pl.String,
}


@dataclass(frozen=True)
class Traffic:
    """``requests``: idx, intent_id, intent_code, arrival_at, sig (arrival order); ``signatures``: one row per sig."""

    requests: pl.DataFrame
    signatures: pl.DataFrame
    sig_of_request: np.ndarray  # int32, one per request
    unique_intents: bool = True  # no intent id repeats (always so for generated traffic)

    @property
    def size(self) -> int:
        return len(self.sig_of_request)

    @property
    def max_slots(self) -> int:
        return int(cast(int, self.signatures["slots"].max()) or 1)  # slots is an integer column


def _geo_key(geo: list[str]) -> tuple[str, ...]:
    # Only the set of codes matters to the region factor; keep the first-seen order for display.
    seen: dict[str, None] = {}
    for code in geo:
        seen.setdefault(code, None)
    return tuple(seen)


def _signatures(rows: list[tuple]) -> tuple[pl.DataFrame, dict[tuple, int]]:
    index: dict[tuple, int] = {}
    unique: list[tuple] = []
    for row in rows:
        if row not in index:
            index[row] = len(unique)
            unique.append(row)
    frame = pl.DataFrame(
        {
            "sig": list(range(len(unique))),
            "r_category": [u[0] for u in unique],
            "task_type": [u[1] for u in unique],
            "geo": [list(u[2]) for u in unique],
            "disclosure_required": [u[3] for u in unique],
            "relevance_floor": [u[4] for u in unique],
            "utility_floor": [u[5] for u in unique],
            "slots": [u[6] for u in unique],
            "placement": [u[7] for u in unique],
        },
        schema=SIGNATURE_SCHEMA,
    )
    return frame, index


def build_traffic(scenario: Scenario, cfg: RankingConfig, rng: np.random.Generator) -> Traffic:
    """The scenario's requests under ranking config ``cfg`` (its floors apply to generated traffic)."""
    spec = scenario.spec
    if scenario.replay_requests is not None:
        return _replayed(scenario, cfg, scenario.replay_requests)
    t = spec.traffic
    n = int(t.requests or 0)
    keys = [
        (
            s.category,
            s.task_type,
            _geo_key(s.geo),
            t.disclosure_required if s.disclosure_required is None else s.disclosure_required,
            cfg.floors.relevance,
            cfg.floors.utility,
            t.sponsored_slots if s.sponsored_slots is None else s.sponsored_slots,
            s.placement,
        )
        for s in t.segments
    ]
    signatures, index = _signatures(keys)
    seg_to_sig = np.array([index[k] for k in keys], dtype=np.int32)
    weights = np.array([s.weight for s in t.segments], dtype=np.float64)
    segment = rng.choice(len(keys), size=n, p=weights / weights.sum())
    # Poisson arrivals over the window: exponential gaps, scaled so the last one lands inside it.
    gaps = np.cumsum(rng.exponential(1.0, n + 1))
    offsets = gaps[:n] / gaps[n] * (t.window_hours * 3600.0)
    sig = seg_to_sig[segment]
    return Traffic(_request_frame(scenario, spec.name, sig, offsets, None), signatures, sig)


def _replayed(scenario: Scenario, cfg: RankingConfig, recorded: tuple[ReplayRequest, ...]) -> Traffic:
    override = scenario.spec.ranking.override_request_floors
    keys = []
    for r in recorded:
        rel = cfg.floors.relevance if override or r.relevance_floor is None else r.relevance_floor
        util = cfg.floors.utility if override or r.utility_floor is None else r.utility_floor
        keys.append(
            (
                r.category,
                r.task_type,
                _geo_key(r.geo()),
                r.disclosure_required,
                rel,
                util,
                r.sponsored_slots,
                r.placement,
            )
        )
    signatures, index = _signatures(keys)
    sig = np.array([index[k] for k in keys], dtype=np.int32)
    n = len(sig)
    offsets = np.arange(n, dtype=np.float64) * (scenario.spec.traffic.window_hours * 3600.0 / max(n, 1))
    ids = [r.intent_id for r in recorded]
    frame = _request_frame(scenario, scenario.name, sig, offsets, ids)
    return Traffic(frame, signatures, sig, unique_intents=len(set(ids)) == len(ids))


def _request_frame(
    scenario: Scenario, name: str, sig: np.ndarray, offsets: np.ndarray, intent_ids: list[str] | None
) -> pl.DataFrame:
    n = len(sig)
    start_us = int(scenario.spec.as_of.timestamp() * 1_000_000)
    arrival = pl.Series("arrival_at", start_us + np.floor(offsets * 1_000_000).astype(np.int64)).cast(
        pl.Datetime("us", "UTC")
    )
    frame = pl.DataFrame({"idx": np.arange(n, dtype=np.int64), "sig": sig}).with_columns(arrival)
    if intent_ids is None:
        # "{name}-0000001": zero-padded by adding a power of ten and dropping its leading 1 (fast).
        width = max(7, len(str(n)))
        frame = frame.with_columns(
            intent_id=pl.lit(f"{name}-") + (pl.col("idx") + (10**width + 1)).cast(pl.String).str.slice(1),
            intent_code=pl.col("idx"),
        )
    else:
        ids = pl.Series("intent_id", intent_ids, dtype=pl.String)
        # Duplicated intents count once in the "distinct intents" KPIs: a dense code, first seen first.
        codes = (
            ids.to_frame()
            .with_row_index("i")
            .with_columns(intent_code=pl.col("i").min().over("intent_id").rank("dense").cast(pl.Int64) - 1)[
                "intent_code"
            ]
        )
        frame = frame.with_columns(ids, codes)
    return frame.select("idx", "intent_id", "intent_code", "arrival_at", "sig")
