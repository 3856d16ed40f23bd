"""Builders for the workbench tests: scenarios from Python values, and the per-request reference run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from server.domain.models import Campaign, OpportunityRequest, PartnerAgent, ReputationRecord
from server.domain.ranking import Market, Ranking, rank
from server.domain.ranking_config import RankingConfig
from workbench.engine.batch import CREDITS_BY_STAGE
from workbench.engine.pipeline import RunResult
from workbench.engine.replay_log import ReplayRequest
from workbench.engine.scenario import Scenario, ScenarioFile

ROOT = Path(__file__).resolve().parents[2]
CLOCK = "2026-03-11T12:00:00Z"


def campaign(cid: str, **overrides: Any) -> Campaign:
    base: dict[str, Any] = {
        "campaignId": cid,
        "dataProvenance": "demo_seed",
        "workspaceId": "ws_a",
        "advertiser": f"Advertiser {cid}",
        "category": "crm_software",
        "regions": ["UK"],
        "targetingPartnerIds": [],
        "billingModel": "CPQR",
        "payoutAmount": 100.0,
        "currency": "USD",
        "budget": 1000.0,
        "status": "active",
        "disclosureText": f"Sponsored by {cid}.",
        "policyPass": True,
        "minTrust": 0.65,
        "offer": {
            "offerId": f"offer_{cid}",
            "title": cid,
            "price": 10.0,
            "currency": "USD",
            "intendedFor": ["compare_and_shortlist"],
            "claims": ["A claim"],
            "actionEndpoints": ["https://vendor.dev/demo"],
            "narrativeVariants": {"rational": "r", "premium": "p", "simple": "s"},
        },
        "proofBundle": {
            "proofBundleId": f"proof_{cid}",
            "references": [],
            "updatedAt": "2026-03-01T00:00:00Z",
        },
    }
    for key, value in overrides.items():
        if key in ("offer", "proofBundle"):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return msgspec.convert(base, Campaign)


def partner(pid: str, **overrides: Any) -> PartnerAgent:
    base: dict[str, Any] = {
        "partnerId": pid,
        "dataProvenance": "demo_seed",
        "providerOrg": pid,
        "endpoint": f"https://{pid}.dev/opportunities",
        "status": "active",
        "supportedCategories": ["crm_software"],
        "acceptsSponsored": True,
        "supportsDisclosure": True,
        "supportsDeliveryReceipt": True,
        "supportsPresentationReceipt": True,
        "trustScore": 0.8,
    }
    base.update(overrides)
    return msgspec.convert(base, PartnerAgent)


def request(intent: str, **overrides: Any) -> ReplayRequest:
    base: dict[str, Any] = {
        "intentId": intent,
        "category": "crm_software",
        "taskType": "compare_and_shortlist",
    }
    base.update(overrides)
    return msgspec.convert(base, ReplayRequest)


def scenario(
    campaigns: list[Campaign],
    partners: list[PartnerAgent],
    requests: list[ReplayRequest],
    records: list[ReputationRecord] = (),
    cfg: RankingConfig | None = None,
    **spec: Any,
) -> Scenario:
    raw: dict[str, Any] = {"name": "t", "seed": 7, "as_of": CLOCK, "traffic": {"replay": "inline.jsonl"}}
    for key, value in spec.items():
        raw[key] = value
    file = msgspec.convert(raw, ScenarioFile)
    return Scenario(
        path=Path("inline.toml"),
        spec=file,
        ranking=cfg or RankingConfig(),
        campaigns=tuple(campaigns),
        partners=tuple(partners),
        reputation_records=tuple(records),
        replay_requests=tuple(requests),
    )


@dataclass
class ReferenceStep:
    request: OpportunityRequest
    ranking: Ranking
    market: Market  # what the request was ranked against (spend and credits as the requests before left them)


def reference_run(result: RunResult) -> list[ReferenceStep]:
    """The per-request path with the engine's budget semantics: requests in arrival order, each ranked by
    ``server.domain.ranking.rank`` against the market as the slots before it left it."""
    market, traffic = result.market, result.traffic
    sigs = traffic.signatures.to_dicts()
    billed = np.zeros(len(market.payout), dtype=np.int64)
    used = np.zeros(len(market.credits0), dtype=np.float64)
    index = {c.campaign_id: i for i, c in enumerate(market.source_campaigns)}
    intents = traffic.requests["intent_id"].to_list()
    steps = []
    for t, sig in enumerate(traffic.sig_of_request.tolist()):
        s = sigs[sig]
        req = OpportunityRequest(
            intent_id=intents[t],
            category=s["r_category"],
            task_type=s["task_type"],
            placement=s["placement"],
            constraints={"geo": list(s["geo"])},
            relevance_floor=s["relevance_floor"],
            utility_floor=s["utility_floor"],
            sponsored_slots=s["slots"],
            disclosure_required=s["disclosure_required"],
        )
        committed = np.array([market.spend0[i] + billed[i] * market.payout[i] for i in range(len(billed))])
        credits_ok = np.array([(market.credits0[w] - used[w]) > 0 for w in range(len(used))])
        state = market.market(committed, credits_ok)
        ranking = rank(result.cfg, req, state, result.scenario.spec.as_of)
        settled_here: set[int] = set()  # one settlement per (intent, offer, event), as the server keeps
        for k, cand in enumerate(ranking.shortlisted):
            ci = index[cand.campaign.campaign.campaign_id]
            stage = int(result.stages[t, k])
            if stage >= market.billable_stage[ci] and ci not in settled_here:
                settled_here.add(ci)
                billed[ci] += 1
            used[market.workspace_of[ci]] += CREDITS_BY_STAGE[stage]
        steps.append(ReferenceStep(req, ranking, state))
    return steps
