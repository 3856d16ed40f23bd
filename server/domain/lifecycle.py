"""The campaign lifecycle (spec §4): draft → reviewing → active | rejected.

Each function takes the campaign and the facts it needs (the latest policy
check, an operator's decision) and returns the new campaign; it never stores
anything. A transition the rules do not allow raises ``Conflict`` with a
sentence a person can act on, instead of silently doing nothing.

Operator approval. A campaign with risk flags waits in ``reviewing`` with
``policyPass=false``. An operator's ``approve`` sets ``policyPass=true`` and
leaves it in ``reviewing``: approving says the content is acceptable, while
going live stays the advertiser's explicit ``activate`` step. ``activation``
therefore treats a ``manual_review`` check on an approved campaign
(``policyPass=true``) as a pass. A later re-review with risk flags resets
``policyPass`` to false, so a changed risk needs a new approval.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

from .compiler import compile_offer
from .errors import Conflict, ValidationFailed
from .models import Campaign, CampaignDraft, LinkBundle, PolicyCheckResult, ProofBundle, ProofReference

DEFAULT_WORKSPACE_ID = "workspace_default"
OperatorDecision = Literal["approve", "reject"]


def campaign_from_draft(
    draft: CampaignDraft,
    campaign_id: str,
    offer_id: str,
    proof_bundle_id: str,
    clock: datetime,
) -> Campaign:
    """A new ``draft`` campaign: the offer compiled from the product, the proof bundle dated ``clock``."""
    return Campaign(
        campaign_id=campaign_id,
        data_provenance=draft.data_provenance,
        workspace_id=draft.workspace_id or DEFAULT_WORKSPACE_ID,
        advertiser=draft.advertiser,
        external_ref=draft.external_ref,
        source_document_url=draft.source_document_url,
        category=draft.category,
        regions=list(draft.regions),
        targeting_partner_ids=list(draft.targeting_partner_ids),
        billing_model=draft.billing_model,
        payout_amount=draft.payout_amount,
        currency=draft.currency,
        budget=draft.budget,
        status="draft",
        disclosure_text=draft.disclosure_text,
        policy_pass=False,
        min_trust=draft.min_trust,
        link_bundle=draft.link_bundle if draft.link_bundle is not None else LinkBundle(),
        offer=compile_offer(draft.product, offer_id),
        proof_bundle=ProofBundle(
            proof_bundle_id=proof_bundle_id,
            references=[
                ProofReference(label=ref.label, type=ref.type, url=ref.url) for ref in draft.proof_references
            ],
            updated_at=clock,
        ),
    )


def apply_review(campaign: Campaign, check: PolicyCheckResult) -> Campaign:
    """Record a policy check: ``fail`` rejects; ``pass`` and ``manual_review`` leave it in ``reviewing``.

    Reviewing always moves the campaign to ``reviewing`` first (also an active
    one: a re-review takes it out of the market until it is activated again).
    """
    _same_campaign(campaign, check)
    if check.decision == "fail":
        return msgspec.structs.replace(campaign, status="rejected", policy_pass=False)
    return msgspec.structs.replace(campaign, status="reviewing", policy_pass=check.decision == "pass")


def effective_decision(campaign: Campaign, check: PolicyCheckResult) -> str:
    """The check's decision, with a manual review that an operator approved counting as ``pass``."""
    if check.decision == "manual_review" and campaign.policy_pass:
        return "pass"
    return check.decision


def activation(campaign: Campaign, check: PolicyCheckResult) -> tuple[Campaign, bool]:
    """Try to make the campaign live; returns ``(campaign, activated)``.

    - rejected: refused with ``Conflict`` (a rejected campaign must be submitted again).
    - already active: nothing changes, ``activated`` is True (idempotent).
    - draft, reviewing or paused: ``pass`` → active; ``fail`` → rejected;
      ``manual_review`` (not approved) → not activated, status unchanged.

    Not being activated is not an exception here: the API answers 409 with
    ``activated: false`` and the updated campaign, which the caller must store.
    """
    _same_campaign(campaign, check)
    if campaign.status == "rejected":
        raise Conflict(
            f"Campaign {campaign.campaign_id} was rejected by the policy review and cannot be activated; "
            "submit a corrected campaign instead.",
            body={"activated": False, "status": campaign.status},
        )
    if campaign.status == "active":
        return campaign, True
    decision = effective_decision(campaign, check)
    if decision == "pass":
        return msgspec.structs.replace(campaign, status="active", policy_pass=True), True
    if decision == "fail":
        return msgspec.structs.replace(campaign, status="rejected", policy_pass=False), False
    return campaign, False


def activation_refusal(campaign: Campaign, check: PolicyCheckResult) -> str:
    """The 409 message when ``activation`` returns ``activated=False``."""
    if check.decision == "fail":
        return f"Campaign {campaign.campaign_id} failed the policy check: " + " ".join(check.reasons)
    return (
        f"Campaign {campaign.campaign_id} is waiting for an operator's review "
        f"({', '.join(check.risk_flags) or 'manual review'}); it can be activated once approved."
    )


def operator_decision(campaign: Campaign, decision: str, note: str | None = None) -> Campaign:
    """An operator settles a campaign waiting in ``reviewing``: ``approve`` or ``reject``.

    ``approve`` sets ``policyPass`` and keeps ``reviewing`` (activation is a
    separate step, see the module docstring); ``reject`` → ``rejected``. The
    ``note`` is not part of the campaign: the caller records it with the
    decision in the audit trail. Any other state is a ``Conflict``: a rejected
    campaign failed hard rules an operator cannot waive, an active one is
    already approved.
    """
    if decision not in ("approve", "reject"):
        raise ValidationFailed(f"decision must be 'approve' or 'reject', not {decision!r}.", field="decision")
    if campaign.status != "reviewing":
        raise Conflict(
            f"Campaign {campaign.campaign_id} is {campaign.status}; an operator can only "
            f"{decision} a campaign that is in review.",
            body={"status": campaign.status},
        )
    if decision == "approve":
        return msgspec.structs.replace(campaign, policy_pass=True)
    return msgspec.structs.replace(campaign, status="rejected", policy_pass=False)


def _same_campaign(campaign: Campaign, check: PolicyCheckResult) -> None:
    if check.campaign_id != campaign.campaign_id:
        raise ValueError(
            f"policy check {check.policy_check_id} is for {check.campaign_id}, not {campaign.campaign_id}"
        )
