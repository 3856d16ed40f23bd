"""The market as columns: campaigns, partners and campaign × partner pairs for the batch engine.

Everything that depends on one entity (or one pair) is computed here once, in
Python, with the server's own functions (``governed_trust``, ``age_in_days``,
``non_empty_variants``, ``policy_pass``, ``disclosure_ready``,
``partner_passes_prefilter``), so the batch path cannot drift from the
per-request path on those rules; only what depends on the request is left to
the polars expressions of ``batch``.

``build_market`` is one long function on purpose: it lays out the market's tables column by
column in one pass over the campaigns and partners, each column next to the rule it applies.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import polars as pl

from server.domain.models import Campaign, PartnerAgent, ReputationRecord
from server.domain.ranking import (
    CampaignState,
    Market,
    PartnerState,
    age_in_days,
    disclosure_ready,
    governed_trust,
    non_empty_variants,
    partner_passes_prefilter,
    policy_pass,
)
from server.domain.ranking_config import RankingConfig
from server.domain.receipts import CPA_BILLABLE_EVENT
from workbench.engine.scenario import Scenario

# The funnel stage a slot must reach for its receipt to be billable (stage 0 = shortlisted,
# 1 presented, 2 viewed, 3 interacted, 4 converted).
STAGE_OF_EVENT = {
    "offer.shortlisted": 0,
    "offer.presented": 1,
    "owner.viewed": 2,
    "owner.interacted": 3,
    CPA_BILLABLE_EVENT: 4,
}


@dataclass(frozen=True)
class MarketTables:
    campaigns: pl.DataFrame  # ci, campaign facts
    partners: pl.DataFrame  # pi, partner facts (governed trust)
    pairs: pl.DataFrame  # ci, pi, targeting match, policy and disclosure gates
    workspaces: tuple[str, ...]
    # numpy views the budget bookkeeping needs, indexed by ci / workspace index
    spend0: np.ndarray
    payout: np.ndarray
    budget: np.ndarray
    billable_stage: np.ndarray  # int8 per campaign
    workspace_of: np.ndarray  # int32 per campaign
    credits0: np.ndarray  # float per workspace (inf = not modelled)
    active_partners: int
    source_campaigns: tuple[Campaign, ...]
    source_partners: tuple[PartnerState, ...]

    @property
    def total_candidates(self) -> int:
        """campaigns × active partners, counted before the prefilter (spec §5)."""
        return len(self.source_campaigns) * self.active_partners

    def prefilter(self, categories: list[str]) -> pl.DataFrame:
        """(pi, r_category) for every partner that passes the prefilter for that request category."""
        rows = [
            (pi, cat)
            for cat in categories
            for pi, ps in enumerate(self.source_partners)
            if partner_passes_prefilter(ps.partner, cat)
        ]
        return pl.DataFrame(
            {"pi": [r[0] for r in rows], "r_category": [r[1] for r in rows]},
            schema={"pi": pl.Int32, "r_category": pl.String},
        )

    def market(self, committed: np.ndarray | None = None, credits_ok: np.ndarray | None = None) -> Market:
        """The per-request ``Market`` with the given spend per campaign and credit state per workspace."""
        states = []
        for ci, c in enumerate(self.source_campaigns):
            spend = float(self.spend0[ci]) if committed is None else float(committed[ci])
            ok = True if credits_ok is None else bool(credits_ok[self.workspace_of[ci]])
            states.append(CampaignState(campaign=c, committed_spend=spend, credits_available=ok))
        return Market(campaigns=tuple(states), partners=self.source_partners)


def build_market(
    cfg: RankingConfig,
    campaigns: tuple[Campaign, ...],
    partners: tuple[PartnerAgent, ...],
    records: tuple[ReputationRecord, ...],
    clock: datetime,
    *,
    committed_spend: dict[str, float] | None = None,
    disputed_settlements: dict[str, int] | None = None,
    credits: dict[str, float] | None = None,
    cpqr_billable_event: str = "offer.shortlisted",
) -> MarketTables:
    committed_spend = committed_spend or {}
    disputed_settlements = disputed_settlements or {}
    credits = credits or {}
    by_partner: dict[str, list[ReputationRecord]] = {}
    for record in records:
        by_partner.setdefault(record.partner_id, []).append(record)
    pstates = tuple(
        PartnerState(
            partner=p,
            governed_trust=governed_trust(
                cfg,
                p.trust_score,
                by_partner.get(p.partner_id, []),
                disputed_settlements.get(p.partner_id, 0),
            ),
        )
        for p in partners
    )
    workspaces = tuple(dict.fromkeys(c.workspace_id for c in campaigns))
    ws_index = {w: i for i, w in enumerate(workspaces)}
    cpqr_stage = STAGE_OF_EVENT[cpqr_billable_event]

    camp = pl.DataFrame(
        {
            "ci": list(range(len(campaigns))),
            "campaign_id": [c.campaign_id for c in campaigns],
            "offer_id": [c.offer.offer_id for c in campaigns],
            "advertiser": [c.advertiser for c in campaigns],
            "c_category": [c.category for c in campaigns],
            "intended_for": [list(c.offer.intended_for) for c in campaigns],
            "regions": [list(c.regions) for c in campaigns],
            "billing_model": [c.billing_model for c in campaigns],
            "payout": [float(c.payout_amount) for c in campaigns],
            "budget": [float(c.budget) for c in campaigns],
            "spend0": [float(committed_spend.get(c.campaign_id, 0.0)) for c in campaigns],
            "currency": [c.currency for c in campaigns],
            "min_trust": [float(c.min_trust) for c in campaigns],
            "age_days": [age_in_days(c.proof_bundle.updated_at, clock) for c in campaigns],
            "variant_count": [non_empty_variants(c) for c in campaigns],
            "has_disclosure": [bool(c.disclosure_text.strip()) for c in campaigns],
            "wi": [ws_index[c.workspace_id] for c in campaigns],
            "workspace_id": [c.workspace_id for c in campaigns],
        },
        schema_overrides={"ci": pl.Int32, "wi": pl.Int32, "variant_count": pl.Int64},
    )
    part = pl.DataFrame(
        {
            "pi": list(range(len(pstates))),
            "partner_id": [ps.partner.partner_id for ps in pstates],
            "provider_org": [ps.partner.provider_org for ps in pstates],
            "governed_trust": [ps.governed_trust for ps in pstates],
        },
        schema_overrides={"pi": pl.Int32},
    )
    pair_rows = [
        (
            ci,
            pi,
            (not c.targeting_partner_ids) or ps.partner.partner_id in c.targeting_partner_ids,
            policy_pass(c, ps.partner),
            disclosure_ready(c, ps.partner),
        )
        for ci, c in enumerate(campaigns)
        for pi, ps in enumerate(pstates)
    ]
    pairs = pl.DataFrame(
        pair_rows,
        schema={
            "ci": pl.Int32,
            "pi": pl.Int32,
            "targeting_match": pl.Boolean,
            "policy_ok": pl.Boolean,
            "disclosure_ready": pl.Boolean,
        },
        orient="row",
    )
    return MarketTables(
        campaigns=camp,
        partners=part,
        pairs=pairs,
        workspaces=workspaces,
        spend0=camp["spend0"].to_numpy().copy(),
        payout=camp["payout"].to_numpy().copy(),
        budget=camp["budget"].to_numpy().copy(),
        billable_stage=np.array(
            [
                STAGE_OF_EVENT[CPA_BILLABLE_EVENT] if c.billing_model == "CPA" else cpqr_stage
                for c in campaigns
            ],
            dtype=np.int8,
        ),
        workspace_of=camp["wi"].to_numpy().astype(np.int32),
        credits0=np.array([float(credits.get(w, np.inf)) for w in workspaces], dtype=np.float64),
        active_partners=sum(1 for p in partners if p.status == "active"),
        source_campaigns=tuple(campaigns),
        source_partners=pstates,
    )


def market_for(scenario: Scenario, cfg: RankingConfig) -> MarketTables:
    """The scenario's market under ``cfg`` (its committed spend, disputes, credits and billable event)."""
    ent = scenario.spec.entities
    return build_market(
        cfg,
        scenario.campaigns,
        scenario.partners,
        scenario.reputation_records,
        scenario.spec.as_of,
        committed_spend=ent.committed_spend,
        disputed_settlements=ent.disputed_settlements,
        credits=ent.credits,
        cpqr_billable_event=scenario.spec.cpqr_billable_event,
    )
