"""What each number of the workbench measures, and how a person reads it.

One table for every place that shows a figure (the lab, the reports screen, the
Markdown summaries, ``workbench run`` and ``compare``): counts are integers
(``20,000``, never ``20,000.00``), money carries its currency (``943,260.00 USD``),
rates are fractions (``0.3927``) or, on screen, percentages (``39.3%``, a delta in
percentage points), scores keep four decimals. The exported tables keep the raw
values; this is only how they are written for reading.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

COUNT, MONEY, RATE, SCORE, SECONDS = "count", "money", "rate", "score", "seconds"

RATES = frozenset(
    {
        "qualified_recommendation_rate",
        "detail_view_rate",
        "handoff_rate",
        "action_conversion_rate",
        "disclosure_shown_rate",
        "fill_rate",
        "share_baseline",
        "share_variant",
        "share_delta",
        "tied_share",
        "share_of_traffic",
        "price_to_payout",
    }
)
MONEY_NAMES = frozenset(
    {
        "spend",
        "settled_amount",
        "failed_amount",
        "budget",
        "budget_left",
        "payout",
        "spend_before",
        "bid",
        "amount",
        "committed_spend",
        "limit",
        "revenue",
        "reserve",
        "payout_minus_price",
        "price",
    }
)
COUNTS = frozenset(
    {
        "requests",
        "distinct_intents",
        "signatures",
        "epochs",
        "requests_with_eligible",
        "slots_requested",
        "shortlisted",
        "presented",
        "viewed",
        "interacted",
        "conversions",
        "settlements",
        "settled",
        "failed",
        "retries",
        "dead_letters",
        "campaigns_out_of_budget",
        "workspaces_out_of_credits",
        "slots_at_priority_cap",
        "slots_tied_at_priority_cap",
        "billing_refused",
        "longFrameRows",
        "opportunities",
        "eligible",
        "slots_won",
        "slots",
        "presented_with_disclosure",
        "presented_intents",
        "billable_events",
        "intents",
        "request_index",
        "slots_baseline",
        "slots_variant",
        "slots_delta",
        "moved_up",
        "moved_down",
        "entered",
        "dropped",
        "unchanged",
        "changed_requests",
        "failed_evaluations",
        "baseline_evaluations",
        "current_evaluations",
        "budget_exhausted_at_request",
        "last_exhausted_at_request",
    }
)
DURATIONS = frozenset({"after_seconds", "seconds_to_final"})
MIXED = "mixed currencies"


# A comparison's columns name their metric and the side: ``spend_baseline``, ``fill_rate_delta``.
SIDES = ("_baseline", "_variant", "_delta")
_KNOWN = MONEY_NAMES | RATES | DURATIONS | COUNTS


def unit_of(name: str, value: Any = None) -> str:
    if name not in _KNOWN:
        name = next((name.removesuffix(s) for s in SIDES if name.endswith(s)), name)
    if name in MONEY_NAMES:
        return MONEY
    if name in RATES:
        return RATE
    if name in DURATIONS:
        return SECONDS
    if name in COUNTS or (isinstance(value, int) and not isinstance(value, bool)):
        return COUNT
    return SCORE


def currency_of(currencies: Iterable[str]) -> str:
    """The one currency of a set of amounts (``MIXED`` when they differ: their sum has no unit)."""
    distinct = sorted(set(currencies))
    return distinct[0] if len(distinct) == 1 else MIXED if distinct else ""


def fmt_money(value: float, currency: str = "", signed: bool = False) -> str:
    text = f"{value:+,.2f}" if signed else f"{value:,.2f}"
    return f"{text} {currency}" if currency else text


def fmt_value(
    name: str, value: Any, currency: str = "", *, percent: bool = False, signed: bool = False
) -> str:
    """``value`` of the metric or column ``name`` as a person reads it (``signed``: a delta)."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    unit = unit_of(name, value)
    if unit == COUNT:
        number = round(value)
        return f"{number:+,}" if signed else f"{number:,}"
    if unit == MONEY:
        return fmt_money(float(value), currency, signed)
    if unit == SECONDS:
        return f"{value:+,.1f} s" if signed else f"{value:,.1f} s"
    if unit == RATE and percent:
        return f"{100 * value:+.1f} pp" if signed else f"{100 * value:.1f}%"
    return f"{value:+.4f}" if signed else f"{value:.4f}"
