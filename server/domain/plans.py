"""The four plans a workspace may be on (api.md "Wallet and Stripe": ``GET /plans``).

The specification names the plans (trial, starter, growth, enterprise) but gives no
numbers; the limits below are this server's published catalogue. ``None`` means
"no limit" (enterprise terms are agreed per contract). The catalogue is informational:
nothing on the server enforces a plan's limits yet, and every workspace's credits are
governed by its wallet alone (``domain.wallet``).
"""

from __future__ import annotations

from .models import Base
from .wallet import PROMO_GRANT_CREDITS


class PlanLimits(Base, kw_only=True):
    """What a plan allows; ``None`` is unlimited."""

    active_campaigns: int | None
    targeted_partners_per_campaign: int | None
    evaluations_per_minute: int | None
    included_credits_per_month: int | None


class Plan(Base, kw_only=True):
    plan_id: str
    name: str
    monthly_price_cents: int | None  # None: priced per contract
    description: str
    limits: PlanLimits


PLANS: tuple[Plan, ...] = (
    Plan(
        plan_id="trial",
        name="Trial",
        monthly_price_cents=0,
        description=f"One campaign to try the exchange with the {PROMO_GRANT_CREDITS} promotional credits "
        "every workspace starts with; top up to keep serving.",
        limits=PlanLimits(
            active_campaigns=1,
            targeted_partners_per_campaign=3,
            evaluations_per_minute=60,
            included_credits_per_month=0,
        ),
    ),
    Plan(
        plan_id="starter",
        name="Starter",
        monthly_price_cents=4_900,
        description="A small advertiser: a few campaigns and a monthly allowance of credits.",
        limits=PlanLimits(
            active_campaigns=5,
            targeted_partners_per_campaign=10,
            evaluations_per_minute=600,
            included_credits_per_month=1_000,
        ),
    ),
    Plan(
        plan_id="growth",
        name="Growth",
        monthly_price_cents=19_900,
        description="A growing advertiser: many campaigns across partners, a larger allowance.",
        limits=PlanLimits(
            active_campaigns=25,
            targeted_partners_per_campaign=50,
            evaluations_per_minute=3_000,
            included_credits_per_month=5_000,
        ),
    ),
    Plan(
        plan_id="enterprise",
        name="Enterprise",
        monthly_price_cents=None,
        description="Terms agreed per contract: no fixed limits.",
        limits=PlanLimits(
            active_campaigns=None,
            targeted_partners_per_campaign=None,
            evaluations_per_minute=None,
            included_credits_per_month=None,
        ),
    ),
)
