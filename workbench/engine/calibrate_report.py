"""What a calibration gives: the ``[funnel]`` snippet, a scenario file with it, and a report (CSV, Markdown).

A scenario has one ``[funnel]``: the pooled fit is written; a key the log could not estimate (the
decay, from slots at one position only) keeps the scenario's value (the snippet leaves it out, with a
comment). Values are written as the lab writes settings (6 decimals); the intervals stay in the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from workbench.engine.calibrate import FUNNEL_KEYS, Calibration, FunnelFit
from workbench.engine.scenario_edit import beside, fmt_value, save_edited_scenario, set_keys, set_name


def interval_text(low: float | None, high: float | None) -> str:
    return "–" if low is None or high is None else f"{low:.4f}–{high:.4f}"


def value_text(value: float | None) -> str:
    return "–" if value is None else f"{value:.4f}"


def coverage_lines(cal: Calibration) -> list[str]:
    """The log's coverage, one fact a line."""
    c = cal.coverage
    positions = ", ".join(str(p) for p in c.positions)
    categories = ", ".join(f"{name} {n:,}" for name, n in c.categories.items())
    span = (
        "–"
        if c.first_at is None or c.last_at is None
        else f"{c.first_at.isoformat()} to {c.last_at.isoformat()}"
    )
    lines = [
        f"requests: {c.requests:,} ({c.intents:,} intents)",
        f"slots: {c.slots:,} at positions {positions} ({c.from_payload:,} placed by payload.position, "
        f"the others by the order of their receipts)",
        f"receipts: {c.receipts:,}, of which {c.matched:,} matched a slot, {c.no_slot:,} refer to no known slot, "
        f"{c.other_events:,} are outside the funnel, {c.duplicates:,} repeat a receiptId (all ignored)",
        f"slots with an earlier stage implied by a later receipt: {c.implied:,}",
        f"categories (slots): {categories}",
        f"receipts from {span}",
    ]
    if cal.thin:
        thin = ", ".join(f"{name} ({n:,} slots)" for name, n in cal.thin.items())
        lines.append(f"pooled only (too little data for a fit of their own): {thin}")
    return lines


def estimates_frame(cal: Calibration) -> pl.DataFrame:
    """One row per (scope, parameter): the estimate, its 95 % interval, what it rests on and how."""
    rows: list[dict[str, Any]] = []
    for fit in (cal.pooled, *cal.categories):
        for key in FUNNEL_KEYS:
            e = fit.estimates[key]
            rows.append(
                {
                    "scope": fit.scope,
                    "parameter": key,
                    "estimate": e.value,
                    "low": e.low,
                    "high": e.high,
                    "basis": e.basis,
                    "method": e.method,
                }
            )
    return pl.DataFrame(
        rows, schema_overrides={"estimate": pl.Float64, "low": pl.Float64, "high": pl.Float64}
    )


def funnel_snippet(fit: FunnelFit) -> str:
    """The ``[funnel]`` table of ``fit`` (its estimated keys; a comment for each one not estimated)."""
    lines = ["[funnel]"]
    for key in FUNNEL_KEYS:
        e = fit.estimates[key]
        if e.value is None:
            lines.append(f"# {key}: {e.basis}")
        else:
            lines.append(f"{key} = {fmt_value(e.value)}")
    return "\n".join(lines) + "\n"


def calibrated_path(source: Path, out: Path | None) -> Path:
    """Where the calibrated scenario goes: ``SCENARIO-calibrated.toml`` next to it, or ``out`` there."""
    return beside(source, out, f"{source.stem}-calibrated.toml", "the calibrated scenario")


def save_calibrated_scenario(source: Path, cal: Calibration, out: Path | None) -> Path:
    """``source`` with its ``[funnel]`` replaced by the pooled estimates (and its name by the new file's
    stem), written next to it (``calibrated_path``); everything else kept as written."""
    values = {k: round(v, 6) for k, v in cal.pooled.values().items()}
    c = cal.coverage
    note = (
        f"# [funnel] calibrated by `workbench calibrate {c.log}` on {c.slots:,} slots of {c.requests:,} "
        f"requests (from {source.name})."
    )

    def edit(text: str, name: str) -> str:
        lines = set_name(text.splitlines(), name)
        lines = set_keys(lines, "funnel", {k: fmt_value(v) for k, v in values.items()})
        return "\n".join([note, *lines]) + "\n"

    def expected(original: dict[str, Any], name: str) -> dict[str, Any]:
        return dict(original, name=name, funnel={**original.get("funnel", {}), **values})

    target = calibrated_path(source, out)
    return save_edited_scenario(source, target.name, edit, expected, "[funnel] table", "calibrate")


def _md_fit(fit: FunnelFit) -> list[str]:
    lines = ["| parameter | estimate | 95 % interval | from | method |", "|---|---|---|---|---|"]
    for key in FUNNEL_KEYS:
        e = fit.estimates[key]
        lines.append(
            f"| {key} | {value_text(e.value)} | {interval_text(e.low, e.high)} | {e.basis} | {e.method or '–'} |"
        )
    lines += ["", "| position | slots | presented | observed | fitted |", "|---|---|---|---|---|"]
    for row in fit.by_position.iter_rows(named=True):
        lines.append(
            f"| {row['position']} | {row['slots']:,} | {row['presented']:,} | {row['observed']:.4f} "
            f"| {row['fitted']:.4f} |"
        )
    return lines


def report_markdown(cal: Calibration) -> str:
    lines = [f"# Funnel calibration: {cal.coverage.log}", "", "## Coverage", ""]
    lines += [f"- {line}" for line in coverage_lines(cal)]
    lines += ["", "## All categories (written into `[funnel]`)", "", *_md_fit(cal.pooled)]
    for fit in cal.categories:
        lines += ["", f"## {fit.scope} ({fit.slots:,} slots)", "", *_md_fit(fit)]
    lines += ["", "## `[funnel]`", "", "```toml", funnel_snippet(cal.pooled).rstrip(), "```"]
    return "\n".join(lines) + "\n"


def write_report(cal: Calibration, folder: Path) -> list[Path]:
    """``calibration.csv`` (every estimate) and ``calibration.md`` in ``folder`` (created)."""
    folder.mkdir(parents=True, exist_ok=True)
    csv, md = folder / "calibration.csv", folder / "calibration.md"
    estimates_frame(cal).write_csv(csv, float_precision=6)
    md.write_text(report_markdown(cal), encoding="utf-8")
    return [csv, md]
