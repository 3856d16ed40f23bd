"""A real SMTP server for the outreach tests: aiosmtpd on 127.0.0.1 and a free port.

Plain, STARTTLS or implicit TLS (a certificate made here by ``trustme``), optionally with AUTH
LOGIN/PLAIN against one user, and answering what the test says at RCPT or DATA (``451``, ``550``…).
Every accepted message is kept, parsed, in ``messages``. ``delay_s`` holds each DATA answer back,
to widen the window in which concurrent sends could overlap.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.backends import free_port

Secure = Literal["none", "starttls", "tls"]


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    raw: bytes


@dataclass
class _Handler:
    rcpt_reply: str | None = None
    data_reply: str | None = None
    delay_s: float = 0.0
    messages: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.data_reply:
            return self.data_reply
        raw = envelope.original_content or envelope.content
        parsed = message_from_bytes(raw, policy=policy.default)
        with self.lock:
            self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), parsed, raw))  # type: ignore[arg-type]
        return "250 2.0.0 Message accepted for delivery"


class SmtpServer:
    """Start with ``start()``, stop with ``stop()`` (the test that starts it stops it)."""

    def __init__(
        self,
        secure: Secure = "none",
        *,
        user: str | None = None,
        password: str | None = None,
        ca: trustme.CA | None = None,
        mechanism: Literal["LOGIN", "PLAIN"] | None = None,
    ) -> None:
        self.secure = secure
        self.port = free_port()
        self.user, self.password = user, password
        self.handler = _Handler()
        self.auth_mechanisms: list[str] = []
        self.ca = ca or (trustme.CA() if secure != "none" else None)
        kwargs: dict[str, Any] = {}
        ssl_context = None
        if self.ca is not None:
            server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(server_context)
            if secure == "tls":
                ssl_context = server_context
            else:
                kwargs.update(tls_context=server_context, require_starttls=True)
        if user is not None:
            # STARTTLS: AUTH only once encrypted (aiosmtpd cannot tell implicit TLS, so not there).
            kwargs.update(
                authenticator=self._authenticate, auth_required=True, auth_require_tls=secure == "starttls"
            )
            if mechanism is not None:  # advertise only this one, so the client must use it
                kwargs["auth_exclude_mechanism"] = [m for m in ("LOGIN", "PLAIN") if m != mechanism]
        self.controller = Controller(
            self.handler, hostname="127.0.0.1", port=self.port, ssl_context=ssl_context, **kwargs
        )

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        self.auth_mechanisms.append(mechanism)
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.user
            and auth_data.password.decode() == self.password
        )
        return AuthResult(success=ok, handled=False)

    def ca_file(self, folder: Path) -> str:
        assert self.ca is not None
        path = folder / f"smtp-ca-{self.port}.pem"
        self.ca.cert_pem.write_to_path(str(path))
        return str(path)

    @property
    def messages(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.messages)

    def answer(self, *, rcpt: str | None = None, data: str | None = None, delay_s: float = 0.0) -> None:
        self.handler.rcpt_reply, self.handler.data_reply, self.handler.delay_s = rcpt, data, delay_s

    def env(self) -> dict[str, str]:
        """The server's ``OUTREACH_*`` settings to reach this SMTP server (without a CA file)."""
        env = {
            "OUTREACH_SENDER_MODE": "smtp",
            "OUTREACH_SMTP_HOST": "127.0.0.1",
            "OUTREACH_SMTP_PORT": str(self.port),
            "OUTREACH_SMTP_SECURE": self.secure,
            "OUTREACH_SMTP_FROM": "Outreach <outreach@promotion-agent.test>",
        }
        if self.user is not None and self.password is not None:
            env.update(OUTREACH_SMTP_USER=self.user, OUTREACH_SMTP_PASS=self.password)
        return env

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


def text_and_html(message: EmailMessage) -> tuple[str, str]:
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None, "the message needs a text and an HTML part"
    return text.get_content().replace("\r\n", "\n"), html.get_content().replace("\r\n", "\n")
