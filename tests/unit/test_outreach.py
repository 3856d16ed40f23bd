"""Outreach rules (server/domain/outreach.py) and the ``OUTREACH_*`` settings: placeholder contacts, template
fields, safe rendering, the transitions of a send, the 163 preset, and refusals naming the variable."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
import pytest

from server.domain.errors import ValidationFailed
from server.domain.models import AgentLead, Campaign
from server.domain.outreach import (
    Delivery,
    OutreachDraft,
    OutreachTarget,
    check_draft,
    claimed,
    delivered,
    is_due,
    render_message,
    retry_wait,
    send_refusal,
)
from server.settings import OutreachSettings, Settings, SettingsError

from .factories import hubflow, replace, seed_leads, utc

NOW = utc(2026, 3, 11, 12)
PIXEL = "https://track.promotion-agent.test/outreach/open/otg_test0001/pixel.gif"


def lead(**changes: Any) -> AgentLead:
    return replace(seed_leads()[0], **changes)


def campaign_with_proof() -> Campaign:
    return hubflow()


def target(**changes: Any) -> OutreachTarget:
    base = OutreachTarget(
        target_id="otg_test0001",
        lead_id=lead().agent_id,
        campaign_id=None,
        channel="email",
        contact_point="bizdev@procurepilot.ai",
        subject_line="Hello {{providerOrg}}",
        message_template="Dear {{providerOrg}},\n\nWe would like to work with you.\n\nBest",
        created_at=NOW,
        updated_at=NOW,
    )
    return msgspec.structs.replace(base, **changes)


def draft(**changes: Any) -> OutreachDraft:
    body = {
        "channel": "email",
        "contactPoint": "bizdev@procurepilot.ai",
        "subjectLine": "Hello",
        "messageTemplate": "Dear {{providerOrg}}",
    } | changes
    return msgspec.convert(body, OutreachDraft)


@pytest.mark.parametrize(
    "contact",
    ["", "   ", "someone@example.com", "ops@mail.example.com", "bizdev@example.org", "a@example.net"],
)
def test_placeholder_contacts_are_refused_naming_the_field(contact: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_draft(draft(contactPoint=contact), None)
    assert refused.value.field == "contactPoint"


def test_placeholder_urls_are_refused_for_other_channels_and_real_ones_kept() -> None:
    with pytest.raises(ValidationFailed):
        check_draft(draft(channel="partner_form", contactPoint="https://example.org/contact"), None)
    assert check_draft(
        draft(channel="partner_form", contactPoint=" https://procurepilot.ai/partners "), None
    ) == ("https://procurepilot.ai/partners")


def test_email_channels_need_an_address() -> None:
    with pytest.raises(ValidationFailed, match="e-mail address"):
        check_draft(draft(channel="partner_intro", contactPoint="https://procurepilot.ai/partners"), None)
    assert check_draft(draft(channel="partner_intro"), None) == "bizdev@procurepilot.ai"


def test_line_breaks_in_the_subject_or_contact_are_refused_when_decoded() -> None:
    for field, value in (("subjectLine", "Hi\r\nBcc: x@y.test"), ("contactPoint", "a@b.ai\nBcc: x@y.test")):
        with pytest.raises(msgspec.ValidationError, match=field):
            draft(**{field: value})


def test_template_fields_must_be_known_and_campaign_fields_need_a_campaign() -> None:
    with pytest.raises(ValidationFailed, match="unknown field") as unknown:
        check_draft(draft(messageTemplate="Hi {{firstName}}"), None)
    assert unknown.value.field == "messageTemplate"
    with pytest.raises(ValidationFailed, match="no campaignId") as no_campaign:
        check_draft(draft(subjectLine="About {{productName}}"), None)
    assert no_campaign.value.field == "subjectLine"
    check_draft(draft(subjectLine="About {{productName}}"), campaign_with_proof())


def test_the_message_has_both_parts_the_disclosure_proof_and_pixel() -> None:
    campaign = campaign_with_proof()
    t = target(campaign_id=campaign.campaign_id, message_template="Dear {{providerOrg}},\n\n{{productName}}.")
    message = render_message(t, lead(), campaign, PIXEL)
    assert message.subject == "Hello ProcurePilot"
    assert message.text.startswith(f"Dear ProcurePilot,\n\n{campaign.offer.title}.\n")
    assert campaign.disclosure_text in message.text and campaign.disclosure_text in message.html
    first = campaign.proof_bundle.references[0]
    assert f"- {first.label}: {first.url}" in message.text
    assert f'<a href="{first.url}">{first.label}</a>' in message.html
    assert message.html.count("<img ") == 1 and f'src="{PIXEL}"' in message.html
    assert PIXEL not in message.text
    assert "<img" not in render_message(t, lead(), campaign, None).html


def test_no_field_can_inject_html_or_headers() -> None:
    evil = lead(provider_org="Evil</p><script>alert(1)</script>\r\nBcc: x@y.test")
    t = target(message_template="<b>Hi</b> {{providerOrg}}", subject_line="To {{providerOrg}}")
    message = render_message(t, evil, None, PIXEL)
    assert "\r" not in message.subject and "\n" not in message.subject
    assert message.subject == "To Evil</p><script>alert(1)</script> Bcc: x@y.test"
    assert "<script>" not in message.html and "&lt;script&gt;" in message.html
    assert "&lt;b&gt;Hi&lt;/b&gt;" in message.html  # the template's own markup is text, too


def test_a_send_claims_then_ends_in_sent_retry_or_bounced() -> None:
    draft_target = target()
    assert send_refusal(draft_target, NOW, None) is None
    taken = claimed(draft_target, NOW)
    assert (taken.status, taken.attempts) == ("sending", 1)
    assert "being sent" in (send_refusal(taken, NOW, NOW + timedelta(seconds=30)) or "")
    assert (
        send_refusal(taken, NOW + timedelta(seconds=31), NOW + timedelta(seconds=30)) is None
    )  # a crashed send
    sent = delivered(taken, Delivery("sent", "SMTP_SENT", 250, "250 OK", "<m@x>", "smtp"), NOW)
    assert (sent.status, sent.message_id, sent.sent_at, sent.next_attempt_at) == ("sent", "<m@x>", NOW, None)
    assert "not sent twice" in (send_refusal(sent, NOW, None) or "")
    retry = delivered(taken, Delivery("retry", "SMTP_RETRYABLE", 451, "451 later", None, "smtp"), NOW)
    assert (retry.status, retry.smtp_code, retry.next_attempt_at) == (
        "retry_scheduled",
        451,
        NOW + timedelta(minutes=5),
    )
    assert send_refusal(retry, NOW, None) is None
    assert not is_due(retry, NOW) and is_due(retry, NOW + timedelta(minutes=5))
    bounced = delivered(
        taken, Delivery("bounced", "SMTP_BOUNCED", 550, "550 no such user", None, "smtp"), NOW
    )
    assert bounced.status == "bounced" and send_refusal(bounced, NOW, None) is not None
    other = target(channel="linkedin", contact_point="https://linkedin.com/in/procurepilot")
    assert "not sent by this server" in (send_refusal(other, NOW, None) or "") and not is_due(other, NOW)


def test_retry_waits_grow_and_stop_at_a_day() -> None:
    assert [retry_wait(n) for n in (1, 2, 3, 4, 5, 9)] == [
        timedelta(minutes=m) for m in (5, 15, 60, 240, 1440, 1440)
    ]


# -- settings ------------------------------------------------------------------------------------


def test_simulated_is_the_default() -> None:
    assert OutreachSettings.from_env({}).sender_mode == "simulated"
    assert Settings.from_env({}).outreach.sender_mode == "simulated"


def test_the_163_preset_and_the_password_kept_out_of_repr() -> None:
    env = {
        "OUTREACH_SENDER_MODE": "smtp",
        "OUTREACH_SMTP_PROVIDER": "163",
        "OUTREACH_SMTP_USER": "shop@163.com",
        "OUTREACH_SMTP_PASS": "AUTHCODE1234",
        "OUTREACH_SMTP_FROM": "shop@163.com",
    }
    cfg = OutreachSettings.from_env(env)
    assert (cfg.host, cfg.port, cfg.secure, cfg.user, cfg.password) == (
        "smtp.163.com",
        465,
        "tls",
        "shop@163.com",
        "AUTHCODE1234",
    )
    assert "AUTHCODE1234" not in repr(cfg) and "AUTHCODE1234" not in repr(Settings.from_env(env))


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"OUTREACH_SENDER_MODE": "carrier-pigeon"}, "OUTREACH_SENDER_MODE"),
        ({"OUTREACH_SMTP_PROVIDER": "gmail"}, "OUTREACH_SMTP_PROVIDER"),
        ({"OUTREACH_SMTP_SECURE": "ssl"}, "OUTREACH_SMTP_SECURE"),
        ({"OUTREACH_SMTP_PORT": "smtp"}, "OUTREACH_SMTP_PORT"),
        ({"OUTREACH_SMTP_PORT": "70000"}, "OUTREACH_SMTP_PORT"),
        ({"OUTREACH_SMTP_FROM": "nobody"}, "OUTREACH_SMTP_FROM"),
        ({"OUTREACH_TRACKING_BASE_URL": "track.me"}, "OUTREACH_TRACKING_BASE_URL"),
        ({"OUTREACH_SENDER_MODE": "smtp", "OUTREACH_SMTP_FROM": "a@b.ai"}, "OUTREACH_SMTP_HOST"),
        ({"OUTREACH_SENDER_MODE": "smtp", "OUTREACH_SMTP_HOST": "mx.b.ai"}, "OUTREACH_SMTP_FROM"),
        (
            {
                "OUTREACH_SENDER_MODE": "smtp",
                "OUTREACH_SMTP_PROVIDER": "163",
                "OUTREACH_SMTP_FROM": "a@163.com",
            },
            "OUTREACH_SMTP_PASS",
        ),
        ({"OUTREACH_SMTP_USER": "a@b.ai"}, "OUTREACH_SMTP_PASS"),
        ({"OUTREACH_SMTP_HOST": "mx.b.ai\r\nX: y"}, "OUTREACH_SMTP_HOST"),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        Settings.from_env(env)


def test_real_test_refuses_an_explicit_simulated_sender() -> None:
    env = {"APP_MODE": "real_test", "OUTREACH_SENDER_MODE": "simulated"}
    with pytest.raises(SettingsError, match="OUTREACH_SENDER_MODE=simulated is refused in real_test"):
        OutreachSettings.from_env(env, "real_test")
    assert OutreachSettings.from_env({}, "real_test").sender_mode == "simulated"  # unset: sends answer 503
