"""The batch's prices: the domain's pricing rules (``server.domain.pricing``) over a ranked epoch.

``with_prices`` adds ``price`` to a ranked frame (sorted by signature, then rank): the amount a billable
event of that candidate's slot costs. The second price needs, per candidate, its priority without the
bid term (the domain's ``priority_score`` with no clamp and a zero bid) and the priority and
enumeration order of the candidate ranked just after it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from server.domain.pricing import second_price, slot_price
from server.domain.ranking import priority_score
from server.domain.ranking_config import RankingConfig
from workbench.engine.polars_ops import POLARS
from workbench.engine.scenario import PricingSpec

C = pl.col
FIXED = PricingSpec()


class _Unclamped:
    """``Ops`` whose clamp is the identity: the priority's linear sum, for the second price's ``base``."""

    where = staticmethod(POLARS.where)

    @staticmethod
    def clamp(value: Any) -> Any:
        return value


def with_prices(ranked: pl.DataFrame, cfg: RankingConfig, pricing: PricingSpec) -> pl.DataFrame:
    """``ranked`` (sorted by sig, eligible first, rank) with ``price`` for every eligible candidate."""
    if pricing.rule != "second_price":
        return ranked.with_columns(price=pl.when(C("eligible")).then(C("payout")))
    frame = ranked.with_columns(
        base=priority_score(
            cfg, _Unclamped(), C("relevance"), C("utility"), C("trust"), C("affective_fit"), pl.lit(0.0)
        ),
        next_priority=C("priority_score").shift(-1).over("sig"),
        next_order=C("cand_order").shift(-1).over("sig"),
    )
    eligible = frame["eligible"].to_numpy()
    second = second_price(
        payout=frame["payout"].to_numpy(),
        reserve=pricing.reserve,
        base=frame["base"].to_numpy(),
        next_priority=frame["next_priority"].fill_null(np.nan).to_numpy(),
        max_bid=frame["max_bid"].to_numpy(),
        bid_weight=cfg.weights.bid,
        strict=(frame["cand_order"] > frame["next_order"]).fill_null(False).to_numpy(),
    )
    price = slot_price(pricing.rule, payout=frame["payout"].to_numpy(), second=second)
    return frame.drop("base", "next_priority", "next_order").with_columns(
        price=pl.when(pl.Series(eligible)).then(pl.Series(price, dtype=pl.Float64))
    )
