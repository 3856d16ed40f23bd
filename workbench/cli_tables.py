"""The command line's tables (rich): KPIs and what ran out, every column as wide as its widest cell."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table
from rich.text import Text


def whole(table: Table) -> Table:
    """Every column at least as wide as its widest cell: on a narrow terminal the table grows past the
    edge (and the terminal wraps it) rather than cutting a name or a figure."""
    for column in table.columns:
        cells = [column.header, *column._cells]
        column.min_width = max(Text.from_markup(c).cell_len if isinstance(c, str) else 1 for c in cells)
        column.no_wrap = True
    return table


def kpi_table(title: str, kpis: dict) -> Table:
    from workbench.engine.reports import KPI_NAMES
    from workbench.engine.units import fmt_value

    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name in (
        *KPI_NAMES,
        "requests",
        "shortlisted",
        "presented",
        "conversions",
        "spend",
        "settled",
        "failed",
        "billing_refused",
        "dead_letters",
        "campaigns_out_of_budget",
        "workspaces_out_of_credits",
        "slots_tied_at_priority_cap",
    ):
        table.add_row(name, fmt_value(name, kpis[name], kpis["currency"]))
    return table


def exhaustion_table(result, table) -> tuple[str, Table | None]:
    """When each budget and credit balance ran out (``limits.exhaustion``), as a line and a table (None when
    nothing ran out): after the last, more traffic adds requests but no spend, so only the rates fall."""
    from workbench.engine.limits import exhaustion_summary, fmt_after
    from workbench.engine.units import fmt_value

    summary = exhaustion_summary(result, table)
    if not table.height:
        return summary, None
    ran_out = Table(title="budgets and credit balances that ran out", header_style="bold")
    for col in ("ran out", "id", "at request", "of traffic", "time (UTC)", "into the traffic", "limit"):
        ran_out.add_column(col, justify="right" if col in ("at request", "of traffic", "limit") else "left")
    for r in table.iter_rows(named=True):
        limit = (
            f"{r['limit']:,.0f} credits"
            if r["currency"] == "credits"
            else fmt_value("budget", r["limit"], r["currency"])
        )
        ran_out.add_row(
            str(r["kind"]),
            r["id"],
            f"{r['request_no']:,}",
            f"{100 * r['share_of_traffic']:.1f}%",
            f"{r['at']:%Y-%m-%d %H:%M:%S}",
            fmt_after(r["after_seconds"]),
            limit,
        )
    return summary, whole(ran_out)


def candidates_table(frame, title: str) -> Table:
    """A request's candidates (``explain.COLUMNS``): rank, scores, priority and the gates failed."""
    table = Table(title=title, header_style="bold")
    for col in (
        "campaign",
        "partner",
        "rank",
        "relevance",
        "utility",
        "trust",
        "affective",
        "bid_norm",
        "priority",
        "failed gates",
    ):
        table.add_column(
            col, justify="left" if col in ("campaign", "partner", "failed gates") else "right", no_wrap=True
        )

    def num(value) -> str:
        return "–" if value is None else f"{value:.4f}"

    for r in frame.iter_rows(named=True):
        rank = "–" if r["rank"] is None else (f"{r['rank']}*" if r["shortlisted"] else str(r["rank"]))
        table.add_row(
            r["campaign_id"],
            r["partner_id"],
            rank,
            num(r["relevance"]),
            num(r["utility"]),
            num(r["trust"]),
            num(r["affective_fit"]),
            num(r["bid_norm"]),
            num(r["priority_score"]),
            ", ".join(r["failed_gates"]) or "–",
        )
    return table


