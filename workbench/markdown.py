"""Markdown summaries of a run and of a comparison (fixed number formatting, fixed order)."""

from __future__ import annotations

from typing import Any, Sequence

import polars as pl

from .exports import LONG_FRAME_LIMIT
from .pipeline import RunResult
from .reports import KPI_NAMES

MAX_ROWS = 40
MONEY = {"spend", "settled_amount", "failed_amount", "budget", "budget_left", "payout", "spend_before"}


def fmt(value: Any, name: str = "") -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if name in MONEY:
            return f"{value:.2f}"
        return f"{value:.4f}"
    return str(value).replace("|", "\\|")


def md_table(frame: pl.DataFrame, columns: Sequence[str], limit: int = MAX_ROWS) -> str:
    cols = [c for c in columns if c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in frame.head(limit).iter_rows(named=True):
        lines.append("| " + " | ".join(fmt(row[c], c) for c in cols) + " |")
    if frame.height > limit:
        lines.append(f"\n({frame.height - limit} more rows in the CSV / Parquet / JSON exports)")
    return "\n".join(lines)


def kv_table(items: Sequence[tuple[str, Any]]) -> str:
    lines = ["| metric | value |", "|---|---|"]
    lines += [f"| {k} | {fmt(v, k)} |" for k, v in items]
    return "\n".join(lines)


def _header(result: RunResult) -> list[str]:
    s, cfg = result.scenario, result.cfg
    w, f = cfg.weights, cfg.floors
    lines = [
        f"# Scenario `{s.name}`",
        "",
        s.spec.description or "",
        "",
        f"- file: `{s.path}`" + (f" with `--set {' '.join(s.overrides)}`" if s.overrides else ""),
        f"- seed {s.spec.seed}, evaluation clock {s.spec.as_of.isoformat().replace('+00:00', 'Z')}, "
        f"CPQR billable event `{s.spec.cpqr_billable_event}`",
        f"- weights: relevance {w.relevance}, utility {w.utility}, trust {w.trust}, "
        f"affective_fit {w.affective_fit}, bid {w.bid}; floors: relevance {f.relevance}, utility {f.utility}",
        f"- {len(s.campaigns)} campaigns, {len(s.partners)} partners; {result.traffic.size} requests in "
        f"{result.traffic.signatures.height} distinct signatures, ranked in {len(result.batch.epochs)} budget epochs",
    ]
    return lines


def run_summary(result: RunResult, tables: dict[str, Any], long_rows: int) -> str:
    k = tables["_kpis"]
    lines = _header(result)
    lines += ["", "## KPIs", "", kv_table([(name, k[name]) for name in KPI_NAMES])]
    lines += ["", "## Volumes", "", kv_table([(name, k[name]) for name in (
        "requests", "distinct_intents", "requests_with_eligible", "slots_requested", "shortlisted", "presented",
        "viewed", "interacted", "conversions", "campaigns_out_of_budget", "workspaces_out_of_credits")])]
    lines += ["", "## Billing", "", kv_table([(name, k[name]) for name in (
        "spend", "settled_amount", "failed_amount", "settlements", "settled", "failed", "retries", "dead_letters")])]
    camp = tables["outcomes_campaign"].sort("slots_won", "campaign_id", descending=[True, False])
    lines += ["", "## Campaigns (by slots won)", "", md_table(camp, [
        "campaign_id", "category", "billing_model", "opportunities", "eligible", "slots_won", "presented", "viewed",
        "conversions", "spend", "budget_left", "budget_exhausted_at_intent", "qualified_recommendation_rate",
        "fill_rate"])]
    lines += ["", "## Partners", "", md_table(tables["outcomes_partner"], [
        "partner_id", "governed_trust", "opportunities", "eligible", "slots_won", "presented", "conversions", "spend",
        "qualified_recommendation_rate", "fill_rate"])]
    for title, name, key in (("Categories", "outcomes_category", "category"), ("Regions", "outcomes_region", "region")):
        lines += ["", f"## {title}", "", md_table(tables[name], [
            key, "opportunities", "eligible", "slots_requested", "slots_won", "fill_rate", "presented",
            "qualified_recommendation_rate", "detail_view_rate", "action_conversion_rate", "spend"])]
    lines += ["", "## Gate failures (candidate evaluations)", "", md_table(tables["gate_failures"], ["gate", "failed"])]
    lines += ["", "## Files", "",
              "`ranking_report` holds every request's shortlist with every score; `candidates` the long frame "
              "(request × candidate) when it is small"
              + f" ({long_rows} rows here{'' if long_rows <= LONG_FRAME_LIMIT else ', so it is not written'}), "
              "`candidate_groups` the same per distinct signature and budget epoch with a request count.", ""]
    return "\n".join(lines)


def compare_summary(base: RunResult, variant: RunResult, comparison: Any) -> str:
    lines = [f"# Compare `{base.scenario.name}`: baseline vs `--set {' '.join(variant.scenario.overrides)}`", ""]
    lines += ["## KPIs", "", md_table(comparison.kpis, ["metric", "baseline", "variant", "delta"], limit=100)]
    lines += ["", f"Requests whose shortlist changed: {comparison.changed_requests} of {base.traffic.size}.", ""]
    gained = comparison.slot_share.filter(pl.col("slots_delta") > 0)
    lost = comparison.slot_share.filter(pl.col("slots_delta") < 0)
    cols = ["campaign_id", "slots_baseline", "slots_variant", "slots_delta", "share_baseline", "share_variant",
            "share_delta"]
    lines += ["## Campaigns that gained slots", "", md_table(gained, cols) if gained.height else "None.", ""]
    lines += ["## Campaigns that lost slots", "", md_table(lost, cols) if lost.height else "None.", ""]
    lines += ["## Slot share per campaign", "", md_table(comparison.slot_share, cols), ""]
    lines += ["## Rank shifts", "", md_table(comparison.rank_shifts, [
        "campaign_id", "mean_position_baseline", "mean_position_variant", "moved_up", "moved_down", "entered",
        "dropped", "unchanged"]), ""]
    return "\n".join(lines)
