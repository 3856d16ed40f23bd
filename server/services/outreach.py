"""Partner outreach (api.md "Outreach"): draft targets per lead, send them once, count their opens.

A send is three steps: a write transaction claims the target (compare-and-set on its status, see
``adapters/store/outreach.py``) and reads what the message needs; the message goes out with no
transaction open; a second write transaction stores the outcome while the claim still holds.
A second send of the same target, at the same time or later, finds it claimed, sent or bounced
and answers 409: it never reaches the SMTP server. Every status change is in the audit trail.

In real_test mode a server without ``OUTREACH_SENDER_MODE=smtp`` answers 503 to a send: a real
lane does not pretend to have written to a real provider.

``send_target`` is long on purpose: claim, send and record are three transactions around one SMTP
exchange, and the claim token that ties them together is easiest to follow in one place.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

import msgspec

from ..adapters.smtp_sender import OutreachSender, build_message, sender_from_settings
from ..adapters.store.ports import UnitOfWork
from ..domain import outreach as rules
from ..domain.errors import Conflict, NotFound, ServiceUnavailable, ValidationFailed
from ..domain.models import AgentLead, AuditEvent, AuditStatus, Campaign
from ..domain.outreach import OutreachDraft, OutreachTarget
from ..redaction import redact_text
from .context import Services, new_id

# A claim outlives the longest SMTP exchange by this much before another send may take it over.
CLAIM_MARGIN = timedelta(seconds=30)
SENDER_KEY = "outreach_sender"
# The audit status of a finished send, by the target's new status.
_AUDIT_STATUS: dict[str, AuditStatus] = {
    "sent": "success",
    "retry_scheduled": "failure",
    "bounced": "failure",
}
STATUSES = ("draft", "sending", "sent", "retry_scheduled", "bounced")


class OutreachSendUnavailable(ServiceUnavailable):
    retry_after_seconds = 60


def sender(svc: Services) -> OutreachSender:
    """The process's sender (made on first use from ``OUTREACH_*``; a test may put its own in)."""
    found = svc.state.get(SENDER_KEY)
    if found is None:
        found = svc.state[SENDER_KEY] = sender_from_settings(svc.settings.outreach)
    return found


def pixel_url(svc: Services, target_id: str) -> str | None:
    base = svc.settings.outreach.tracking_base_url
    return f"{base}/outreach/open/{quote(target_id, safe='')}/pixel.gif" if base else None


def _event(
    svc: Services, target: OutreachTarget, action: str, status: AuditStatus, details: dict[str, Any]
) -> AuditEvent:
    return svc.audit(
        trace_id=target.lead_id,
        entity_type="delivery",
        entity_id=target.target_id,
        action=action,
        status=status,
        actor_type="operator",
        actor_id="operator",
        details={"targetId": target.target_id, "leadId": target.lead_id, **details},
    )


async def _lead(uow: UnitOfWork, lead_id: str) -> AgentLead:
    lead = await uow.leads.get_lead(lead_id)
    if lead is None:
        raise NotFound(f"Agent lead {lead_id} was not found.")
    return lead


async def create_target(svc: Services, lead_id: str, draft: OutreachDraft) -> OutreachTarget:
    async def work(uow: UnitOfWork) -> OutreachTarget:
        lead = await _lead(uow, lead_id)
        campaign: Campaign | None = None
        if draft.campaign_id is not None:
            campaign = await uow.market.get_campaign(draft.campaign_id)
            if campaign is None:
                raise ValidationFailed(
                    f"campaignId {draft.campaign_id} names no campaign.", field="campaignId"
                )
        target = rules.new_target(new_id("otg_", 12), lead, draft, campaign, svc.clock())
        await uow.outreach.insert_outreach_target(target)
        await uow.audit.insert_audit(
            [
                _event(
                    svc,
                    target,
                    "outreach.target_created",
                    "success",
                    {"to": "draft", "channel": target.channel, "campaignId": target.campaign_id},
                )
            ]
        )
        return target

    return await svc.store.write(work)


async def _target(uow: UnitOfWork, target_id: str) -> tuple[OutreachTarget, datetime | None]:
    found = await uow.outreach.get_outreach_target(target_id)
    if found is None:
        raise NotFound(f"Outreach target {target_id} was not found.")
    return found


async def get_target(svc: Services, target_id: str) -> OutreachTarget:
    return (await svc.store.read(lambda uow: _target(uow, target_id)))[0]


async def list_targets(svc: Services, lead_id: str | None, statuses: list[str]) -> list[OutreachTarget]:
    unknown = [s for s in statuses if s not in STATUSES]
    if unknown:
        raise ValidationFailed(
            f"status must be among {', '.join(STATUSES)}, got {unknown[0]!r}.", field="status"
        )
    return await svc.store.read(lambda uow: uow.outreach.list_outreach_targets(lead_id, statuses))


