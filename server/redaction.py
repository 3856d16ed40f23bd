"""Keeping credentials out of what the server shows: errors, ``lastError``, logs, profiles.

A URL's password (``https://user:secret@host``) and query values named like a
credential (``?token=…``) are masked, and so is any configured secret (an API
key, an HMAC secret) wherever it appears in a text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

MASK = "***"
_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:/@\s]*):(?P<password>[^@\s/]+)@")
_SECRET_QUERY = re.compile(
    r"(?P<name>[?&](?:[a-z_]*(?:token|key|secret|password|passwd|signature|sig|auth)[a-z_]*))=(?P<value>[^&#\s]+)",
    re.IGNORECASE,
)


def redact_url(url: str) -> str:
    """The URL with its password and credential-like query values masked (host and path kept)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        user = userinfo.split(":", 1)[0]
        netloc = f"{user}:{MASK}@{host}" if ":" in userinfo else f"{MASK}@{host}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, MASK if _SECRET_QUERY.match(f"?{k}=x") else v) for k, v in pairs], safe="*")
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def redact_text(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with URL passwords, credential query values and each of ``secrets`` masked."""
    out = _USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    out = _SECRET_QUERY.sub(lambda m: f"{m['name']}={MASK}", out)
    for secret in secrets:
        if secret and len(secret) >= 4:
            out = out.replace(secret, MASK)
    return out


class RedactingFilter(logging.Filter):
    """A logging filter that masks credentials in every record's final message."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact_text(message, self.secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            # Tracebacks repeat exception texts: render them now, masked, so no handler prints the raw text.
            formatted = logging.Formatter().formatException(record.exc_info)
            record.exc_text = redact_text(formatted, self.secrets)
            record.exc_info = None
            record.msg = f"{record.msg}\n{record.exc_text}"
            record.exc_text = None
        return True
