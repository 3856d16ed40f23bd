"""Buyer-agent leads (spec §1, api.md): verifying a lead and promoting it to a partner.

A lead is a buyer agent found in a registry; before the exchange sends it
sponsored offers a person must check it (who runs it, how it authenticates,
that it shows disclosures, its SLA and rate limits) and it must be able to send
back both receipts, because billing depends on them. These rules make those
checks explicit and refuse, with the missing items named, when they are not met.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import get_args

import msgspec

from .errors import Conflict, ValidationFailed
from .models import AgentLead, PartnerAgent, PartnerStatus

PROMOTABLE_STATUSES = ("verified", "active")


class VerificationChecklist(msgspec.Struct, rename="camel", kw_only=True):
    """What a reviewer confirmed about a lead; all five are needed before it may become ``active``."""

    identity: bool = False
    auth: bool = False
    disclosure: bool = False
    sla: bool = False
    rate_limit: bool = False


CHECKLIST_ITEMS: tuple[str, ...] = ("identity", "auth", "disclosure", "sla", "rateLimit")


def missing_checklist_items(checklist: VerificationChecklist | Mapping[str, bool] | None) -> list[str]:
    """The checklist items (wire names) not confirmed as true; all of them when there is no checklist."""
    if checklist is None:
        return list(CHECKLIST_ITEMS)
    confirmed: Mapping[str, object] = (
        msgspec.to_builtins(checklist) if isinstance(checklist, VerificationChecklist) else checklist
    )
    return [item for item in CHECKLIST_ITEMS if confirmed.get(item) is not True]


def change_status(
    lead: AgentLead,
    next_status: str,
    actor_id: str,
    checklist: VerificationChecklist | Mapping[str, bool] | None,
    evidence_ref: str | None,
    clock: datetime,
) -> AgentLead:
    """Set a lead's verification status and record who reviewed it, with what evidence, and when.

    Moving to ``active`` needs every checklist item confirmed (``Conflict`` naming
    the missing ones otherwise). ``evidenceRef`` keeps its previous value when none is given.
    """
    if next_status not in get_args(PartnerStatus):
        allowed = ", ".join(get_args(PartnerStatus))
        raise ValidationFailed(
            f"nextStatus must be one of {allowed}, not {next_status!r}.", field="nextStatus"
        )
    if not actor_id or not actor_id.strip():
        raise ValidationFailed("actorId is required: it records who verified the lead.", field="actorId")
    if next_status == "active":
        missing = missing_checklist_items(checklist)
        if missing:
            raise Conflict(
                f"Lead {lead.agent_id} cannot become active before the verification checklist is complete; "
                f"not confirmed: {', '.join(missing)}.",
                field="checklist",
                body={"missing": missing},
            )
    return msgspec.structs.replace(
        lead,
        verification_status=next_status,
        verification_owner=actor_id.strip(),
        evidence_ref=evidence_ref if evidence_ref else lead.evidence_ref,
        last_verified_at=clock,
    )


def slug(text: str) -> str:
    """Lower-case; every run of characters other than a-z and 0-9 becomes one "_"; no "_" at the ends."""
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def default_partner_id(lead: AgentLead) -> str:
    """``partner_`` + slug of the provider organisation (the lead id when the name has no usable letters)."""
    return "partner_" + (slug(lead.provider_org) or slug(lead.agent_id))


def promotion_blockers(lead: AgentLead) -> list[str]:
    """Every unmet requirement for promotion, as sentence fragments naming the field."""
    blockers: list[str] = []
    if lead.verification_status not in PROMOTABLE_STATUSES:
        blockers.append(f"verificationStatus must be verified or active (it is {lead.verification_status})")
    if not (lead.endpoint_url and lead.endpoint_url.strip()):
        blockers.append("endpointUrl is missing")
    if not lead.supports_delivery_receipt:
        blockers.append("supportsDeliveryReceipt is false")
    if not lead.supports_presentation_receipt:
        blockers.append("supportsPresentationReceipt is false")
    return blockers


def promote(lead: AgentLead, partner_id: str | None = None) -> PartnerAgent:
    """Make a PartnerAgent from a checked lead; ``Conflict`` naming what is missing otherwise.

    The partner starts ``active`` with the lead's trust seed as base trust and its
    verticals as supported categories. A discovered lead becomes a ``real_partner``.
    """
    blockers = promotion_blockers(lead)
    if blockers:
        raise Conflict(
            f"Lead {lead.agent_id} cannot be promoted to a partner: {'; '.join(blockers)}.",
            body={"missing": blockers},
        )
    provenance = "real_partner" if lead.data_provenance == "real_discovery" else lead.data_provenance
    return PartnerAgent(
        partner_id=partner_id or default_partner_id(lead),
        agent_lead_id=lead.agent_id,
        data_provenance=provenance,
        provider_org=lead.provider_org,
        endpoint=(lead.endpoint_url or "").strip(),
        status="active",
        supported_categories=list(lead.verticals),
        accepts_sponsored=lead.accepts_sponsored,
        supports_disclosure=lead.supports_disclosure,
        supports_delivery_receipt=lead.supports_delivery_receipt,
        supports_presentation_receipt=lead.supports_presentation_receipt,
        trust_score=lead.trust_seed,
        auth_modes=list(lead.auth_modes),
        last_verified_at=lead.last_verified_at,
        verification_owner=lead.verification_owner,
        evidence_ref=lead.evidence_ref,
    )