def sweep_table(frame, axes, title: str) -> Table:
    """One line per variant: its settings and the headline figures (the file has every KPI)."""
    table = Table(title=title, header_style="bold")
    cols = [
        ("#", "variant"),
        *[(a.key.removeprefix("ranking."), a.key) for a in axes],
        ("revenue", "revenue"),
        ("fill", "fill_rate"),
        ("qualified", "qualified_recommendation_rate"),
        ("relevance shown", "mean_relevance_shown"),
        ("surplus", "advertiser_surplus"),
        ("slot HHI", "slot_hhi"),
    ]
    for label, _ in cols:
        table.add_column(label, justify="right")
    for row in frame.iter_rows(named=True):
        cells = []
        for _, key in cols:
            value = row[key]
            if key in ("revenue", "advertiser_surplus"):
                cells.append(f"{value:,.2f}")
            elif isinstance(value, float):
                cells.append(f"{value:.4f}")
            else:
                cells.append(str(value))
        table.add_row(*cells)
    return table


def optimisation_tables(result, name: str) -> list[Table]:
    """The best feasible setting against the baseline, and the best trials."""
    from server.domain.ranking_config import FLOOR_NAMES, WEIGHT_NAMES
    from workbench.engine.reports import KPI_NAMES

    metrics = list(
        dict.fromkeys(
            [
                result.objective,
                *(c.column for c in result.constraints),
                "revenue",
                "advertiser_surplus",
                *KPI_NAMES,
                "slot_hhi",
            ]
        )
    )
    versus = Table(
        title=f"{name}: best feasible setting (maximising {result.objective}) against the baseline",
        header_style="bold",
    )
    for col in ("metric", "baseline", "best", "delta"):
        versus.add_column(col, justify="left" if col == "metric" else "right")

    def fmt(value) -> str:
        return f"{value:,.2f}" if abs(value) >= 100 else f"{value:.4f}"

    best = result.best or {}
    for m in metrics:
        b = float(result.baseline[m])
        v = best.get(m)
        versus.add_row(
            m, fmt(b), "–" if v is None else fmt(float(v)), "–" if v is None else fmt(float(v) - b)
        )
    cfg = result.best_cfg
    if cfg is not None:
        for n in WEIGHT_NAMES:
            versus.add_row(f"weight {n}", "", f"{getattr(cfg.weights, n):.6f}", "")
        for n in FLOOR_NAMES:
            versus.add_row(f"floor {n}", "", f"{getattr(cfg.floors, n):.2f}", "")
    trials = Table(
        title=f"the best of {result.trials.height} trials (seed {result.seed})", header_style="bold"
    )
    frame = result.trials.sort(["feasible", result.objective, "trial"], descending=[True, True, False]).head(
        10
    )
    for col in frame.columns:
        trials.add_column(col, justify="right")
    for row in frame.iter_rows():
        trials.add_row(
            *[
                ("yes" if v else "no") if isinstance(v, bool) else fmt(v) if isinstance(v, float) else str(v)
                for v in row
            ]
        )
    return [versus, trials]


def segment_table(by: str, frame, currency: str) -> Table:
    """``compare --by``: the main KPIs per segment, baseline → variant (Δ), deltas coloured."""
    from workbench.engine.segment_compare import SHOWN_LABELS, SHOWN_METRICS, wide
    from workbench.engine.segments import NOTES
    from workbench.engine.units import fmt_value

    table = Table(
        title=f"by {by.replace('_', ' ')} (baseline → variant)",
        caption=NOTES[by],
        caption_justify="left",
        header_style="bold",
    )
    table.add_column(by.replace("_", " "))
    for m in SHOWN_METRICS:
        for label in (SHOWN_LABELS[m], "Δ"):
            table.add_column(label, justify="right")
    for row in wide(frame).iter_rows(named=True):
        cells = [escape(str(row["segment"]))]
        for m in SHOWN_METRICS:
            delta = row[f"{m}_delta"]
            shown = fmt_value(m, delta, currency, percent=True, signed=True)
            style = "green" if delta > 0 else "red" if delta < 0 else "dim"
            cells += [
                f"{fmt_value(m, row[f'{m}_baseline'], currency, percent=True)} → "
                f"{fmt_value(m, row[f'{m}_variant'], currency, percent=True)}",
                f"[{style}]{shown}[/]",
            ]
        table.add_row(*cells)
    return table
