"""Markdown summaries of a run and of a comparison (fixed number formatting, fixed order).

``run_summary`` is long on purpose: it writes the summary in the order it reads, one section after another.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl

from server.domain.ranking_config import weight_sum
from workbench.engine.limits import exhaustion_summary, fmt_after
from workbench.engine.pipeline import RunResult
from workbench.engine.reports import KPI_NAMES, LONG_FRAME_LIMIT
from workbench.engine.scenario import effective_overrides
from workbench.engine.units import fmt_value

MAX_ROWS = 40


def fmt(value: Any, name: str = "", currency: str = "", signed: bool = False) -> str:
    """A cell: counts as integers, money with its currency (``workbench.engine.units``), text escaped for tables."""
    if isinstance(value, (int, float, bool)) or value is None:
        return fmt_value(name, value, currency, signed=signed)
    return str(value).replace("|", "\\|")


def md_table(frame: pl.DataFrame, columns: Sequence[str], limit: int = MAX_ROWS, currency: str = "") -> str:
    """Rows of ``frame``; money in the row's ``currency`` column when it has one, else ``currency``."""
    cols = [c for c in columns if c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for row in frame.head(limit).iter_rows(named=True):
        cur = row.get("currency") or currency
        lines.append("| " + " | ".join(fmt(row[c], c, cur, signed=c.endswith("delta")) for c in cols) + " |")
    if frame.height > limit:
        lines.append(f"\n({frame.height - limit} more rows in the CSV / Parquet / JSON exports)")
    return "\n".join(lines)


def exhaustion_table(table: pl.DataFrame, limit: int = MAX_ROWS) -> str:
    """``limits.exhaustion``: what ran out, at which request and when (time of day and into the traffic)."""
    if not table.height:
        return "None."
    lines = [
        "| ran out | id | at request | intent | time (UTC) | into the traffic | limit |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in table.head(limit).iter_rows(named=True):
        unit = "" if r["currency"] == "credits" else r["currency"]
        limit_text = f"{r['limit']:,.0f} credits" if not unit else fmt_value("budget", r["limit"], unit)
        lines.append(
            f"| {r['kind']} | {r['id']} | {r['request_no']:,} ({100 * r['share_of_traffic']:.1f}%) | "
            f"{r['intent_id']} | {r['at']:%Y-%m-%d %H:%M:%S} | {fmt_after(r['after_seconds'])} | {limit_text} |"
        )
    if table.height > limit:
        lines.append(f"\n({table.height - limit} more rows in exhaustion.csv)")
    return "\n".join(lines)


def kv_table(items: Sequence[tuple[str, Any]], currency: str = "") -> str:
    lines = ["| metric | value |", "|---|---|"]
    lines += [f"| {k} | {fmt(v, k, currency)} |" for k, v in items]
    return "\n".join(lines)


def kpi_delta_table(kpis: pl.DataFrame, currency: str) -> str:
    """``compare.Comparison.kpis``: each metric's baseline, variant and delta in that metric's unit."""
    lines = ["| metric | baseline | variant | delta |", "|---|---|---|---|"]
    for row in kpis.iter_rows(named=True):
        m = row["metric"]
        lines.append(
            f"| {m} | {fmt(row['baseline'], m, currency)} | {fmt(row['variant'], m, currency)} | "
            f"{fmt(row['delta'], m, currency, signed=True)} |"
        )
    return "\n".join(lines)


def _header(result: RunResult) -> list[str]:
    s, cfg = result.scenario, result.cfg
    w, f = cfg.weights, cfg.floors
    overrides = effective_overrides(s, cfg)
    lines = [
        f"# Scenario `{s.name}`",
        "",
        s.spec.description or "",
        "",
        f"- file: `{s.path}`" + (f" with `--set {' '.join(overrides)}`" if overrides else ""),
        f"- seed {s.spec.seed}, evaluation clock {s.spec.as_of.isoformat().replace('+00:00', 'Z')}, "
        f"CPQR billable event `{s.spec.cpqr_billable_event}`",
        f"- weights: relevance {w.relevance}, utility {w.utility}, trust {w.trust}, "
        f"affective_fit {w.affective_fit}, bid {w.bid} (sum {round(weight_sum(w), 6)}); floors: relevance "
        f"{f.relevance}, utility {f.utility}",
        f"- {len(s.campaigns)} campaigns, {len(s.partners)} partners; {result.traffic.size:,} requests in "
        f"{result.traffic.signatures.height:,} distinct signatures, ranked in {len(result.batch.epochs)} budget epochs",
    ]
    return lines


def run_summary(result: RunResult, tables: dict[str, Any], long_rows: int) -> str:
    k = tables["_kpis"]
    cur = k["currency"]
    lines = _header(result)
    lines += ["", "## KPIs", "", kv_table([(name, k[name]) for name in KPI_NAMES])]
    lines += [
        "",
        "## Volumes",
        "",
        kv_table(
            [
                (name, k[name])
                for name in (
                    "requests",
                    "distinct_intents",
                    "requests_with_eligible",
                    "slots_requested",
                    "shortlisted",
                    "presented",
                    "viewed",
                    "interacted",
                    "conversions",
                    "campaigns_out_of_budget",
                    "workspaces_out_of_credits",
                    "slots_at_priority_cap",
                    "slots_tied_at_priority_cap",
                )
            ]
        ),
    ]
    lines += [
        "",
        "## Billing",
        "",
        kv_table(
            [
                (name, k[name])
                for name in (
                    "spend",
                    "settled_amount",
                    "failed_amount",
                    "billing_refused",
                    "settlements",
                    "settled",
                    "failed",
                    "retries",
                    "dead_letters",
                )
            ],
            cur,
        ),
    ]
    camp = tables["outcomes_campaign"].sort("slots_won", "campaign_id", descending=[True, False])
    lines += [
        "",
        "## Campaigns (by slots won)",
        "",
        md_table(
            camp,
            [
                "campaign_id",
                "category",
                "billing_model",
                "opportunities",
                "eligible",
                "slots_won",
                "presented",
                "viewed",
                "conversions",
                "spend",
                "budget_left",
                "budget_exhausted_at_request",
                "qualified_recommendation_rate",
                "fill_rate",
            ],
        ),
    ]
    lines += [
        "",
        "## Budgets and credit balances that ran out",
        "",
        exhaustion_summary(result, tables["exhaustion"]),
        "",
        exhaustion_table(tables["exhaustion"]),
    ]
    lines += [
        "",
        "## Partners",
        "",
        md_table(
            tables["outcomes_partner"],
            [
                "partner_id",
                "governed_trust",
                "opportunities",
                "eligible",
                "slots_won",
                "presented",
                "conversions",
                "spend",
                "qualified_recommendation_rate",
                "fill_rate",
            ],
            currency=cur,
        ),
    ]
    for title, name, key in (
        ("Categories", "outcomes_category", "category"),
        ("Regions", "outcomes_region", "region"),
    ):
        lines += [
            "",
            f"## {title}",
            "",
            md_table(
                tables[name],
                [
                    key,
                    "opportunities",
                    "eligible",
                    "slots_requested",
                    "slots_won",
                    "fill_rate",
                    "presented",
                    "qualified_recommendation_rate",
                    "detail_view_rate",
                    "action_conversion_rate",
                    "spend",
                ],
                currency=cur,
            ),
        ]
    lines += [
        "",
        "## Gate failures (candidate evaluations)",
        "",
        md_table(tables["gate_failures"], ["gate", "failed"]),
    ]
    lines += [
        "",
        "## Files",
        "",
        "`ranking_report` holds every request's shortlist with every score; `candidates` the long frame "
        "(request × candidate) when it is small"
        + f" ({long_rows} rows here{'' if long_rows <= LONG_FRAME_LIMIT else ', so it is not written'}), "
        "`candidate_groups` the same per distinct signature and budget epoch with a request count.",
        "",
    ]
    return "\n".join(lines)


def compare_summary(base: RunResult, variant: RunResult, comparison: Any) -> str:
    lines = [
        f"# Compare `{base.scenario.name}`: baseline vs `--set {' '.join(variant.scenario.overrides)}`",
        "",
    ]
    lines += ["## KPIs", "", kpi_delta_table(comparison.kpis, comparison.currency)]
    lines += [
        "",
        f"Requests whose shortlist changed: {comparison.changed_requests:,} of {base.traffic.size:,}.",
        "",
    ]
    gained = comparison.slot_share.filter(pl.col("slots_delta") > 0)
    lost = comparison.slot_share.filter(pl.col("slots_delta") < 0)
    cols = [
        "campaign_id",
        "slots_baseline",
        "slots_variant",
        "slots_delta",
        "share_baseline",
        "share_variant",
        "share_delta",
    ]
    lines += ["## Campaigns that gained slots", "", md_table(gained, cols) if gained.height else "None.", ""]
    lines += ["## Campaigns that lost slots", "", md_table(lost, cols) if lost.height else "None.", ""]
    lines += ["## Slot share per campaign", "", md_table(comparison.slot_share, cols), ""]
    lines += [
        "## Rank shifts",
        "",
        md_table(
            comparison.rank_shifts,
            [
                "campaign_id",
                "mean_position_baseline",
                "mean_position_variant",
                "moved_up",
                "moved_down",
                "entered",
                "dropped",
                "unchanged",
            ],
        ),
        "",
    ]
    if comparison.segments:
        lines += segments_section(comparison)
    return "\n".join(lines)


def pricing_summary(comparison: Any) -> str:
    """``pricing_report.PricingComparison`` as Markdown: the rules side by side, then per campaign."""
    cur = comparison.currency
    lines = [
        f"# Pricing rules side by side (reserve {fmt_value('reserve', comparison.reserve, cur)})",
        "",
        "Same traffic, same funnel and billing draws; only the rule changes. The exchange itself bills the "
        "payout (`fixed`): these rules are a simulation.",
        "",
        md_table(comparison.rules, comparison.rules.columns, currency=cur),
        "",
        "`payout_minus_price` is the advertisers' surplus over their payout (what the rule saved them).",
        "",
        "## Per campaign",
        "",
        md_table(comparison.campaigns, comparison.campaigns.columns, limit=3 * MAX_ROWS, currency=cur),
        "",
    ]
    return "\n".join(lines)


def segments_section(comparison: Any) -> list[str]:
    """Per breakdown asked for (``--by``): what it counts, and the main KPIs per segment."""
    from workbench.engine.segment_compare import SHOWN_METRICS, wide
    from workbench.engine.segments import NOTES

    lines = ["## Segments", "", comparison.moved_line(), ""]
    for by, frame in comparison.segments.items():
        table = wide(frame)
        cols = [
            "segment",
            *[f"{m}_{side}" for m in SHOWN_METRICS for side in ("baseline", "variant", "delta")],
        ]
        lines += [
            f"### By {by.replace('_', ' ')}",
            "",
            NOTES[by],
            "",
            md_table(table, cols, currency=comparison.currency),
            "",
            f"Every metric per segment: `compare_segments_{by}` (one row per segment and metric).",
            "",
        ]
    return lines
