"""Pricing rules: what a shortlisted slot is billed (a simulation in the workbench; the exchange bills the payout).

- ``fixed`` (the exchange's rule): every billable event is billed the campaign's ``payoutAmount``; the
  reserve is ignored.
- ``first_price``: pay your bid. The bid is the payout, so a slot is billed its payout as under ``fixed``;
  what changes is the reserve: a candidate whose payout is below it does not enter the auction.
- ``second_price`` (generalised second price): a candidate whose payout is below the reserve does not
  enter; each shortlisted slot is billed the smallest amount that would have kept its rank, never above
  its payout nor below the reserve.

The second price of the candidate at rank k. Its priority is ``base + w_bid · bid / M`` (the published
formula, clamped to [0, 1]), where ``base`` is the priority without the bid term, ``w_bid`` the bid
weight and ``M`` the request's bid normaliser, max(1, highest eligible bid), held at its value. It keeps
its rank while that priority is at least the priority ``P_next`` of the candidate ranked just after it
(shortlisted or not); at equal priority the earlier candidate in enumeration order ranks first, so a
candidate enumerated after the next one must beat it strictly. The price is that bid in whole cents:
``(P_next − base) · M / w_bid`` rounded up to the cent (one cent above it when a tie would lose), then
clamped to [reserve, payout]. With no candidate after it, or a bid weight of 0 (the bid cannot move the
rank), the price is the reserve.

Every function works on Python floats and on numpy arrays alike (numpy's ufuncs), so the batch prices a
whole epoch at once with the same arithmetic a hand-checked example uses.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

PricingRule = Literal["fixed", "first_price", "second_price"]
PRICING_RULES: tuple[PricingRule, ...] = ("fixed", "first_price", "second_price")
# Float slack when a bid in cents is an exact whole number of cents up to rounding (a few ulps of 1e-2).
_CENT_SLACK = 1e-6


def enters_auction(rule: PricingRule, payout: Any, reserve: float) -> Any:
    """Whether a candidate competes: always under ``fixed``; otherwise its payout must meet the reserve."""
    if rule == "fixed":
        return payout >= -np.inf
    return payout >= reserve


def second_price(
    *,
    payout: Any,
    reserve: float,
    base: Any,
    next_priority: Any,
    max_bid: Any,
    bid_weight: float,
    strict: Any,
) -> Any:
    """The generalised second price (module docstring). ``next_priority`` is NaN when no candidate follows;
    ``strict`` is true where a tie with the next candidate would lose (it is enumerated first)."""
    payout = np.asarray(payout, dtype=np.float64)
    if bid_weight <= 0:
        return np.minimum(np.maximum(np.zeros_like(payout), reserve), payout)
    bid = (np.asarray(next_priority, dtype=np.float64) - base) * max_bid / bid_weight
    cents = np.asarray(bid * 100.0, dtype=np.float64)
    up: np.ndarray = np.where(strict, np.floor(cents + _CENT_SLACK) + 1.0, np.ceil(cents - _CENT_SLACK))
    rounded = np.where(np.isnan(up), 0.0, up / 100.0)
    return np.minimum(np.maximum(rounded, reserve), payout)


def slot_price(rule: PricingRule, *, payout: Any, second: Any) -> Any:
    """The amount a billable event of the slot costs under ``rule`` (``second``: its ``second_price``)."""
    return second if rule == "second_price" else payout
