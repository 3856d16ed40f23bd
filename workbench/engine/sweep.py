"""Sweeps: every combination of a few settings, run on the same traffic and draws, one row per variant.

``--grid KEY=START:STOP:STEP`` (inclusive) or ``--grid KEY=V1,V2,…`` gives one axis; the variants are
the Cartesian product of the axes, in the order given (the last axis varies fastest). Each variant is
the scenario with those ``--set`` overrides (and, with ``normalise``, the weights scaled to sum to 1),
so a row says exactly which ``workbench run`` reproduces it (``overrides``).

When every axis is a ranking weight or floor, a variant changes the ranking and not the world: each
worker runs the baseline once and re-ranks it per variant (``pipeline.rerank``: same requests, same
funnel and billing draws), which gives the same figures as a separate ``run`` of the variant.
Any other axis (traffic size, budgets) runs the variant from scratch. With ``jobs`` > 1 the variants
run in worker processes, each building the baseline once.

Variants run one after another by default: polars already ranks each on every core, and a worker
process's start-up (imports, its own baseline) costs more than the variants save (``default_jobs``).

A row: the variant's settings, every KPI of ``reports.overall_kpis``, ``revenue`` (= ``spend``, the
amounts of the settlements created, i.e. what advertisers were billed), ``advertiser_value`` and
``advertiser_surplus`` (``objectives``), the slot-share concentration (``slot_hhi``: Σ share², 1 when
one campaign wins every slot; ``top_slot_share``) and the spend of each campaign (``spend:<id>``).

With ``by`` (``segments.BYS``), ``run_sweep_segments`` also gives the ``sweep_segments`` table: one row
per variant × breakdown × segment (``variant``, the axes' values, ``by``, ``segment``, then
``segments.SEGMENT_COLUMNS``), the long shape a pivot in polars or a spreadsheet starts from; the
main table stays as it is.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from decimal import Decimal, InvalidOperation
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from server.domain.ranking_config import WEIGHT_NAMES, normalised_weights
from workbench.engine.errors import ScenarioError
from workbench.engine.overrides import parse_override
from workbench.engine.pipeline import RunResult, rerank, run_scenario
from workbench.engine.reports import Facts, overall_kpis
from workbench.engine.scenario import load_scenario
from workbench.engine.segments import segment_breakdown

RANKING_PREFIXES = ("ranking.weights.", "ranking.floors.")
MAX_VARIANTS = 10_000


@dataclasses.dataclass(frozen=True)
class Axis:
    key: str
    values: tuple[Any, ...]


def _number(text: str, where: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ScenarioError(f"{where}: {text.strip()!r} is not a number") from None
    if not value.is_finite():
        raise ScenarioError(f"{where}: {text.strip()!r} is not a finite number")
    return value


def parse_axis(text: str) -> Axis:
    """``"ranking.weights.bid=0.05:0.30:0.05"`` (inclusive range) or ``"key=a,b,c"``; ScenarioError (one line)."""
    where = f"--grid {text!r}"
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key or not raw.strip():
        raise ScenarioError(
            f"{where}: expected KEY=START:STOP:STEP or KEY=V1,V2,…, e.g. ranking.weights.bid=0.05:0.30:0.05"
        )
    if ":" in raw:
        parts = raw.split(":")
        if len(parts) != 3:
            raise ScenarioError(f"{where}: a range is START:STOP:STEP (three numbers)")
        start, stop, step = (_number(p, where) for p in parts)
        if step <= 0:
            raise ScenarioError(f"{where}: the step must be above 0")
        if stop < start:
            raise ScenarioError(f"{where}: the range ends ({stop}) before it starts ({start})")
        count = int((stop - start) / step) + 1
        if count > MAX_VARIANTS:
            raise ScenarioError(f"{where}: {count} values; at most {MAX_VARIANTS}")
        values: tuple[Any, ...] = tuple(float(start + i * step) for i in range(count))
    else:
        values = tuple(parse_override(f"{key}={v.strip()}")[1] for v in raw.split(",") if v.strip())
        if not values:
            raise ScenarioError(f"{where}: no values")
    return Axis(key, values)


def variant_sets(axes: list[Axis]) -> list[list[str]]:
    """The ``--set`` overrides of every variant (Cartesian product, the last axis fastest)."""
    total = math.prod(len(a.values) for a in axes)
    if total > MAX_VARIANTS:
        raise ScenarioError(f"--grid: {total} variants; at most {MAX_VARIANTS}")
    return [
        [f"{a.key}={_toml(v)}" for a, v in zip(axes, combo, strict=True)]
        for combo in itertools.product(*(a.values for a in axes))
    ]


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(round(value, 9) + 0.0)
    if isinstance(value, str):
        return value
    return str(value)


def ranking_only(axes: list[Axis]) -> bool:
    return all(a.key.startswith(RANKING_PREFIXES) for a in axes)


# ---------------------------------------------------------------------------
# One variant's row
# ---------------------------------------------------------------------------


def advertiser_value(result: RunResult) -> float:
    """What the shown offers were worth to the advertisers: each conversion at its offer's list price."""
    slots = result.simulation.slots
    converted = slots.filter(pl.col("stage") >= 4)["ci"].to_numpy()
    prices = np.array([c.offer.price for c in result.market.source_campaigns], dtype=np.float64)
    return float(prices[converted].sum()) if converted.size else 0.0


