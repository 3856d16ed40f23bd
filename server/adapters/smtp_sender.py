"""Outreach e-mail out through aiosmtplib (``OUTREACH_SENDER_MODE=smtp``), or recorded only (``simulated``).

The message is a standard ``multipart/alternative`` (text, then HTML) built by Python's
``email`` package with the strict ``SMTP`` policy, which refuses a header value holding a line
break, so no field can add a header even if it got past the domain's rendering. Replies are
sorted the way a mail client would: 2xx sent; 4xx (and a server that cannot be reached or
refuses the login) retryable; 5xx or a refused recipient a bounce, with the server's words.
The password is never part of a result, and the server's reply is masked for it all the same.
"""

from __future__ import annotations

import logging
import ssl
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

import aiosmtplib

from ..domain.outreach import Delivery, RenderedMessage
from ..redaction import redact_text
from ..settings import OutreachSettings

log = logging.getLogger("promotion_agent.outreach")


@dataclass(frozen=True)
class Envelope:
    to: str
    message: EmailMessage
    message_id: str


def _domain(address: str) -> str:
    return address.rsplit("@", 1)[-1].strip(">").strip() or "localhost"


def build_message(
    rendered: RenderedMessage,
    *,
    to: str,
    from_address: str,
    reply_to: str | None,
    at: datetime,
    target_id: str,
) -> Envelope:
    """The e-mail: headers (From, To, Subject, Date, Message-ID, Reply-To) and text + HTML parts.

    Raises ``ValueError`` when a header value would hold a line break (the policy refuses it).
    """
    message = EmailMessage(policy=SMTP)
    message_id = make_msgid(idstring=target_id.replace("@", "_")[:40], domain=_domain(from_address))
    message["From"] = from_address
    message["To"] = to
    message["Subject"] = rendered.subject
    message["Date"] = format_datetime(at)
    message["Message-ID"] = message_id
    if reply_to:
        message["Reply-To"] = reply_to
    message["X-Outreach-Target"] = target_id
    message.set_content(rendered.text, subtype="plain", charset="utf-8")
    message.add_alternative(rendered.html, subtype="html", charset="utf-8")
    return Envelope(to=to, message=message, message_id=message_id)


class OutreachSender:
    """The interface the outreach service sends through."""

    mode: str
    settings: OutreachSettings

    async def send(self, envelope: Envelope) -> Delivery:  # pragma: no cover - interface
        raise NotImplementedError


@dataclass
class SimulatedSender(OutreachSender):
    """Records what would be sent (kept in ``sent``, newest last, at most ``keep``) and sends nothing."""

    settings: OutreachSettings = field(default_factory=OutreachSettings)
    keep: int = 100
    sent: list[Envelope] = field(default_factory=list)
    mode: str = "simulated"

    async def send(self, envelope: Envelope) -> Delivery:
        self.sent.append(envelope)
        del self.sent[: -self.keep]
        log.info("outreach (simulated): would send %s to %s", envelope.message_id, envelope.to)
        return Delivery(
            "sent", "SIMULATED_SENT", None, "simulated: recorded, not sent", envelope.message_id, self.mode
        )


class SmtpSender(OutreachSender):
    mode = "smtp"

    def __init__(self, settings: OutreachSettings) -> None:
        self.settings = settings

    def _tls_context(self) -> ssl.SSLContext | None:
        if self.settings.secure == "none":
            return None
        return ssl.create_default_context(cafile=self.settings.ca_file)

    def _clean(self, text: str) -> str:
        return redact_text(" ".join(str(text).split()), [self.settings.password])

    async def send(self, envelope: Envelope) -> Delivery:
        cfg = self.settings
        assert cfg.host is not None and cfg.from_address is not None
        try:
            _, reply = await aiosmtplib.send(
                envelope.message,
                recipients=[envelope.to],
                hostname=cfg.host,
                port=cfg.port,
                username=cfg.user,
                password=cfg.password,
                use_tls=cfg.secure == "tls",
                start_tls=cfg.secure == "starttls",
                tls_context=self._tls_context(),
                timeout=cfg.timeout_s,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refused = exc.recipients[0] if exc.recipients else None
            code = refused.code if refused is not None else None
            reply_text = self._clean(refused.message if refused is not None else str(exc))
            if code is not None and 400 <= code < 500:
                return self._retry(code, reply_text)
            return Delivery(
                "bounced", "SMTP_BOUNCED", code, f"recipient refused: {reply_text}", None, self.mode
            )
        except aiosmtplib.SMTPAuthenticationError as exc:
            # The login failed: nothing is wrong with the recipient, the configuration needs fixing.
            return self._retry(exc.code, f"the SMTP server refused the login: {self._clean(exc.message)}")
        except aiosmtplib.SMTPResponseException as exc:
            if 400 <= exc.code < 500:
                return self._retry(exc.code, self._clean(exc.message))
            return Delivery("bounced", "SMTP_BOUNCED", exc.code, self._clean(exc.message), None, self.mode)
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
            reason = self._clean(str(exc) or type(exc).__name__)
            return self._retry(None, f"the SMTP server at {cfg.host}:{cfg.port} could not be used: {reason}")
        return Delivery("sent", "SMTP_SENT", 250, self._clean(reply), envelope.message_id, self.mode)

    def _retry(self, code: int | None, reply: str) -> Delivery:
        log.warning("outreach: SMTP attempt to be retried (%s): %s", code, reply)
        return Delivery("retry", "SMTP_RETRYABLE", code, reply, None, self.mode)


def sender_from_settings(settings: OutreachSettings) -> OutreachSender:
    return SmtpSender(settings) if settings.sender_mode == "smtp" else SimulatedSender(settings)
