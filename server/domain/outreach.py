"""Partner outreach (api.md "Outreach"): targets, their statuses, and the message a target sends.

An operator writes to a lead's provider through an outreach target: a channel, a contact point, a
subject line and a message template. A target starts as a ``draft``; sending claims it
(``sending``, a compare-and-set in the database, so two sends of one target deliver one message)
and ends in ``sent``, ``retry_scheduled`` (the server answered 4xx: try again later) or
``bounced`` (5xx, or the recipient was refused). Only ``email`` and ``partner_intro`` go out as
e-mail; a target of another channel is kept but cannot be sent.

Templates name fields as ``{{providerOrg}}``. Rendering is safe by construction: header values
(the subject) never carry a line break, and the HTML part escapes the template and every value.
Everything here is pure: times come in as arguments.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Literal

import msgspec

from .errors import ValidationFailed
from .models import ID_MAX_LENGTH, NO_NUL, AgentLead, Base, Campaign, DataProvenance
from .policy import is_placeholder

OutreachStatus = Literal["draft", "sending", "sent", "retry_scheduled", "bounced"]
# What the last attempt gave: a message handed to the SMTP server, one recorded without sending
# (the simulated sender), a retryable refusal (4xx, or the server could not be used) and a bounce.
ResultCode = Literal["SMTP_SENT", "SIMULATED_SENT", "SMTP_RETRYABLE", "SMTP_BOUNCED"]

SENDABLE_CHANNELS = ("email", "partner_intro")
# A send may start from these; ``sending`` too once its claim's lease ran out (a crashed send).
CLAIMABLE_STATUSES = ("draft", "retry_scheduled")
FINAL_STATUSES = ("sent", "bounced")
# The waits before a retry_scheduled target is due again: 5 min, 15 min, 1 h, 4 h, then daily.
RETRY_WAITS_MIN = (5, 15, 60, 240, 1440)

SUBJECT_MAX = 200
TEMPLATE_MAX = 20_000
CONTACT_MAX = 254

Channel = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern="^[a-z][a-z0-9_]*$")]
# No control characters at all: a subject line or an address is one header line.
OneLine = "^[^\\x00-\\x1f\\x7f]*$"
ContactPoint = Annotated[str, msgspec.Meta(max_length=CONTACT_MAX, pattern=OneLine)]
SubjectLine = Annotated[str, msgspec.Meta(min_length=1, max_length=SUBJECT_MAX, pattern=OneLine)]
MessageTemplate = Annotated[str, msgspec.Meta(min_length=1, max_length=TEMPLATE_MAX, pattern=NO_NUL)]
OptionalCampaignId = Annotated[str, msgspec.Meta(min_length=1, max_length=ID_MAX_LENGTH, pattern=NO_NUL)]


class OutreachDraft(Base, kw_only=True):
    """``POST /agent-leads/{leadId}/outreach``."""

    channel: Channel
    contact_point: ContactPoint
    subject_line: SubjectLine
    message_template: MessageTemplate
    campaign_id: OptionalCampaignId | None = None


class OutreachTarget(Base, kw_only=True):
    target_id: str
    lead_id: str
    campaign_id: str | None = None
    data_provenance: DataProvenance = "ops_manual"
    channel: str
    contact_point: str
    subject_line: str
    message_template: str
    status: OutreachStatus = "draft"
    created_at: datetime
    updated_at: datetime
    attempts: int = 0
    sender_mode: str | None = None  # smtp | simulated, for the last attempt
    result_code: ResultCode | None = None
    smtp_code: int | None = None
    smtp_reply: str | None = None
    message_id: str | None = None
    sent_at: datetime | None = None
    next_attempt_at: datetime | None = None
    open_count: int = 0
    first_opened_at: datetime | None = None
    last_opened_at: datetime | None = None


# ---------------------------------------------------------------------------
# Creating a target
# ---------------------------------------------------------------------------

_PLACEHOLDER_DOMAINS = ("example.com", "example.org", "example.net")
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@([A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+)$"
)
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9]*)\s*\}\}")

LEAD_FIELDS = ("agentId", "providerOrg", "cardUrl", "endpointUrl", "verticals", "geo", "contactPoint")
CAMPAIGN_FIELDS = (
    "campaignId",
    "advertiser",
    "productName",
    "productDescription",
    "category",
    "disclosureText",
)


def _is_placeholder_contact(contact: str) -> bool:
    lowered = contact.strip().lower()
    if not lowered:
        return True
    for domain in _PLACEHOLDER_DOMAINS:
        if re.search(rf"(^|[@./]){re.escape(domain)}($|[/:?#>])", lowered) or lowered.endswith("." + domain):
            return True
    return is_placeholder(contact)


def check_draft(draft: OutreachDraft, campaign: Campaign | None) -> str:
    """The contact point to store (trimmed); ``ValidationFailed`` naming the field for bad input.

    Placeholder contacts (empty, ``@example.com``, ``example.org``…) are refused; an ``email`` or
    ``partner_intro`` target needs an e-mail address; the templates may name only known fields,
    and campaign fields only with a campaign.
    """
    contact = draft.contact_point.strip()
    if _is_placeholder_contact(contact):
        raise ValidationFailed(
            f"contactPoint {draft.contact_point!r} is empty or placeholder data (example.com, example.org…); "
            "a real contact is needed.",
            field="contactPoint",
        )
    if draft.channel in SENDABLE_CHANNELS and not _EMAIL.match(contact):
        raise ValidationFailed(
            f"contactPoint must be an e-mail address such as partners@provider.ai for the {draft.channel} "
            f"channel, got {contact!r}.",
            field="contactPoint",
        )
    if not draft.subject_line.strip():
        raise ValidationFailed("subjectLine must say something.", field="subjectLine")
    known = LEAD_FIELDS + (CAMPAIGN_FIELDS if campaign is not None else ())
    for field, text in (("subjectLine", draft.subject_line), ("messageTemplate", draft.message_template)):
        for name in _PLACEHOLDER.findall(text):
            if name in known:
                continue
            if name in CAMPAIGN_FIELDS:
                raise ValidationFailed(
                    f"{field} uses {{{{{name}}}}}, a campaign field, but the target names no campaignId.",
                    field=field,
                )
            raise ValidationFailed(
                f"{field} uses an unknown field {{{{{name}}}}}; known: "
                f"{', '.join(LEAD_FIELDS + CAMPAIGN_FIELDS)}.",
                field=field,
            )
    return contact


def new_target(
    target_id: str, lead: AgentLead, draft: OutreachDraft, campaign: Campaign | None, now: datetime
) -> OutreachTarget:
    contact = check_draft(draft, campaign)
    return OutreachTarget(
        target_id=target_id,
        lead_id=lead.agent_id,
        campaign_id=campaign.campaign_id if campaign is not None else None,
        channel=draft.channel,
        contact_point=contact,
        subject_line=draft.subject_line.strip(),
        message_template=draft.message_template,
        created_at=now,
        updated_at=now,
    )


# ---------------------------------------------------------------------------
# Sending: transitions
# ---------------------------------------------------------------------------


def send_refusal(target: OutreachTarget, now: datetime, lease_until: datetime | None) -> str | None:
    """Why this target cannot be sent now (a sentence for a 409), or None when a send may claim it."""
    if target.channel not in SENDABLE_CHANNELS:
        return (
            f"Outreach target {target.target_id} uses the {target.channel!r} channel, which is not sent by "
            f"this server (only {' and '.join(SENDABLE_CHANNELS)})."
        )
    if target.status in FINAL_STATUSES:
        return f"Outreach target {target.target_id} is {target.status} already; it is not sent twice."
    if target.status == "sending" and (lease_until is None or lease_until > now):
        return f"Outreach target {target.target_id} is being sent right now."
    return None


@dataclass(frozen=True)
class Delivery:
    """What the sender reports for one attempt."""

    outcome: Literal["sent", "retry", "bounced"]
    result_code: ResultCode
    smtp_code: int | None
    reply: str
    message_id: str | None
    sender_mode: str


AFTER_DELIVERY: dict[str, OutreachStatus] = {"sent": "sent", "retry": "retry_scheduled", "bounced": "bounced"}


def retry_wait(attempts: int) -> timedelta:
    index = min(max(attempts, 1), len(RETRY_WAITS_MIN)) - 1
    return timedelta(minutes=RETRY_WAITS_MIN[index])


def claimed(target: OutreachTarget, now: datetime) -> OutreachTarget:
    return msgspec.structs.replace(target, status="sending", attempts=target.attempts + 1, updated_at=now)


def delivered(target: OutreachTarget, delivery: Delivery, now: datetime) -> OutreachTarget:
    """The target after an attempt: sent, retry_scheduled (with its next attempt) or bounced."""
    status = AFTER_DELIVERY[delivery.outcome]
    return msgspec.structs.replace(
        target,
        status=status,
        updated_at=now,
        sender_mode=delivery.sender_mode,
        result_code=delivery.result_code,
        smtp_code=delivery.smtp_code,
        smtp_reply=delivery.reply[:1000],
        message_id=delivery.message_id if delivery.outcome == "sent" else target.message_id,
        sent_at=now if delivery.outcome == "sent" else target.sent_at,
        next_attempt_at=now + retry_wait(target.attempts) if delivery.outcome == "retry" else None,
    )


def is_due(target: OutreachTarget, now: datetime) -> bool:
    """Whether the scripted send (``promotion-agent outreach send``) should send this target now."""
    if target.channel not in SENDABLE_CHANNELS:
        return False
    if target.status == "draft":
        return True
    return target.status == "retry_scheduled" and (
        target.next_attempt_at is None or target.next_attempt_at <= now
    )


# ---------------------------------------------------------------------------
# The message
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ProofHighlight:
    label: str
    url: str


@dataclass(frozen=True)
class RenderedMessage:
    """The parts of the e-mail: a one-line subject, a text body and an HTML body (both complete)."""

    subject: str
    text: str
    html: str


def template_fields(target: OutreachTarget, lead: AgentLead, campaign: Campaign | None) -> dict[str, str]:
    fields = {
        "agentId": lead.agent_id,
        "providerOrg": lead.provider_org,
        "cardUrl": lead.card_url,
        "endpointUrl": lead.endpoint_url or "",
        "verticals": ", ".join(lead.verticals),
        "geo": ", ".join(lead.geo),
        "contactPoint": target.contact_point,
    }
    if campaign is not None:
        fields.update(
            campaignId=campaign.campaign_id,
            advertiser=campaign.advertiser,
            productName=campaign.offer.title,
            productDescription=campaign.offer.description,
            category=campaign.category,
            disclosureText=campaign.disclosure_text,
        )
    return fields


def _one_line(text: str) -> str:
    """Control characters (CR, LF, tab…) become spaces: a value can never start a new header line."""
    return re.sub(r"\s+", " ", re.sub(r"[\x00-\x1f\x7f\u2028\u2029\x85]", " ", text)).strip()


def _fill(template: str, fields: dict[str, str], escape: bool, one_line: bool = False) -> str:
    def value(match: re.Match[str]) -> str:
        text = fields.get(match.group(1), "")
        if one_line:
            text = _one_line(text)
        return html.escape(text, quote=True) if escape else text

    if not escape:
        return _PLACEHOLDER.sub(value, template)
    # HTML: the template's own text is escaped too; each value once.
    parts: list[str] = []
    last = 0
    for match in _PLACEHOLDER.finditer(template):
        parts.append(html.escape(template[last : match.start()], quote=True))
        parts.append(value(match))
        last = match.end()
    parts.append(html.escape(template[last:], quote=True))
    return "".join(parts)


def _safe_href(url: str) -> str | None:
    return url if re.match(r"^https?://[^\x00-\x20\x7f\"'<>]+$", url) else None


def render_message(
    target: OutreachTarget,
    lead: AgentLead,
    campaign: Campaign | None,
    pixel_url: str | None,
    highlights_max: int = 3,
) -> RenderedMessage:
    """The subject, text and HTML of a target's e-mail, with the campaign's disclosure and proof highlights
    and, when ``pixel_url`` is given, a 1x1 open-tracking image in the HTML part."""
    fields = template_fields(target, lead, campaign)
    subject = _one_line(_fill(target.subject_line, fields, escape=False, one_line=True))
    body_text = _fill(target.message_template, fields, escape=False).replace("\r\n", "\n").replace("\r", "\n")
    body_html = _fill(target.message_template.replace("\r\n", "\n").replace("\r", "\n"), fields, escape=True)
    disclosure = campaign.disclosure_text.strip() if campaign is not None else ""
    highlights = (
        [ProofHighlight(r.label, r.url) for r in campaign.proof_bundle.references[:highlights_max]]
        if campaign is not None
        else []
    )
    text = body_text.rstrip("\n") + "\n"
    if highlights:
        text += "\nProof:\n" + "".join(f"- {_one_line(h.label)}: {_one_line(h.url)}\n" for h in highlights)
    if disclosure:
        text += f"\n-- \n{disclosure}\n"
    paragraphs = "".join(
        f"<p>{p.replace(chr(10), '<br>')}</p>\n" for p in body_html.split("\n\n") if p.strip()
    )
    html_parts = ["<!DOCTYPE html>\n<html><body>\n", paragraphs]
    if highlights:
        items: list[str] = []
        for h in highlights:
            label = html.escape(h.label, quote=True)
            href = _safe_href(h.url)
            if href is None:
                items.append(f"<li>{label}: {html.escape(h.url, quote=True)}</li>")
            else:
                items.append(f'<li><a href="{html.escape(href, quote=True)}">{label}</a></li>')
        html_parts.append("<p>Proof:</p>\n<ul>" + "".join(items) + "</ul>\n")
    if disclosure:
        html_parts.append(
            f'<hr>\n<p class="disclosure"><small>{html.escape(disclosure, quote=True)}</small></p>\n'
        )
    if pixel_url:
        html_parts.append(
            f'<img src="{html.escape(pixel_url, quote=True)}" width="1" height="1" alt="" '
            'style="display:block;border:0">\n'
        )
    html_parts.append("</body></html>\n")
    return RenderedMessage(subject=subject, text=text, html="".join(html_parts))