def variant_row(result: RunResult, facts: Facts | None = None) -> dict[str, Any]:
    """Every KPI of the run, revenue, advertiser surplus, slot concentration and spend per campaign."""
    kpis = overall_kpis(Facts(result) if facts is None else facts)
    row: dict[str, Any] = {k: v for k, v in kpis.items() if k != "currency"}
    row["revenue"] = kpis["spend"]
    value = advertiser_value(result)
    row["advertiser_value"] = value
    row["advertiser_surplus"] = value - kpis["spend"]
    slots = np.bincount(result.simulation.slots["ci"].to_numpy(), minlength=len(result.market.payout))
    total = slots.sum()
    shares = slots / total if total else slots.astype(np.float64)
    row["slot_hhi"] = float(np.sum(shares**2))
    row["top_slot_share"] = float(shares.max()) if shares.size else 0.0
    spend = committed_by_campaign(result)
    for cid, amount in zip(result.market.campaigns["campaign_id"].to_list(), spend, strict=True):
        row[f"spend:{cid}"] = float(amount)
    return row


def committed_by_campaign(result: RunResult) -> np.ndarray:
    s = result.simulation.settlements
    return np.bincount(
        s["ci"].to_numpy(), weights=s["amount"].to_numpy(), minlength=len(result.market.payout)
    )


def with_normalised(sets: list[str], scenario_path: str | Path, base_sets: list[str]) -> list[str]:
    """``sets`` plus the five weights scaled to sum to 1 (as the variant's own overrides)."""
    cfg = load_scenario(scenario_path, [*base_sets, *sets]).ranking
    try:
        scaled = normalised_weights(cfg.weights)
    except ValueError as err:
        raise ScenarioError(f"--normalise: {' '.join(sets)}: {err}") from None
    kept = [s for s in sets if not s.startswith("ranking.weights.")]
    return kept + [f"ranking.weights.{name}={scaled[name]!r}" for name in WEIGHT_NAMES]


# ---------------------------------------------------------------------------
# Running: one job in this process, or worker processes that each build the baseline once
# ---------------------------------------------------------------------------

_BASE: dict[str, Any] = {}


def _init(path: str, base_sets: list[str], reuse: bool, by: tuple[str, ...] = ()) -> None:
    _BASE.clear()
    _BASE.update(path=path, base_sets=base_sets, reuse=reuse, run=None, by=by)


def _outputs(result: RunResult) -> tuple[dict[str, Any], pl.DataFrame | None]:
    """A variant's row and, with breakdowns asked for, its segments (``by``, ``segment``, the columns)."""
    facts = Facts(result)
    by: tuple[str, ...] = _BASE["by"]
    if not by:
        return variant_row(result, facts), None
    parts = [segment_breakdown(facts, b).select(pl.lit(b).alias("by"), pl.all()) for b in by]
    return variant_row(result, facts), pl.concat(parts)


def _run_variant(sets: list[str]) -> tuple[dict[str, Any], pl.DataFrame | None]:
    path, base_sets = _BASE["path"], _BASE["base_sets"]
    scenario = load_scenario(path, [*base_sets, *sets])
    if not _BASE["reuse"]:
        return _outputs(run_scenario(scenario))
    if _BASE["run"] is None:
        _BASE["run"] = run_scenario(load_scenario(path, base_sets))
    base = dataclasses.replace(_BASE["run"], scenario=scenario)
    return _outputs(rerank(base, scenario.ranking))


def default_jobs(variants: int) -> int:
    """One job: the variants run one after another in this process, each on polars' own threads.

    Measured (bench/RESULTS.md, 2 vCPU): re-ranking a variant of the crowded market at 100,000
    requests takes a quarter of a second on both cores, while a spawned worker pays a few seconds
    to import the engine and build its baseline, so worker processes made an 18-variant sweep 1.7×
    slower. ``--jobs N`` still runs N workers (worth it only for variants that each take long).
    """
    return 1


