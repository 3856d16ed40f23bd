"""The SMTP sender against a real aiosmtpd server on 127.0.0.1: plain, STARTTLS and implicit TLS (a
certificate made here), AUTH LOGIN and PLAIN, the message read back; 451 retryable, 550 a bounce;
header injection neutralised; the password in no result."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from server.adapters.smtp_sender import SmtpSender, build_message
from server.domain.outreach import RenderedMessage, render_message
from server.settings import OutreachSettings
from tests.backends import free_port
from tests.support.smtp import SmtpServer, text_and_html
from tests.unit.test_outreach import PIXEL, campaign_with_proof, lead, target

# The plain-connection AUTH cases: aiosmtpd warns that a real server should require TLS first.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")

AT = datetime(2026, 3, 11, 12, 0, tzinfo=UTC)
PASSWORD = "auth-code-9f8e7d6c5b"


def settings_for(server: SmtpServer, tmp_path: Path, **overrides: object) -> OutreachSettings:
    env = server.env()
    if server.secure != "none":
        env["OUTREACH_SMTP_CA_FILE"] = server.ca_file(tmp_path)
    env["OUTREACH_SMTP_REPLY_TO"] = "partners@promotion-agent.test"
    env["OUTREACH_TRACKING_BASE_URL"] = "https://track.promotion-agent.test"
    return OutreachSettings(**{**OutreachSettings.from_env(env).__dict__, **overrides})


@pytest.fixture
def smtp_servers() -> Iterator[list[SmtpServer]]:
    started: list[SmtpServer] = []
    yield started
    for server in started:
        server.stop()


def serve(started: list[SmtpServer], *args: object, **kwargs: object) -> SmtpServer:
    server = SmtpServer(*args, **kwargs).start()  # type: ignore[arg-type]
    started.append(server)
    return server


def the_message(providerOrg: str = "ProcurePilot") -> tuple[RenderedMessage, str]:
    t = target(subject_line="Partnering with {{providerOrg}}", campaign_id="cmp_hubflow")
    rendered = render_message(t, lead(provider_org=providerOrg), campaign_with_proof(), PIXEL)
    return rendered, t.target_id


@pytest.mark.parametrize(
    ("secure", "mechanism"), [("none", None), ("none", "PLAIN"), ("starttls", "LOGIN"), ("tls", "PLAIN")]
)
async def test_a_message_arrives_whole_over_each_transport(
    smtp_servers: list[SmtpServer], tmp_path: Path, secure: str, mechanism: str | None
) -> None:
    auth = (
        {"user": "outreach@promotion-agent.test", "password": PASSWORD, "mechanism": mechanism}
        if mechanism
        else {}
    )
    server = serve(smtp_servers, secure, **auth)
    sender = SmtpSender(settings_for(server, tmp_path))
    rendered, target_id = the_message()
    envelope = build_message(
        rendered,
        to="bizdev@procurepilot.ai",
        from_address=sender.settings.from_address or "",
        reply_to=sender.settings.reply_to,
        at=AT,
        target_id=target_id,
    )
    delivery = await sender.send(envelope)
    assert (delivery.outcome, delivery.result_code, delivery.message_id) == (
        "sent",
        "SMTP_SENT",
        envelope.message_id,
    )
    assert server.auth_mechanisms == ([mechanism] if mechanism else [])
    [received] = server.messages
    assert received.rcpt_tos == ["bizdev@procurepilot.ai"]
    assert received.mail_from == "outreach@promotion-agent.test"
    message = received.message
    assert message["Subject"] == "Partnering with ProcurePilot"
    assert message["To"] == "bizdev@procurepilot.ai"
    assert message["Reply-To"] == "partners@promotion-agent.test"
    assert str(message["Message-ID"]).strip() == envelope.message_id
    text, html = text_and_html(message)
    assert "Dear ProcurePilot," in text and "Sponsored recommendation from HubFlow." in text
    assert "Security overview: https://hubflow.ai/security" in text
    assert "Sponsored recommendation from HubFlow." in html
    assert f'<img src="{PIXEL}" width="1" height="1"' in html
    assert PASSWORD not in received.raw.decode()


async def test_a_451_is_retryable_and_a_550_a_bounce_with_the_servers_words(
    smtp_servers: list[SmtpServer], tmp_path: Path
) -> None:
    server = serve(smtp_servers)
    sender = SmtpSender(settings_for(server, tmp_path))
    rendered, target_id = the_message()
    envelope = build_message(
        rendered,
        to="bizdev@procurepilot.ai",
        from_address="outreach@promotion-agent.test",
        reply_to=None,
        at=AT,
        target_id=target_id,
    )
    server.answer(rcpt="451 4.7.1 Greylisted, try again later")
    retry = await sender.send(envelope)
    assert (retry.outcome, retry.result_code, retry.smtp_code) == ("retry", "SMTP_RETRYABLE", 451)
    assert "Greylisted" in retry.reply
    server.answer(rcpt="550 5.1.1 <bizdev@procurepilot.ai>: mailbox unavailable")
    bounce = await sender.send(envelope)
    assert (bounce.outcome, bounce.result_code, bounce.smtp_code) == ("bounced", "SMTP_BOUNCED", 550)
    assert "mailbox unavailable" in bounce.reply
    server.answer(data="554 5.7.1 Message rejected as spam")
    rejected = await sender.send(envelope)
    assert (rejected.outcome, rejected.smtp_code) == ("bounced", 554) and "rejected as spam" in rejected.reply
    server.answer(data="452 4.3.1 Insufficient system storage")
    assert (await sender.send(envelope)).outcome == "retry"
    assert server.messages == []


async def test_a_refused_login_and_an_unreachable_server_are_retryable_and_never_show_the_password(
    smtp_servers: list[SmtpServer], tmp_path: Path
) -> None:
    server = serve(smtp_servers, "none", user="outreach@promotion-agent.test", password="the-right-code")
    rendered, target_id = the_message()
    envelope = build_message(
        rendered,
        to="bizdev@procurepilot.ai",
        from_address="outreach@promotion-agent.test",
        reply_to=None,
        at=AT,
        target_id=target_id,
    )
    wrong = SmtpSender(settings_for(server, tmp_path, password=PASSWORD))
    refused = await wrong.send(envelope)
    assert (refused.outcome, refused.smtp_code) == ("retry", 535) and "refused the login" in refused.reply
    assert PASSWORD not in refused.reply
    closed = SmtpSender(settings_for(server, tmp_path, port=free_port(), timeout_s=2.0))
    unreachable = await closed.send(envelope)
    assert unreachable.outcome == "retry" and unreachable.smtp_code is None
    assert server.messages == []


async def test_header_injection_through_a_field_is_neutralised(
    smtp_servers: list[SmtpServer], tmp_path: Path
) -> None:
    server = serve(smtp_servers)
    sender = SmtpSender(settings_for(server, tmp_path))
    rendered, target_id = the_message(providerOrg="Evil\r\nBcc: victim@elsewhere.test\r\nX-Injected: yes")
    envelope = build_message(
        rendered,
        to="bizdev@procurepilot.ai",
        from_address="outreach@promotion-agent.test",
        reply_to=None,
        at=AT,
        target_id=target_id,
    )
    assert (await sender.send(envelope)).outcome == "sent"
    [received] = server.messages
    assert received.rcpt_tos == ["bizdev@procurepilot.ai"]
    assert received.message["Bcc"] is None and received.message["X-Injected"] is None
    assert received.message["Subject"] == "Partnering with Evil Bcc: victim@elsewhere.test X-Injected: yes"
    # And a header value with a line break never gets as far as the SMTP server.
    with pytest.raises(ValueError):
        build_message(
            RenderedMessage("Hi\r\nBcc: x@y.test", "t", "<p>h</p>"),
            to="a@b.test",
            from_address="o@p.test",
            reply_to=None,
            at=AT,
            target_id="otg_1",
        )
