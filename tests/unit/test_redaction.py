"""Credentials never leave the server: URL passwords, credential query values and configured secrets."""

from __future__ import annotations

import logging

import pytest

from server.redaction import RedactingFilter, redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://billing:hunter2@pay.example.org/v1/settlements",
            "https://billing:***@pay.example.org/v1/settlements",
        ),
        ("https://tok_live_abc@pay.example.org/", "https://***@pay.example.org/"),
        (
            "https://pay.example.org/settle?token=abc123&region=eu",
            "https://pay.example.org/settle?token=***&region=eu",
        ),
        (
            "https://pay.example.org/settle?api_key=k1&sig=s2",
            "https://pay.example.org/settle?api_key=***&sig=***",
        ),
        ("http://127.0.0.1:8787/settlements", "http://127.0.0.1:8787/settlements"),
        ("redis://:redispass@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0"),
    ],
)
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_redact_text_masks_urls_inside_messages_and_known_secrets():
    text = (
        "POST https://billing:hunter2@pay.example.org/x?access_token=zzz9 failed; "
        "Bearer key_live_0123456789 refused; postgresql://app:pgsecret@db:5432/app"
    )
    out = redact_text(text, ["key_live_0123456789", None, ""])
    for secret in ("hunter2", "zzz9", "key_live_0123456789", "pgsecret"):
        assert secret not in out
    assert "https://billing:***@pay.example.org/x?access_token=***" in out
    assert "postgresql://app:***@db:5432/app" in out


def test_the_logging_filter_masks_messages_arguments_and_tracebacks(caplog):
    logger = logging.getLogger("test.redaction")
    handler = logging.Handler()
    records: list[logging.LogRecord] = []
    handler.emit = records.append  # type: ignore[method-assign]
    handler.addFilter(RedactingFilter(["whsec_abcdef123456"]))
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("calling %s with %s", "https://u:pw1234@h/x", "whsec_abcdef123456")
        try:
            raise RuntimeError("boom at https://u:pw5678@h/y")
        except RuntimeError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    rendered = [logging.Formatter().format(r) for r in records]
    assert "pw1234" not in rendered[0] and "whsec_abcdef123456" not in rendered[0]
    assert "https://u:***@h/x" in rendered[0]
    assert "pw5678" not in rendered[1] and "RuntimeError" in rendered[1]
