"""Campaign use cases: create (compile + review), review, operator decision, activate."""

from __future__ import annotations

from typing import Literal

import msgspec

from ..adapters.store.ports import UnitOfWork
from ..domain import lifecycle, policy
from ..domain.errors import Conflict, NotFound, ValidationFailed
from ..domain.models import (
    ActorType,
    AuditEvent,
    Base,
    Campaign,
    CampaignDraft,
    OptionalId,
    PolicyCheckResult,
)
from .context import Services, new_id


class CampaignCreated(Base, kw_only=True):
    campaign: Campaign
    policy_check: PolicyCheckResult


class ActivationResult(Base, kw_only=True):
    activated: bool
    campaign: Campaign
    policy_check: PolicyCheckResult
    message: str | None = None


class OperatorReview(Base, kw_only=True):
    decision: Literal["approve", "reject"] | None = None
    note: str | None = None
    actor_id: OptionalId = "operator"


def _policy_audit(
    svc: Services, campaign: Campaign, check: PolicyCheckResult, actor: ActorType = "api"
) -> AuditEvent:
    return svc.audit(
        trace_id=campaign.campaign_id,
        entity_type="policy_check",
        entity_id=check.policy_check_id,
        action="campaign.policy_check",
        status="success"
        if check.decision == "pass"
        else ("failure" if check.decision == "fail" else "blocked"),
        actor_type=actor,
        details={"decision": check.decision, "reasons": check.reasons, "riskFlags": check.risk_flags},
        provenance=campaign.data_provenance,
    )


async def _review(svc: Services, uow: UnitOfWork, campaign: Campaign) -> tuple[Campaign, PolicyCheckResult]:
    check = policy.check_policy(campaign, svc.clock(), new_id("pol_"))
    reviewed = lifecycle.apply_review(campaign, check)
    await uow.market.insert_policy_check(check)
    await uow.market.update_campaign(reviewed)
    await uow.audit.insert_audit([_policy_audit(svc, reviewed, check)])
    return reviewed, check


# Fields a campaign's life changes after its creation: not part of "the same draft".
_LIFE_FIELDS = ("status", "policy_pass")


async def _existing(
    svc: Services, uow: UnitOfWork, draft: CampaignDraft, campaign_id: str
) -> CampaignCreated:
    """``POST /campaigns`` again with a known ``campaignId``: the stored campaign when the draft would make
    it (whatever its status since), a 409 naming the fields that differ otherwise."""
    stored = await _require(uow, campaign_id)
    proof = stored.proof_bundle
    again = lifecycle.campaign_from_draft(
        draft, campaign_id, stored.offer.offer_id, proof.proof_bundle_id, proof.updated_at
    )
    kept = {name: getattr(stored, name) for name in _LIFE_FIELDS}
    if msgspec.structs.replace(again, **kept) != stored:
        differ = [  # as the wire spells them
            wire
            for name, wire in zip(stored.__struct_fields__, stored.__struct_encode_fields__, strict=True)
            if name not in _LIFE_FIELDS and getattr(again, name) != getattr(stored, name)
        ]
        raise Conflict(
            f"Campaign {campaign_id} already exists with other content ({', '.join(differ)}); send the same "
            "draft to get it again, or another campaignId for a new campaign.",
            field="campaignId",
        )
    check = await uow.market.latest_policy_check(campaign_id)
    if check is None:  # loaded without a review (the seed): record one, without changing the campaign
        check = policy.check_policy(stored, svc.clock(), new_id("pol_"))
        await uow.market.insert_policy_check(check)
    return CampaignCreated(campaign=stored, policy_check=check)


