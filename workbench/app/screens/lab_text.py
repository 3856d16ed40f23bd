"""What the ranking lab says in words: the status pane, the stale-result note, the weight-sum warning,
the movers and the ran-out rows (pure functions of a result and the inputs)."""

from __future__ import annotations

import polars as pl

from server.domain.ranking_config import RankingConfig, weight_sum, weights_sum_to_one
from workbench.engine.limits import fmt_after
from workbench.engine.scenario import Scenario, traffic_requests
from workbench.engine.tuning import LabOutcome, fmt_setting, settings_diff

# Column headings of the lab's tables.
SHARE_HEADERS = {
    "campaign_id": "campaign",
    "slots_baseline": "base slots",
    "slots_variant": "slots",
    "slots_delta": "Δ slots",
    "share_baseline": "base share",
    "share_variant": "share",
    "share_delta": "Δ share",
}
SHARE_FORMATS = {"share_baseline": "{:.1%}", "share_variant": "{:.1%}", "share_delta": "{:+.1%}"}
GATE_HEADERS = {"gate": "gate failed", "baseline": "baseline", "current": "current", "delta": "Δ"}
SHORTLIST_HEADERS = {
    "intent_id": "intent",
    "position": "pos",
    "campaign_id": "campaign",
    "partner_id": "partner",
    "affective_fit": "affective",
    "bid_norm": "bid (norm)",
    "priority_score": "priority",
}
RAN_OUT_HEADERS = {
    "kind": "ran out",
    "id": "campaign / workspace",
    "request_no": "at request",
    "share_of_traffic": "of traffic",
    "at": "time (UTC)",
    "into": "into the traffic",
    "limit": "budget / credits",
}
KPI_TITLE = "KPIs: current settings against the pinned baseline"
MOVERS = 4  # campaigns named per line of movers


def outcome_lines(o: LabOutcome, pinned: bool) -> list[str]:
    """The status pane's account of a result: against which baseline, what changed, what ran out."""
    changes = settings_diff(o.baseline.cfg, o.run.cfg)
    source = "pinned" if pinned else "the scenario's own"
    lines = [f"[b]Baseline[/b]: {source}"]
    lines += ["[b]Changed[/b]:", *changes] if changes else ["No change against it."]
    changed, total = o.comparison.changed_requests, o.run.traffic.size
    lines.append(f"{changed:,} of {total:,} requests get another shortlist.")
    ran_out = o.tables["exhaustion"]
    if ran_out.height:
        last = ran_out.row(-1, named=True)
        budgets = int((ran_out["kind"] == "budget").sum())
        what = [plural(budgets, "budget"), plural(ran_out.height - budgets, "credit balance")]
        lines += [
            "",
            f"[b]Ran out[/b]: {' and '.join(w for w in what if w)}, the last at request "
            f"{last['request_no']:,} of {total:,} ({last['at']:%H:%M}); see the Ran out tab (t).",
        ]
    return lines


def stale_note(o: LabOutcome, scenario: Scenario, cfg: RankingConfig) -> str:
    """What differs between the result on screen and the inputs (after a cancelled or failed run)."""
    run = o.run
    differences = settings_diff(run.cfg, cfg)
    if scenario is not run.scenario:
        size, want = run.traffic.size, traffic_requests(scenario)
        differences += [f"requests {size:,}→{want:,}"] if size != want else ["traffic and budgets"]
    return "\n".join(
        [
            "[b reverse yellow] STALE [/] the results are not of the inputs (the last run was cancelled "
            "or failed). On screen → inputs:",
            *(differences or ["the baseline"]),
            "[b]enter[/b] in a field or [b]ctrl+r[/b] re-runs.",
        ]
    )


def plural(n: int, noun: str) -> str:
    return "" if not n else f"1 {noun}" if n == 1 else f"{n:,} {noun}s"


def ran_out_rows(table: pl.DataFrame) -> pl.DataFrame:
    """``limits.exhaustion`` as the lab lists it (time of day, how far into the traffic)."""
    return table.select(
        "kind",
        "id",
        "request_no",
        "share_of_traffic",
        pl.col("at").dt.strftime("%Y-%m-%d %H:%M:%S"),
        pl.col("after_seconds").map_elements(fmt_after, return_dtype=pl.String).alias("into"),
        pl.col("limit"),
        "currency",
    )


def cap_note(cfg: RankingConfig, outcome: LabOutcome | None) -> str | None:
    """Why a weight sum other than 1 matters, with the engine's count of slots tied at the 1.0 cap."""
    ties = outcome.cap_ties if outcome is not None and outcome.run.cfg == cfg else None
    if weights_sum_to_one(cfg.weights) and (ties is None or not ties.tied):
        return None
    lines = [f"[b $warning]⚠ weights sum to {fmt_setting(weight_sum(cfg.weights))}, not 1[/]"]
    if ties is None:
        lines.append("[dim]slots tied at the 1.0 cap: counted when the run ends[/dim]")
    elif ties.tied:
        lines.append(
            f"{ties.tied:,} of {ties.slots:,} shortlisted slots ({100 * ties.tied_share:.1f}%) tie at "
            "the 1.0 cap: their order is creation order, not score."
        )
    else:
        lines.append(f"no shortlisted slot ties at the 1.0 cap ({ties.at_cap:,} reach it).")
    lines.append("[b]n[/b] normalises the weights to 1.")
    return "\n".join(lines)


def movers_text(outcome: LabOutcome) -> str:
    """One line each for the campaigns that gained and lost slots against the baseline."""

    def names(frame: pl.DataFrame) -> str:
        rows = frame.head(MOVERS).iter_rows(named=True)
        items = [f"{row['campaign_id']} {row['slots_delta']:+,}" for row in rows]
        more = frame.height - MOVERS
        return ", ".join(items) + (f" and {more} more" if more > 0 else "")

    gained, lost = outcome.gainers, outcome.losers
    if not gained.height and not lost.height:
        return "[dim]No campaign gained or lost slots against the baseline.[/dim]"
    return "\n".join(
        [
            f"[green]▲ gained[/green] {names(gained) if gained.height else '—'}",
            f"[red]▼ lost[/red]   {names(lost) if lost.height else '—'}",
        ]
    )
