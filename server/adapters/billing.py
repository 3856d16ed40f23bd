"""Billing gateways: the simulated one (default); the HTTP one is selected by BILLING_ADAPTER_URL."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx
import msgspec

from ..domain.billing import (
    CONTRACT_VERSIONS,
    GatewayResult,
    build_generic_v1_body,
    build_ledger_v2_body,
    map_provider_response,
    network_error,
    parse_retry_after,
    simulated_outcome,
)
from ..domain.models import SettlementReceipt, SettlementRetryJob
from ..redaction import redact_text, redact_url

if TYPE_CHECKING:
    from ..settings import Settings


class SimulatedGateway:
    """Settles everything but disputed settlements, as spec §8 describes."""

    mode = "simulated"

    async def submit(self, settlement: SettlementReceipt, job: SettlementRetryJob) -> GatewayResult:
        return simulated_outcome(settlement)

    async def close(self) -> None:
        return None


class HttpGateway:
    """Submits settlements to a billing provider over HTTP (profiles ``generic_v1`` and ``ledger_api_v2``).

    The provider is always called with ``idempotency-key = settlementId``, so a
    retried submission can never be booked twice on its side. Network errors and
    timeouts are retryable (``NETWORK_ERROR``). ``timeout_ms`` bounds the whole
    call, and the settings keep it shorter than the retry job's claim lease.
    """

    mode = "http"

    def __init__(
        self,
        url: str,
        profile: str = "generic_v1",
        api_key: str | None = None,
        hmac_secret: str | None = None,
        timeout_ms: int = 5000,
        signature_header: str = "x-billing-signature",
        timestamp_header: str = "x-billing-timestamp",
        clock: Callable[[], datetime] | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.url = url
        self.profile = profile
        self.api_key = api_key
        self.hmac_secret = hmac_secret
        self.signature_header = signature_header
        self.timestamp_header = timestamp_header
        self.clock = clock or (lambda: datetime.now(UTC))
        self.timeout_ms = timeout_ms
        self.shown_url = redact_url(url)  # what errors and logs may show
        self.client = client or httpx.AsyncClient(timeout=timeout_ms / 1000)

    def request_parts(
        self, settlement: SettlementReceipt, job: SettlementRetryJob
    ) -> tuple[bytes, dict[str, str]]:
        now = self.clock()
        if self.profile == "ledger_api_v2":
            body = build_ledger_v2_body(settlement, job)
        else:
            body = build_generic_v1_body(settlement, job, now)
        raw = msgspec.json.encode(body)
        headers = {
            "content-type": "application/json",
            "x-billing-contract-version": CONTRACT_VERSIONS[self.profile],
            "x-billing-trace-id": settlement.trace_id or settlement.intent_id,
            "idempotency-key": settlement.settlement_id,
        }
        if self.api_key:
            headers["authorization"] = f"Bearer {self.api_key}"
        if self.hmac_secret:
            timestamp = msgspec.to_builtins(now)
            digest = hmac.new(self.hmac_secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256)
            headers[self.timestamp_header] = timestamp
            headers[self.signature_header] = digest.hexdigest()
        return raw, headers

    async def submit(self, settlement: SettlementReceipt, job: SettlementRetryJob) -> GatewayResult:
        raw, headers = self.request_parts(settlement, job)
        try:
            # One deadline for the whole call (connect, send, every read of the answer): httpx's own
            # timeout bounds each phase, so a provider that drips one byte at a time would outlast it.
            async with asyncio.timeout(self.timeout_ms / 1000):
                response = await self.client.post(self.url, content=raw, headers=headers)
        except (TimeoutError, httpx.TimeoutException):
            return network_error(
                f"The billing gateway at {self.shown_url} did not answer within {self.timeout_ms} ms."
            )
        except httpx.HTTPError as exc:
            reason = self._redact(str(exc)) or exc.__class__.__name__
            return network_error(f"The billing gateway at {self.shown_url} could not be reached: {reason}")
        retry_after = parse_retry_after(response.headers.get("retry-after"), self.clock())
        result = map_provider_response(self.profile, response.status_code, response.content, retry_after)
        if result.message:
            result = msgspec.structs.replace(result, message=self._redact(result.message))
        return result

    def _redact(self, text: str) -> str:
        return redact_text(text.replace(self.url, self.shown_url), (self.api_key, self.hmac_secret))

    async def close(self) -> None:
        await self.client.aclose()


def gateway_from_settings(settings: Settings, clock: Callable[[], datetime] | None = None):
    if not settings.billing_adapter_url:
        return SimulatedGateway()
    return HttpGateway(
        settings.billing_adapter_url,
        profile=settings.billing_provider_profile,
        api_key=settings.billing_adapter_api_key,
        hmac_secret=settings.billing_adapter_hmac_secret,
        timeout_ms=settings.billing_adapter_timeout_ms,
        signature_header=settings.billing_signature_header,
        timestamp_header=settings.billing_timestamp_header,
        clock=clock,
    )