async def create_campaign(
    svc: Services, draft: CampaignDraft, *, campaign_id: str | None = None, offer_id: str | None = None
) -> tuple[CampaignCreated, bool]:
    """A new campaign from ``draft``, reviewed at once; ``(result, created)``.

    With the caller's ``campaignId``, the unique campaign id decides: a repeat of the same draft
    returns the stored campaign (``created`` False), another draft is a 409. ``campaign_id`` /
    ``offer_id``: stable ids an import derives; one that is taken is a 409 (the import counts a duplicate).
    """
    if svc.settings.real_data_only and draft.data_provenance.startswith("demo_"):
        raise ValidationFailed(
            f"dataProvenance {draft.data_provenance!r} is refused in real_test mode: use real_campaign.",
            field="dataProvenance",
        )
    found = policy.find_placeholder(draft)
    if found is not None:
        field, value = found
        raise ValidationFailed(
            f"{field} looks like placeholder data ({value!r}); a real value is needed.", field=field
        )

    async def work(uow: UnitOfWork) -> tuple[CampaignCreated, bool]:
        now = svc.clock()
        for _ in range(3):  # a generated id that is taken already (ids are short): another one
            cid = campaign_id or draft.campaign_id or new_id("cmp_")
            campaign = lifecycle.campaign_from_draft(
                draft, cid, offer_id or new_id("offer_"), new_id("proof_"), now
            )
            if await uow.market.insert_campaign(campaign):
                break
            if campaign_id:  # an import's stable id (or its offer's) is there already: a re-import
                raise Conflict(
                    f"Campaign {cid} (or its offer {campaign.offer.offer_id}) already exists.",
                    field="campaignId",
                )
            if draft.campaign_id:
                return await _existing(svc, uow, draft, cid), False
        else:
            raise RuntimeError("no unused campaign id after 3 tries")
        offer = campaign.offer
        await uow.audit.insert_audit(
            [
                svc.audit(
                    trace_id=cid,
                    entity_type="campaign",
                    entity_id=cid,
                    action="campaign.created",
                    status="success",
                    actor_type="api",
                    details={"advertiser": campaign.advertiser, "offerId": offer.offer_id},
                    provenance=campaign.data_provenance,
                )
            ]
        )
        reviewed, check = await _review(svc, uow, campaign)
        return CampaignCreated(campaign=reviewed, policy_check=check), True

    return await svc.store.write(work)


async def _require(uow: UnitOfWork, campaign_id: str) -> Campaign:
    campaign = await uow.market.get_campaign(campaign_id)
    if campaign is None:
        raise NotFound(f"Campaign {campaign_id} was not found.")
    return campaign


async def get_campaign(svc: Services, campaign_id: str) -> Campaign:
    return await svc.store.read(lambda uow: _require(uow, campaign_id))


async def list_campaigns(svc: Services, provenances: list[str]) -> list[Campaign]:
    return await svc.store.read(lambda uow: uow.market.list_campaigns(provenances))


async def latest_policy_check(svc: Services, campaign_id: str) -> PolicyCheckResult:
    async def work(uow: UnitOfWork) -> PolicyCheckResult:
        await _require(uow, campaign_id)
        check = await uow.market.latest_policy_check(campaign_id)
        if check is None:
            raise NotFound(f"Campaign {campaign_id} has no policy check yet.")
        return check

    return await svc.store.read(work)


async def review_campaign(svc: Services, campaign_id: str, body: OperatorReview | None) -> PolicyCheckResult:
    """Re-run the policy check; with a decision, an operator settles a manual review."""

    async def work(uow: UnitOfWork) -> PolicyCheckResult:
        campaign = await _require(uow, campaign_id)
        if body is None or body.decision is None:
            return (await _review(svc, uow, campaign))[1]
        check = await uow.market.latest_policy_check(campaign_id)
        if check is None:
            campaign, check = await _review(svc, uow, campaign)
        decided = lifecycle.operator_decision(campaign, body.decision, body.note)
        await uow.market.update_campaign(decided)
        await uow.audit.insert_audit(
            [
                svc.audit(
                    trace_id=campaign_id,
                    entity_type="campaign",
                    entity_id=campaign_id,
                    action=f"campaign.review.{body.decision}",
                    status="success",
                    actor_type="operator",
                    actor_id=body.actor_id,
                    details={"note": body.note or "", "previousDecision": check.decision},
                    provenance=campaign.data_provenance,
                )
            ]
        )
        return check

    return await svc.store.write(work)


async def activate_campaign(svc: Services, campaign_id: str) -> ActivationResult:
    async def work(uow: UnitOfWork) -> ActivationResult:
        campaign = await _require(uow, campaign_id)
        check = await uow.market.latest_policy_check(campaign_id)
        if check is None and campaign.status == "active":
            # A campaign loaded active (the seed) has no stored check: record one without
            # re-reviewing it, so activation stays idempotent.
            check = policy.check_policy(campaign, svc.clock(), new_id("pol_"))
            await uow.market.insert_policy_check(check)
        elif check is None:
            campaign, check = await _review(svc, uow, campaign)
        updated, activated = lifecycle.activation(campaign, check)
        if updated != campaign:
            await uow.market.update_campaign(updated)
        await uow.audit.insert_audit(
            [
                svc.audit(
                    trace_id=campaign_id,
                    entity_type="campaign",
                    entity_id=campaign_id,
                    action="campaign.activate",
                    status="success" if activated else "blocked",
                    actor_type="api",
                    details={"decision": check.decision, "status": updated.status},
                    provenance=campaign.data_provenance,
                )
            ]
        )
        message = None if activated else lifecycle.activation_refusal(updated, check)
        return ActivationResult(activated=activated, campaign=updated, policy_check=check, message=message)

    return await svc.store.write(work)
