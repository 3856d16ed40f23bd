"""``GET /system/ranking-config``: the RankingConfig the server ranks with and the evaluation clock."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from litestar import Controller, get

from ..domain.models import Base
from ..domain.ranking_config import RankingConfig, weight_sum
from ..services.context import Services


class RankingWeights(Base, kw_only=True):
    relevance: float
    utility: float
    trust: float
    affective_fit: float
    bid: float


class RankingFloors(Base, kw_only=True):
    """The floors of a request that states none of its own."""

    relevance: float
    utility: float


class FreshnessTier(Base, kw_only=True):
    max_age_days: float
    value: float


class RankingFactors(Base, kw_only=True):
    """Spec §5's factor constants."""

    category_mismatch: float
    task_mismatch: float
    region_mismatch: float
    targeting_mismatch: float
    freshness_tiers: list[FreshnessTier]
    freshness_stale: float
    relevance_mix: list[float]
    utility_mix: list[float]
    affective_mix: list[float]
    reputation_point: float
    under_review_factor: float
    dispute_penalty: float


class RankingConfigReport(Base, kw_only=True):
    source: Literal["defaults", "RANKING_CONFIG_FILE"]
    weights: RankingWeights
    weight_sum: float
    floors: RankingFloors
    factors: RankingFactors
    # EXCHANGE_CLOCK as set: "wall", "fixed:<time>" or "offset:<time>"
    clock: str
    # the time a request would be ranked at now
    evaluated_at: datetime


def ranking_config_report(svc: Services) -> RankingConfigReport:
    cfg: RankingConfig = svc.ranking
    w, f, k = cfg.weights, cfg.floors, cfg.factors
    return RankingConfigReport(
        source="RANKING_CONFIG_FILE" if svc.settings.ranking_config_file else "defaults",
        weights=RankingWeights(
            relevance=w.relevance, utility=w.utility, trust=w.trust, affective_fit=w.affective_fit, bid=w.bid
        ),
        weight_sum=weight_sum(w),
        floors=RankingFloors(relevance=f.relevance, utility=f.utility),
        factors=RankingFactors(
            category_mismatch=k.category_mismatch,
            task_mismatch=k.task_mismatch,
            region_mismatch=k.region_mismatch,
            targeting_mismatch=k.targeting_mismatch,
            freshness_tiers=[FreshnessTier(max_age_days=a, value=v) for a, v in k.freshness_tiers],
            freshness_stale=k.freshness_stale,
            relevance_mix=list(k.relevance_mix),
            utility_mix=list(k.utility_mix),
            affective_mix=list(k.affective_mix),
            reputation_point=k.reputation_point,
            under_review_factor=k.under_review_factor,
            dispute_penalty=k.dispute_penalty,
        ),
        clock=svc.settings.exchange_clock.describe(),
        evaluated_at=svc.evaluation_now(),
    )


class RankingConfigController(Controller):
    tags = ["system"]

    @get(
        "/system/ranking-config",
        description="The RankingConfig the server ranks with (weights, default floors, factor constants; "
        "from RANKING_CONFIG_FILE or spec §5's defaults) and the evaluation clock (EXCHANGE_CLOCK).",
    )
    async def ranking_config(self, svc: Services) -> RankingConfigReport:
        return ranking_config_report(svc)
