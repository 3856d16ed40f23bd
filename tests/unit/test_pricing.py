"""The pricing rules' arithmetic (``server.domain.pricing``), checked by hand on small examples.

Three candidates under the default weights (bid weight 0.10), bid normaliser M = max(1, 100) = 100:

    candidate  enum order  payout  base (priority without the bid)  priority = base + 0.10 · payout / 100
    A          0           100     0.60                             0.70
    B          1            40     0.64                             0.68
    C          2            50     0.60                             0.65

Rank: A, B, C. A keeps rank 1 while 0.60 + 0.001 · b ≥ 0.68, i.e. b ≥ 80.00 (A is enumerated before B, so
a tie keeps it first). B keeps rank 2 while 0.64 + 0.001 · b ≥ 0.65, i.e. b ≥ 10.00. C has no one after it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from server.domain.pricing import enters_auction, second_price, slot_price

M, W = 100.0, 0.10


def price(
    payout: float, base: float, next_priority: float, *, reserve: float = 0.0, strict: bool = False
) -> float:
    return float(
        second_price(
            payout=payout,
            reserve=reserve,
            base=base,
            next_priority=next_priority,
            max_bid=M,
            bid_weight=W,
            strict=strict,
        )
    )


def test_three_candidates_each_pay_what_keeps_their_rank() -> None:
    assert price(100.0, 0.60, 0.68) == 80.00
    assert price(40.0, 0.64, 0.65) == 10.00
    assert price(50.0, 0.60, math.nan) == 0.0  # the last candidate: nobody to stay ahead of


def test_a_tie_that_would_lose_costs_one_cent_more() -> None:
    # A enumerated after B: at 0.68 each, B would rank first, so A must beat it strictly
    assert price(100.0, 0.60, 0.68, strict=True) == 80.01


def test_the_price_rounds_up_to_the_cent() -> None:
    # 0.60 + 0.001 · b ≥ 0.683 45 → b ≥ 83.45 exactly; 0.683 451 → 83.451 → 83.46
    assert price(100.0, 0.60, 0.68345) == 83.45
    assert price(100.0, 0.60, 0.683451) == 83.46


def test_a_binding_reserve_and_the_payout_cap() -> None:
    assert price(40.0, 0.64, 0.65, reserve=15.0) == 15.0  # 10.00 < reserve
    assert price(50.0, 0.60, math.nan, reserve=5.0) == 5.0  # a single candidate pays the reserve
    # the tie point is the payout itself and a tie would lose: never above the payout
    assert price(80.0, 0.60, 0.68, strict=True) == 80.0


def test_a_zero_bid_weight_cannot_move_the_rank_so_the_reserve_is_the_price() -> None:
    got = second_price(
        payout=np.array([100.0, 40.0]),
        reserve=3.0,
        base=np.array([0.7, 0.65]),
        next_priority=np.array([0.65, np.nan]),
        max_bid=M,
        bid_weight=0.0,
        strict=np.array([False, False]),
    )
    assert got.tolist() == [3.0, 3.0]


def test_a_base_already_ahead_pays_the_reserve() -> None:
    assert price(100.0, 0.70, 0.65, reserve=2.5) == 2.5


def test_arrays_price_like_scalars() -> None:
    got = second_price(
        payout=np.array([100.0, 40.0, 50.0]),
        reserve=0.0,
        base=np.array([0.60, 0.64, 0.60]),
        next_priority=np.array([0.68, 0.65, np.nan]),
        max_bid=np.full(3, M),
        bid_weight=W,
        strict=np.array([False, False, False]),
    )
    assert got.tolist() == [80.0, 10.0, 0.0]


@pytest.mark.parametrize(
    ("rule", "expected"), [("fixed", [True, True, True]), ("first_price", [False, True, True])]
)
def test_who_enters_the_auction(rule, expected) -> None:
    assert enters_auction(rule, np.array([4.99, 5.0, 80.0]), 5.0).tolist() == expected
    assert enters_auction("second_price", np.array([4.99, 5.0]), 5.0).tolist() == [False, True]


def test_fixed_and_first_price_bill_the_payout() -> None:
    assert slot_price("fixed", payout=42.0, second=10.0) == 42.0
    assert slot_price("first_price", payout=42.0, second=10.0) == 42.0
    assert slot_price("second_price", payout=42.0, second=10.0) == 10.0
