"""Operator alerts (spec §10): a JSON webhook and a Slack incoming webhook, sent concurrently.

An alert with the same fingerprint (sha256 of the title and the canonical JSON
of its details) is sent at most once per suppression window. The window is a
hot-state key taken with set-if-absent, so with Redis every worker shares it.
A sink that is down is logged and counted; it never raises into the caller.
If no sink took the alert, the window is given back so the next run tries again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import httpx
import msgspec

from .hot_state import HotState

log = logging.getLogger("promotion_agent.alerts")

SLACK_COLOURS = {"critical": "#B94334", "warning": "#D9A441", "info": "#2F6F9F"}


class Alert(msgspec.Struct, rename="camel", kw_only=True, frozen=True):
    """The alert document. ``details`` identify the kind of failure (they make the fingerprint);
    ``settlement_ids`` says which settlements failed this time and is left out of the fingerprint,
    so an outage that fails different settlements run after run still alerts once per window."""

    severity: str
    title: str
    message: str
    details: dict[str, Any]
    occurred_at: datetime
    settlement_ids: list[str] = []


def fingerprint(alert: Alert) -> str:
    canonical = json.dumps(alert.details, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((alert.title + canonical).encode()).hexdigest()


class AlertSink(Protocol):
    @property
    def name(self) -> str: ...

    async def send(self, client: httpx.AsyncClient, alert: Alert) -> None:
        """Deliver the alert; raise on failure (an HTTP error status counts as one)."""


@dataclass(frozen=True)
class WebhookSink:
    url: str
    api_key: str | None = None
    name: str = "webhook"

    async def send(self, client: httpx.AsyncClient, alert: Alert) -> None:
        headers = {"content-type": "application/json"}
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        response = await client.post(self.url, content=msgspec.json.encode(alert), headers=headers)
        response.raise_for_status()


def slack_payload(alert: Alert) -> dict[str, Any]:
    """Slack's attachment format: a one-line text and a coloured attachment with the details as fields."""
    fields = [
        {
            "title": key,
            "value": value if isinstance(value, str) else json.dumps(value, default=str),
            "short": True,
        }
        for key, value in sorted(alert.details.items())
    ]
    if alert.settlement_ids:
        fields.append({"title": "settlements", "value": ", ".join(alert.settlement_ids), "short": False})
    return {
        "text": f"[{alert.severity.upper()}] {alert.title}",
        "attachments": [
            {
                "color": SLACK_COLOURS.get(alert.severity, SLACK_COLOURS["info"]),
                "title": alert.title,
                "text": alert.message,
                "fields": fields,
                "footer": "promotion-agent settlement worker",
                "ts": int(alert.occurred_at.timestamp()),
            }
        ],
    }


@dataclass(frozen=True)
class SlackSink:
    url: str
    name: str = "slack"

    async def send(self, client: httpx.AsyncClient, alert: Alert) -> None:
        response = await client.post(self.url, json=slack_payload(alert))
        response.raise_for_status()


@dataclass
class AlertOutcome:
    suppressed: bool = False
    sent: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class Alerter:
    """Sends an alert to every configured sink at once, unless its fingerprint is suppressed."""

    def __init__(
        self,
        hot: HotState,
        sinks: list[AlertSink],
        suppression_seconds: int = 300,
        timeout_ms: int = 5000,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.hot = hot
        self.sinks = sinks
        self.suppression_ms = suppression_seconds * 1000
        self.client = client or httpx.AsyncClient(timeout=timeout_ms / 1000)

    @property
    def enabled(self) -> bool:
        return bool(self.sinks)

    async def _take_window(self, alert: Alert) -> tuple[bool, str | None, str]:
        """(allowed, token, key): take the suppression window for this fingerprint, if it is free."""
        key = self.hot.key(f"alert:suppression:{fingerprint(alert)}")
        if self.suppression_ms <= 0:
            return True, None, key
        try:
            token = await self.hot.acquire_lock(key, self.suppression_ms)
        except Exception as exc:  # the hot state is down: better a repeated alert than none
            log.warning("alert suppression unavailable (%s); sending anyway", exc)
            return True, None, key
        return token is not None, token, key

    async def _send(self, sink: AlertSink, alert: Alert) -> bool:
        try:
            await sink.send(self.client, alert)
            return True
        except Exception as exc:
            log.error("alert sink %s failed: %s", sink.name, exc or type(exc).__name__)
            return False

    async def notify(self, alert: Alert) -> AlertOutcome:
        outcome = AlertOutcome()
        if not self.sinks:
            return outcome
        allowed, token, key = await self._take_window(alert)
        if not allowed:
            outcome.suppressed = True
            log.info(
                "alert %r suppressed (sent within the last %d s)", alert.title, self.suppression_ms // 1000
            )
            return outcome
        results = await asyncio.gather(*(self._send(sink, alert) for sink in self.sinks))
        for sink, ok in zip(self.sinks, results, strict=True):
            (outcome.sent if ok else outcome.failed).append(sink.name)
        if not outcome.sent and token is not None:
            try:
                await self.hot.release_lock(key, token)
            except Exception as exc:
                log.warning("could not give back the alert suppression window: %s", exc)
        return outcome

    async def close(self) -> None:
        await self.client.aclose()


def build_alerter(
    hot: HotState,
    webhook_url: str | None,
    webhook_api_key: str | None,
    slack_webhook_url: str | None,
    suppression_seconds: int,
    timeout_ms: int = 5000,
) -> Alerter:
    sinks: list[AlertSink] = []
    if webhook_url:
        sinks.append(WebhookSink(webhook_url, webhook_api_key))
    if slack_webhook_url:
        sinks.append(SlackSink(slack_webhook_url))
    return Alerter(hot, sinks, suppression_seconds, timeout_ms)