def prepare(
    path: str | Path, base_sets: list[str], axes: list[Axis], normalise: bool = False
) -> list[list[str]]:
    """Every variant's overrides, each validated (ScenarioError naming the variant) before any runs."""
    sets_list = variant_sets(axes)
    if normalise:
        sets_list = [with_normalised(s, path, base_sets) for s in sets_list]
    for sets in sets_list:
        load_scenario(path, [*base_sets, *sets])
    return sets_list


def run_sweep(
    path: str | Path,
    base_sets: list[str],
    axes: list[Axis],
    normalise: bool = False,
    jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    sets_list: list[list[str]] | None = None,
) -> pl.DataFrame:
    """One row per variant (``variant`` 1…n, the axes' values, ``overrides``, then ``variant_row``)."""
    return run_sweep_segments(path, base_sets, axes, (), normalise, jobs, progress, sets_list)[0]


def run_sweep_segments(
    path: str | Path,
    base_sets: list[str],
    axes: list[Axis],
    by: tuple[str, ...],
    normalise: bool = False,
    jobs: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    sets_list: list[list[str]] | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """``run_sweep``'s table and, with ``by``, the ``sweep_segments`` table (None without)."""
    if sets_list is None:
        sets_list = prepare(path, base_sets, axes, normalise)
    reuse = ranking_only(axes)
    jobs = default_jobs(len(sets_list)) if jobs is None else max(1, jobs)
    note = progress or (lambda done, total: None)
    outs: list[tuple[dict[str, Any], pl.DataFrame | None]] = []
    if jobs == 1:
        _init(str(path), list(base_sets), reuse, tuple(by))
        for sets in sets_list:
            outs.append(_run_variant(sets))
            note(len(outs), len(sets_list))
    else:
        with ProcessPoolExecutor(
            jobs,
            mp_context=get_context("spawn"),
            initializer=_init,
            initargs=(str(path), list(base_sets), reuse, tuple(by)),
        ) as pool:
            # contiguous chunks: a worker re-ranks its own baseline for each of its variants
            for out in pool.map(_run_variant, sets_list, chunksize=max(1, len(sets_list) // (jobs * 4))):
                outs.append(out)
                note(len(outs), len(sets_list))
    values = [{a.key: _value_of(a.key, sets) for a in axes} for sets in sets_list]
    head = [
        {"variant": i + 1, **v, "overrides": " ".join(s)}
        for i, (v, s) in enumerate(zip(values, sets_list, strict=True))
    ]
    frame = pl.DataFrame(
        [{**h, **row} for h, (row, _) in zip(head, outs, strict=True)], infer_schema_length=None
    )
    if not by:
        return frame, None
    keys = frame.select("variant", *[a.key for a in axes])
    segments = pl.concat(
        [
            seg.select(pl.lit(i + 1, pl.Int64).alias("variant"), pl.all())
            for i, (_, seg) in enumerate(outs)
            if seg is not None
        ]
    )
    joined = segments.join(keys, on="variant", how="left", maintain_order="left")
    return frame, joined.select(keys.columns + segments.columns[1:])


def _value_of(key: str, sets: list[str]) -> Any:
    for text in sets:
        if text.partition("=")[0] == key:
            return parse_override(text)[1]
    return None


def sweep_summary(name: str, frame: pl.DataFrame, axes: list[Axis], seconds: float, jobs: int) -> str:
    """The Markdown summary: the axes, then the variants ranked by revenue with the main KPIs."""
    cols = [
        "variant",
        *[a.key for a in axes],
        "revenue",
        "fill_rate",
        "qualified_recommendation_rate",
        "mean_relevance_shown",
        "advertiser_surplus",
        "slot_hhi",
    ]
    lines = [
        f"# Sweep of {name}",
        "",
        f"{frame.height} variants ({' × '.join(f'{a.key} ({len(a.values)})' for a in axes)}), "
        f"in {seconds:.1f} s with {jobs} job(s).",
        "",
        "| " + " | ".join(cols) + " |",
        "|" + "---|" * len(cols),
    ]
    for row in frame.sort("revenue", "variant", descending=[True, False]).select(cols).iter_rows():
        lines.append("| " + " | ".join(_cell(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:,.2f}"
    return str(value)


def write_sweep(
    frame: pl.DataFrame,
    out: Path,
    formats: Iterable[str],
    summary: str,
    segments: pl.DataFrame | None = None,
) -> list[Path]:
    from workbench.engine.exports import write_table

    out.mkdir(parents=True, exist_ok=True)
    tables = [f for f in formats if f in ("csv", "parquet", "json")]
    written = write_table(frame, out, "sweep", tables)
    if segments is not None:
        written += write_table(segments, out, "sweep_segments", tables)
    if "md" in formats:
        path = out / "sweep.md"
        path.write_text(summary, encoding="utf-8")
        written.append(path)
    return sorted(written)
