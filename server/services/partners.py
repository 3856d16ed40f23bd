"""Buyer-agent leads and partners: listing, verification status, promotion to partner."""

from __future__ import annotations

from typing import Any, TypedDict, Unpack

import msgspec

from ..adapters.store.ports import UnitOfWork
from ..domain import leads as rules
from ..domain.errors import Conflict, NotFound
from ..domain.models import (
    AgentLead,
    AuditEvent,
    Base,
    Id,
    OptionalId,
    PartnerAgent,
    PartnerStatus,
    PartnerView,
)
from ..domain.ranking import governed_trust
from .context import Services


class Checklist(Base, kw_only=True):
    identity: bool = False
    auth: bool = False
    disclosure: bool = False
    sla: bool = False
    rate_limit: bool = False


class LeadStatusChange(Base, kw_only=True):
    next_status: PartnerStatus
    actor_id: OptionalId = "operator"
    comment: str = ""
    checklist: Checklist = msgspec.field(default_factory=Checklist)
    evidence_ref: str | None = None


class PromoteLead(Base, kw_only=True):
    partner_id: Id | None = None
    actor_id: OptionalId = "operator"


class LeadFilter(Base, kw_only=True):
    statuses: list[str] = []
    source_types: list[str] = []
    origins: list[str] = []
    provenances: list[str] = []
    vertical: str | None = None
    geo: str | None = None
    owner: str | None = None


async def filtered_leads(svc: Services, f: LeadFilter) -> list[AgentLead]:
    """``GET /agent-leads``: without a provenance filter, the mode's default (``DEFAULT_LEAD_FILTER``)."""
    if not f.provenances:
        f = msgspec.structs.replace(f, provenances=list(svc.settings.default_lead_filter))
    return await list_leads(svc, f)


async def list_leads(svc: Services, f: LeadFilter | None = None) -> list[AgentLead]:
    f = f or LeadFilter()
    leads = await svc.store.read(
        lambda uow: uow.leads.list_leads(f.statuses, f.source_types, f.origins, f.provenances)
    )
    # The small in-memory filters run on what the indexed query returned.
    if f.vertical:
        leads = [lead for lead in leads if f.vertical in lead.verticals]
    if f.geo:
        leads = [lead for lead in leads if f.geo in lead.geo]
    if f.owner:
        leads = [lead for lead in leads if f.owner in (lead.assigned_owner, lead.verification_owner)]
    return leads


async def _lead(uow: UnitOfWork, lead_id: str) -> AgentLead:
    lead = await uow.leads.get_lead(lead_id)
    if lead is None:
        raise NotFound(f"Agent lead {lead_id} was not found.")
    return lead


async def get_lead(svc: Services, lead_id: str) -> AgentLead:
    return await svc.store.read(lambda uow: _lead(uow, lead_id))


async def change_lead_status(svc: Services, lead_id: str, change: LeadStatusChange) -> AgentLead:
    async def work(uow: UnitOfWork) -> AgentLead:
        lead = await _lead(uow, lead_id)
        updated = rules.change_status(
            lead,
            change.next_status,
            change.actor_id,
            {
                "identity": change.checklist.identity,
                "auth": change.checklist.auth,
                "disclosure": change.checklist.disclosure,
                "sla": change.checklist.sla,
                "rateLimit": change.checklist.rate_limit,
            },
            change.evidence_ref,
            svc.clock(),
        )
        await uow.leads.update_lead(updated)
        await uow.audit.insert_audit(
            [
                svc.audit(
                    trace_id=lead_id,
                    entity_type="delivery",
                    entity_id=lead_id,
                    action="lead.status_changed",
                    status="success",
                    actor_type="operator",
                    actor_id=change.actor_id,
                    details={
                        "from": lead.verification_status,
                        "to": change.next_status,
                        "comment": change.comment,
                    },
                    provenance=lead.data_provenance,
                )
            ]
        )
        return updated

    return await svc.store.write(work)


async def promote_lead(svc: Services, lead_id: str, body: PromoteLead | None) -> PartnerAgent:
    async def work(uow: UnitOfWork) -> PartnerAgent:
        lead = await _lead(uow, lead_id)
        partner = rules.promote(lead, body.partner_id if body else None)
        if not await uow.market.insert_partner(partner):
            raise Conflict(f"Partner {partner.partner_id} already exists.")
        await uow.audit.insert_audit(
            [
                svc.audit(
                    trace_id=lead_id,
                    entity_type="delivery",
                    entity_id=partner.partner_id,
                    action="lead.promoted",
                    status="success",
                    actor_type="operator",
                    actor_id=body.actor_id if body else "operator",
                    details={"leadId": lead_id},
                    provenance=partner.data_provenance,
                )
            ]
        )
        return partner

    return await svc.store.write(work)


async def upsert_partner(svc: Services, partner: PartnerAgent) -> tuple[PartnerAgent, bool]:
    """Create the partner, or make the stored one with its id equal to it; ``(partner, created)``.

    Idempotent: the same body again changes nothing (and writes no audit event). The insert is
    decided by the unique partner id, in the same transaction as the update of an existing one.
    """

    async def work(uow: UnitOfWork) -> tuple[PartnerAgent, bool]:
        if await uow.market.insert_partner(partner):
            action, created = "partner.created", True
        else:
            stored = await uow.market.get_partner(partner.partner_id)
            if stored == partner:
                return partner, False
            await uow.market.update_partner(partner)
            action, created = "partner.updated", False
        await uow.audit.insert_audit(
            [
                _partner_event(
                    svc,
                    partner,
                    action,
                    {"status": partner.status, "trustScore": partner.trust_score},
                    actor_id="operator",
                )
            ]
        )
        return partner, created

    return await svc.store.write(work)


async def list_partners(svc: Services, provenances: list[str]) -> list[PartnerView]:
    async def work(uow: UnitOfWork) -> list[PartnerView]:
        partners = await uow.market.list_partners(provenances)
        records = await uow.market.list_reputation()
        views: list[PartnerView] = []
        for partner, disputes in partners:
            mine = [r for r in records if r.partner_id == partner.partner_id]
            trust = governed_trust(svc.ranking, partner.trust_score, mine, disputes)
            fields = {f: getattr(partner, f) for f in partner.__struct_fields__}
            fields["trust_score"] = trust
            views.append(PartnerView(**fields, base_trust_score=partner.trust_score))
        return views

    return await svc.store.read(work)


async def save_partner(svc: Services, partner: PartnerAgent, *, action: str = "partner.created") -> bool:
    """Store a partner once by ``partnerId`` (the unique constraint decides); False when it exists already."""

    async def work(uow: UnitOfWork) -> bool:
        if not await uow.market.insert_partner(partner):
            return False
        await uow.audit.insert_audit(
            [
                _partner_event(
                    svc, partner, action, {"providerOrg": partner.provider_org, "status": partner.status}
                )
            ]
        )
        return True

    return await svc.store.write(work)


class _Actor(TypedDict, total=False):
    actor_id: str


def _partner_event(
    svc: Services, partner: PartnerAgent, action: str, details: dict[str, Any], **actor: Unpack[_Actor]
) -> AuditEvent:
    """The audit event of a partner stored by an operator (the upsert endpoint, an import)."""
    return svc.audit(
        trace_id=partner.partner_id,
        entity_type="delivery",
        entity_id=partner.partner_id,
        action=action,
        status="success",
        actor_type="operator",
        details=details,
        provenance=partner.data_provenance,
        **actor,
    )