async def send_target(svc: Services, target_id: str) -> OutreachTarget:
    """Send one target (409 when it cannot or may not be sent now); the target as it ends up."""
    out = sender(svc)
    if svc.settings.mode == "real_test" and out.mode != "smtp":
        raise OutreachSendUnavailable(
            "Outreach is not configured: real_test mode sends only real e-mail "
            "(set OUTREACH_SENDER_MODE=smtp and OUTREACH_SMTP_*)."
        )
    token = new_id("", 32)
    lease = timedelta(seconds=out.settings.timeout_s) + CLAIM_MARGIN

    previous = "draft"

    async def claim(uow: UnitOfWork) -> tuple[OutreachTarget, AgentLead, Campaign | None]:
        nonlocal previous
        target, lease_until = await _target(uow, target_id)
        now = svc.clock()
        refusal = rules.send_refusal(target, now, lease_until)
        if refusal:
            raise Conflict(refusal, body={"target": _wire(target)})
        taken = rules.claimed(target, now)
        previous = target.status if target.status != "sending" else "draft"
        if not await uow.outreach.claim_outreach_target(taken, token, now, now + lease):
            raise Conflict(
                f"Outreach target {target_id} is being sent by another request.",
                body={"target": _wire(target)},
            )
        lead = await _lead(uow, target.lead_id)
        campaign = await uow.market.get_campaign(target.campaign_id) if target.campaign_id else None
        await uow.audit.insert_audit(
            [
                _event(
                    svc,
                    taken,
                    "outreach.sending",
                    "started",
                    {"from": target.status, "to": "sending", "attempt": taken.attempts, "sender": out.mode},
                )
            ]
        )
        return taken, lead, campaign

    taken, lead, campaign = await svc.store.write(claim)
    try:
        rendered = rules.render_message(taken, lead, campaign, pixel_url(svc, taken.target_id))
        envelope = build_message(
            rendered,
            to=taken.contact_point,
            from_address=out.settings.from_address or "outreach@promotion-agent.local",
            reply_to=out.settings.reply_to,
            at=svc.clock(),
            target_id=taken.target_id,
        )
    except Exception:
        # Nothing went out: give the target back as it was rather than leave it claimed until the lease
        # runs out. (Once the SMTP exchange starts, a failure keeps the claim: the message may be out.)
        before = msgspec.structs.replace(taken, status=previous, attempts=taken.attempts - 1)
        await svc.store.write(lambda uow: uow.outreach.finish_outreach_target(before, token))
        raise
    delivery = await out.send(envelope)

    async def finish(uow: UnitOfWork) -> OutreachTarget:
        done = rules.delivered(taken, delivery, svc.clock())
        if not await uow.outreach.finish_outreach_target(done, token):
            raise Conflict(
                f"Outreach target {target_id}: this send's claim ran out and another send took it "
                "over; its outcome was not stored."
            )
        status = _AUDIT_STATUS[done.status]
        await uow.audit.insert_audit(
            [
                _event(
                    svc,
                    done,
                    f"outreach.{done.status}",
                    status,
                    {
                        "from": "sending",
                        "to": done.status,
                        "resultCode": done.result_code,
                        "smtpCode": done.smtp_code,
                        "reply": redact_text(done.smtp_reply or "", [out.settings.password]),
                        "messageId": done.message_id,
                        "sender": delivery.sender_mode,
                    },
                )
            ]
        )
        return done

    return await svc.store.write(finish)


async def send_due_for_lead(svc: Services, lead_id: str) -> list[tuple[OutreachTarget, str | None]]:
    """The scripted send: every due target of the lead (drafts, retries whose time came), in order.

    Returns each target with the refusal that kept it from being sent (None when it was sent).
    """
    await svc.store.read(lambda uow: _lead(uow, lead_id))
    targets = await svc.store.read(lambda uow: uow.outreach.list_outreach_targets(lead_id))
    now = svc.clock()
    results: list[tuple[OutreachTarget, str | None]] = []
    for target in targets:
        if not rules.is_due(target, now):
            continue
        try:
            results.append((await send_target(svc, target.target_id), None))
        except Conflict as exc:
            results.append((target, exc.message))
    return results


async def record_open(svc: Services, target_id: str) -> None:
    """Count an open of a sent target; silently nothing for any other id (the pixel reveals nothing)."""
    if not target_id or len(target_id) > 200 or "\x00" in target_id:
        return
    await svc.store.write(lambda uow: uow.outreach.count_outreach_open(target_id, svc.clock()))


def _wire(target: OutreachTarget) -> dict[str, Any]:
    return msgspec.to_builtins(target)
