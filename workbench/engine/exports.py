"""Writing reports: CSV, Parquet, JSON and a Markdown summary, byte for byte reproducible.

One run writes: ``ranking_report`` (every request's shortlist with every score), ``settlements``,
``receipts``, ``outcomes_{campaign,partner,category,region}``, ``gate_failures``, ``exhaustion`` (the
budgets and credit balances that ran out, with the request and time they did),
``candidate_groups`` and, for small runs or with ``workbench run --explain`` whatever the size (in the
formats it asks for, Parquet by default), ``candidates`` (the long frame); plus ``kpis.json`` and
``summary.md``.

Every table is written in a fixed row order (the frames are built sorted) with
floats rounded to 9 decimals in the text formats and timestamps as
``YYYY-MM-DDTHH:MM:SS.ffffffZ``, so the same scenario and seed give identical
files. The long frame (request × candidate) is exported as such only while it
stays below ``LONG_FRAME_LIMIT`` rows; above that the group-level frame
(``candidate_groups``: epoch × signature × candidate, with a ``requests`` count)
carries the same information without multiplying it by the traffic.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import polars as pl
import polars.selectors as cs

from server.domain.ranking_config import RankingConfig, weight_sum
from workbench.engine.candidates import CANDIDATE_COLUMNS, with_failed_gates
from workbench.engine.limits import exhaustion
from workbench.engine.markdown import run_summary
from workbench.engine.pipeline import RunResult
from workbench.engine.ranking_report import enum_series, ranking_report
from workbench.engine.reports import (
    LONG_FRAME_LIMIT,
    Facts,
    campaign_outcomes,
    facts_of,
    overall_kpis,
    partner_outcomes,
)
from workbench.engine.scenario import effective_overrides
from workbench.engine.segments import category_outcomes, region_outcomes
from workbench.engine.simulate import receipts

FORMATS = ("csv", "parquet", "json", "md")
FLOAT_DECIMALS = 9
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.6fZ"

_json = msgspec.json.Encoder()
C = pl.col


def parse_formats(text: str) -> tuple[str, ...]:
    """``"csv,md"`` → ("csv", "md"); ValueError naming the unknown format."""
    chosen = tuple(dict.fromkeys(p.strip().lower() for p in text.split(",") if p.strip()))
    unknown = [f for f in chosen if f not in FORMATS]
    if unknown or not chosen:
        raise ValueError(f"--format: expected a comma list of {', '.join(FORMATS)}, got {text!r}")
    return chosen


def _text_ready(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        cs.float().round(FLOAT_DECIMALS),
        cs.datetime().dt.strftime(TIME_FORMAT),
        cs.by_dtype(pl.List(pl.String)).list.join("|"),
    )


def write_table(frame: pl.DataFrame, out: Path, name: str, formats: Iterable[str]) -> list[Path]:
    written = []
    if "csv" in formats:
        path = out / f"{name}.csv"
        _text_ready(frame).write_csv(path, float_precision=FLOAT_DECIMALS)
        written.append(path)
    if "parquet" in formats:
        path = out / f"{name}.parquet"
        frame.write_parquet(path, compression="zstd", compression_level=1, statistics=False)
        written.append(path)
    if "json" in formats:
        path = out / f"{name}.json"
        _text_ready(frame).write_json(path)
        written.append(path)
    return written


def write_json(path: Path, data: Any) -> Path:
    path.write_bytes(msgspec.json.format(_json.encode(data), indent=2) + b"\n")
    return path


def settlements_table(result: RunResult) -> pl.DataFrame:
    """One row per simulated settlement (``settlement_no`` in creation order)."""
    m, tr = result.market, result.traffic
    s = result.simulation.settlements
    return s.with_columns(
        intent_id=tr.requests["intent_id"].gather(s["idx"]),
        campaign_id=enum_series(m.campaigns["campaign_id"].to_list()).gather(s["ci"]),
        partner_id=enum_series(m.partners["partner_id"].to_list()).gather(s["pi"]),
        status=s["status"].cast(pl.Enum(["settled", "failed"])),
        last_code=s["last_code"].cast(pl.Categorical),
    ).select(
        "settlement_no",
        "intent_id",
        "position",
        "campaign_id",
        "partner_id",
        "amount",
        "created_at",
        "status",
        "attempts",
        "retries",
        "seconds_to_final",
        "final_at",
        "dead_letter",
        "last_code",
    )


def receipts_table(result: RunResult) -> pl.DataFrame:
    """One row per simulated receipt (``simulate.receipts``) with the intent, campaign and partner ids."""
    m, tr = result.market, result.traffic
    r = receipts(result.simulation, m)
    return r.with_columns(
        receipt_no=pl.int_range(1, r.height + 1, dtype=pl.Int64),
        intent_id=tr.requests["intent_id"].gather(r["idx"]),
        occurred_at=tr.requests["arrival_at"].gather(r["idx"]),
        campaign_id=enum_series(m.campaigns["campaign_id"].to_list()).gather(r["ci"]),
        partner_id=enum_series(m.partners["partner_id"].to_list()).gather(r["pi"]),
    ).select(
        "receipt_no",
        "intent_id",
        "occurred_at",
        "position",
        "campaign_id",
        "partner_id",
        "event_type",
        "credits",
        "billable",
        "budget_refused",
    )


def candidate_groups(result: RunResult) -> pl.DataFrame:
    """Epoch × signature × candidate with the number of requests it stands for."""
    b = result.batch
    counts = np.bincount(b.group_of_request, minlength=b.shortlist.shape[0]).astype(np.int64)
    groups = b.groups.with_columns(requests=pl.Series(counts[b.groups["group"].to_numpy()]))
    joined = groups.join(b.static.drop("sig"), on="row", how="left", maintain_order="left")
    return (
        with_failed_gates(joined.lazy())
        .collect()
        .join(result.traffic.signatures, on="sig", how="left", maintain_order="left")
        .select(
            "epoch",
            "group",
            "sig",
            "requests",
            "r_category",
            "task_type",
            "geo",
            "disclosure_required",
            "relevance_floor",
            "utility_floor",
            "slots",
            *CANDIDATE_COLUMNS,
        )
        .rename({"r_category": "category"})
    )


def long_table(result: RunResult) -> pl.DataFrame:
    return (
        result.long_frame()
        .select(
            "intent_id",
            "arrival_at",
            *CANDIDATE_COLUMNS,
        )
        .collect()
    )


def gate_breakdown(result: RunResult) -> pl.DataFrame:
    """How many candidate evaluations (request × candidate) failed each gate; a candidate can fail several."""
    from server.domain.gates import GATES

    b = result.batch
    counts = np.bincount(b.group_of_request, minlength=b.shortlist.shape[0]).astype(np.int64)
    weight = counts[b.groups["group"].to_numpy()]
    rows = b.groups.select("row", "gate_budget", "gate_credits").join(
        b.static.select("row", *[f"gate_{g}" for g in GATES if g not in ("budget", "credits")]),
        on="row",
        how="left",
        maintain_order="left",
    )
    out = [(g, int(weight[~rows[f"gate_{g}"].to_numpy()].sum())) for g in GATES]
    out.append(("(evaluations)", int(weight.sum())))
    return pl.DataFrame(out, schema={"gate": pl.String, "failed": pl.Int64}, orient="row")


def run_tables(result: RunResult, facts: Facts | None = None) -> dict[str, Any]:
    """Every table of a run by name (polars frames), and ``_kpis``: the run's KPIs as a dict (made once per
    ``Facts``; do not change what it returns)."""
    facts = facts_of(result) if facts is None else facts
    if "tables" in facts.memo:
        return facts.memo["tables"]
    facts.memo["tables"] = tables = {
        "outcomes_campaign": campaign_outcomes(facts),
        "outcomes_partner": partner_outcomes(facts),
        "outcomes_category": category_outcomes(facts),
        "outcomes_region": region_outcomes(facts),
        "gate_failures": gate_breakdown(result),
        "exhaustion": exhaustion(result),
        "_kpis": overall_kpis(facts),
    }
    return tables


def scenario_info(result: RunResult) -> dict[str, Any]:
    """What the run was: the file, every override it used (``workbench run FILE --set …`` reproduces it,
    including settings changed in the lab) and the whole ranking config it ranked with."""
    s, cfg = result.scenario, result.cfg
    return {
        "name": s.name,
        "description": s.spec.description,
        "file": str(s.path),
        "overrides": effective_overrides(s, cfg),
        "seed": s.spec.seed,
        "asOf": s.spec.as_of.isoformat().replace("+00:00", "Z"),
        "cpqrBillableEvent": s.spec.cpqr_billable_event,
        "weights": {
            "relevance": cfg.weights.relevance,
            "utility": cfg.weights.utility,
            "trust": cfg.weights.trust,
            "affectiveFit": cfg.weights.affective_fit,
            "bid": cfg.weights.bid,
        },
        "floors": {"relevance": cfg.floors.relevance, "utility": cfg.floors.utility},
        "ranking": ranking_info(cfg, s.spec.ranking.override_request_floors),
        "campaigns": len(s.campaigns),
        "partners": len(s.partners),
    }


def ranking_info(cfg: RankingConfig, override_request_floors: bool) -> dict[str, Any]:
    """The full ``RankingConfig`` (weights, default floors, factor constants) as plain JSON."""
    return {
        "weights": dataclasses.asdict(cfg.weights),
        "floors": dataclasses.asdict(cfg.floors),
        "factors": {
            k: [list(t) for t in v] if k == "freshness_tiers" else list(v) if isinstance(v, tuple) else v
            for k, v in dataclasses.asdict(cfg.factors).items()
        },
        "overrideRequestFloors": override_request_floors,
        "weightSum": weight_sum(cfg.weights),
    }


def write_run(
    result: RunResult,
    out: Path,
    formats: Iterable[str] = FORMATS,
    tables: dict[str, Any] | None = None,
    step: Callable[[str], None] | None = None,
    explain_formats: Iterable[str] | None = None,
) -> list[Path]:
    """Write every report of one run into ``out`` (created if needed); the paths written, sorted.

    ``explain_formats`` (``workbench run --explain``): write the ``candidates`` table (every candidate
    of every request, joined on ``intent_id``) in those formats whatever the run's size.
    """
    formats = tuple(formats)
    out.mkdir(parents=True, exist_ok=True)
    tables = run_tables(result) if tables is None else tables
    written: list[Path] = []
    note = step or (lambda name: None)
    note("ranking report")
    written += write_table(ranking_report(result), out, "ranking_report", formats)
    note("settlements")
    written += write_table(settlements_table(result), out, "settlements", formats)
    note("receipts")
    written += write_table(receipts_table(result), out, "receipts", formats)
    note("outcome tables")
    for name, frame in tables.items():
        if not name.startswith("_"):
            written += write_table(frame, out, name, formats)
    note("candidates")
    n_long = int(
        np.bincount(result.batch.group_of_request, minlength=result.batch.shortlist.shape[0])
        @ np.bincount(result.batch.groups["group"].to_numpy(), minlength=result.batch.shortlist.shape[0])
    )
    if explain_formats is not None:
        written += write_table(long_table(result), out, "candidates", tuple(explain_formats))
    elif n_long <= LONG_FRAME_LIMIT:
        written += write_table(long_table(result), out, "candidates", formats)
    written += write_table(candidate_groups(result), out, "candidate_groups", formats)
    kpis = {"scenario": scenario_info(result), "kpis": tables["_kpis"], "longFrameRows": n_long}
    if "json" in formats or "md" in formats:
        written.append(write_json(out / "kpis.json", kpis))
    if "md" in formats:
        path = out / "summary.md"
        path.write_text(run_summary(result, tables, n_long), encoding="utf-8")
        written.append(path)
    return sorted(written)
