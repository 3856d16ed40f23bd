"""The pricing rules side by side: the same scenario (same traffic, same funnel and billing draws) run under
``fixed``, ``first_price`` and ``second_price`` with one reserve (``server.domain.pricing``).

- ``rules``: one row per rule: revenue (what advertisers were billed, the settlements' amounts),
  settlements, shortlisted slots, fill rate, the advertiser surplus over the payout (``payout_minus_price``:
  Σ payout − price over the settlements; 0 under ``fixed`` and ``first_price``), the mean price as a share
  of the payout, and the campaigns whose budget closed.
- ``campaigns``: per campaign and rule, its slots, spend and surplus, and its slot change against ``fixed``.

The rules differ in two ways only: the reserve keeps a candidate whose payout is below it out of the
auction (first and second price), and the second price bills less, so a budget lasts longer and its
campaign keeps winning slots it would have lost under ``fixed``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from pathlib import Path

import msgspec
import numpy as np
import polars as pl

from server.domain.pricing import PRICING_RULES, PricingRule
from workbench.engine.exports import write_table
from workbench.engine.pipeline import RunResult, run_scenario
from workbench.engine.reports import Facts, overall_kpis
from workbench.engine.scenario import PricingSpec, Scenario

C = pl.col


@dataclasses.dataclass(frozen=True)
class PricingComparison:
    reserve: float
    currency: str
    rules: pl.DataFrame
    campaigns: pl.DataFrame


def under_rule(scenario: Scenario, rule: PricingRule, reserve: float) -> Scenario:
    """``scenario`` with ``[pricing]`` replaced (everything else, the seed included, unchanged)."""
    spec = msgspec.structs.replace(scenario.spec, pricing=PricingSpec(rule=rule, reserve=reserve))
    return dataclasses.replace(scenario, spec=spec)


def _per_campaign(result: RunResult) -> pl.DataFrame:
    n = len(result.market.payout)
    s = result.simulation.settlements
    ci = s["ci"].to_numpy()
    amount = s["amount"].to_numpy()
    slots = np.bincount(result.simulation.slots["ci"].to_numpy(), minlength=n)
    return pl.DataFrame(
        {
            "campaign_id": result.market.campaigns["campaign_id"],
            "payout": result.market.payout,
            "slots": slots.astype(np.int64),
            "settlements": np.bincount(ci, minlength=n).astype(np.int64),
            "spend": np.bincount(ci, weights=amount, minlength=n),
            "payout_minus_price": np.bincount(ci, weights=result.market.payout[ci] - amount, minlength=n),
        }
    )


def _rule_row(rule: str, reserve: float, result: RunResult, per: pl.DataFrame) -> dict[str, object]:
    kpis = overall_kpis(Facts(result))
    paid = float(per["spend"].sum())
    list_price = paid + float(per["payout_minus_price"].sum())
    return {
        "rule": rule,
        "reserve": reserve,
        "revenue": paid,
        "settlements": int(per["settlements"].sum()),
        "shortlisted": int(kpis["shortlisted"]),
        "fill_rate": float(kpis["fill_rate"]),
        "payout_minus_price": float(per["payout_minus_price"].sum()),
        "price_to_payout": paid / list_price if list_price else 0.0,
        "campaigns_out_of_budget": int(kpis["campaigns_out_of_budget"]),
    }


def compare_pricing(
    scenario: Scenario, reserve: float | None = None, rules: Iterable[PricingRule] = PRICING_RULES
) -> PricingComparison:
    """Run ``scenario`` under each rule (``reserve``: the scenario's own when None)."""
    reserve = scenario.spec.pricing.reserve if reserve is None else reserve
    rows, frames = [], []
    currency = ""
    for rule in rules:
        result = run_scenario(under_rule(scenario, rule, reserve))
        per = _per_campaign(result)
        rows.append(_rule_row(rule, reserve, result, per))
        frames.append(per.with_columns(rule=pl.lit(rule)))
        currency = str(overall_kpis(Facts(result))["currency"])
    campaigns = pl.concat(frames)
    fixed = campaigns.filter(C("rule") == "fixed").select("campaign_id", slots_fixed=C("slots"))
    if fixed.height:
        campaigns = campaigns.join(fixed, on="campaign_id", how="left").with_columns(
            slots_delta=C("slots") - C("slots_fixed")
        )
        campaigns = campaigns.drop("slots_fixed")
    return PricingComparison(
        reserve=reserve,
        currency=currency,
        rules=pl.DataFrame(rows),
        campaigns=campaigns.select("rule", pl.exclude("rule")),
    )


def write_pricing(comparison: PricingComparison, out: Path, formats: Iterable[str]) -> list[Path]:
    from workbench.engine.markdown import pricing_summary

    formats = tuple(formats)
    out.mkdir(parents=True, exist_ok=True)
    written = write_table(comparison.rules, out, "pricing_rules", formats)
    written += write_table(comparison.campaigns, out, "pricing_campaigns", formats)
    if "md" in formats:
        path = out / "pricing.md"
        path.write_text(pricing_summary(comparison), encoding="utf-8")
        written.append(path)
    return sorted(written)
