"""The billing gateways' contract (spec §8): what we send a provider and how we read its answer.

Pure data mapping, so that the HTTP adapter only moves bytes and every code of
both provider profiles can be tested without a network. ``GatewayResult`` is
the one shape every gateway (simulated or HTTP) answers with; the settlement
state machine (``settlement.apply_gateway_result``) consumes it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from email.utils import parsedate_to_datetime
from types import MappingProxyType
from typing import Any, Literal, cast

import msgspec

from .errors import ValidationFailed
from .models import ProviderState, SettlementReceipt, SettlementRetryJob


class GatewayResult(msgspec.Struct, rename="camel", kw_only=True, frozen=True):
    """What the billing gateway said, reduced to what the state machine needs."""

    ok: bool
    retryable: bool
    provider_state: ProviderState
    provider_settlement_id: str | None = None
    provider_reference: str | None = None
    code: str | None = None
    message: str | None = None
    # A provider's ``Retry-After`` (seconds): the next attempt waits at least this long.
    retry_after_seconds: float | None = None


Profile = Literal["generic_v1", "ledger_api_v2"]
CONTRACT_VERSIONS: Mapping[str, str] = MappingProxyType(
    {"generic_v1": "billing.settlement.v1", "ledger_api_v2": "ledger.settlement.v2"}
)
GENERIC_V1_CODES: Mapping[str, ProviderState] = MappingProxyType(
    {"ACCEPTED": "accepted", "SETTLED": "settled", "RETRY": "retry", "FAILED": "failed"}
)
LEDGER_V2_CODES: Mapping[str, ProviderState] = MappingProxyType(
    {
        "ACCEPTED": "accepted",
        "ASYNC_PROCESSING": "accepted",
        "SETTLED": "settled",
        "PAID": "settled",
        "DUPLICATE_SETTLED": "settled",
        "RATE_LIMITED": "retry",
        "TEMP_UNAVAILABLE": "retry",
        "RETRYABLE_ERROR": "retry",
        "INVALID_SIGNATURE": "failed",
        "INVALID_PAYLOAD": "failed",
        "POLICY_BLOCKED": "failed",
        "FAILED": "failed",
    }
)
_CODE_TABLES = {"generic_v1": GENERIC_V1_CODES, "ledger_api_v2": LEDGER_V2_CODES}


def _result(state: ProviderState, **fields: Any) -> GatewayResult:
    return GatewayResult(
        ok=state in ("settled", "accepted"), retryable=state == "retry", provider_state=state, **fields
    )


def simulated_outcome(settlement: SettlementReceipt) -> GatewayResult:
    """The built-in gateway: a disputed settlement fails for good, anything else settles at once."""
    if settlement.dispute_flag or settlement.status == "disputed":
        return _result("failed", code="SETTLEMENT_DISPUTED", message="The settlement is disputed.")
    return _result(
        "settled",
        provider_settlement_id="sim_" + settlement.settlement_id,
        provider_reference=settlement.intent_id,
        code="OK",
    )


def network_error(message: str) -> GatewayResult:
    """No answer (connection refused, timeout): always worth another try."""
    return _result("retry", code="NETWORK_ERROR", message=message or "The billing gateway did not answer.")


def _state_for_status(http_status: int) -> ProviderState | None:
    if http_status >= 500 or http_status == 429:
        return "retry"
    if 200 <= http_status < 300:
        return None  # a 2xx that says nothing we know is not a success (INVALID_RESPONSE)
    return "failed"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


MAX_RETRY_AFTER_SECONDS = 3600


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if now is None:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER_SECONDS)


def map_provider_response(
    profile: Profile | str, http_status: int, body: bytes, retry_after: float | None = None
) -> GatewayResult:
    """Read a gateway's answer (the table in the README, "Billing provider answers").

    The ``code`` decides through the profile's table; a code the table does not know
    falls back to the upper-cased ``status``; when neither is known the HTTP status
    decides: 5xx or 429 retry (429 honours ``Retry-After``), 4xx failed. A 2xx
    with an empty body is ``accepted`` (``ACCEPTED_NO_BODY``); any other 2xx that
    does not say a known outcome (a body that is not a JSON object, HTML, an
    unknown code and status) is retried as ``INVALID_RESPONSE``: only a known
    success settles, and the idempotency key makes the repeat safe.
    """
    table = _CODE_TABLES.get(profile)
    if table is None:
        raise ValidationFailed(f"Unknown billing profile {profile!r}.", field="profile")
    text = body.decode("utf-8", errors="replace").strip()
    if not text and 200 <= http_status < 300:
        return _result("accepted", code="ACCEPTED_NO_BODY")
    try:
        parsed = json.loads(text) if text else None
    except (ValueError, RecursionError):
        parsed = None
    is_object = isinstance(parsed, dict)
    # cast: a JSON object decodes to a dict whose keys are all strings.
    data: dict[str, Any] = cast("dict[str, Any]", parsed) if is_object else {}
    code = (_text(data.get("code")) or "").strip().upper()
    status = (_text(data.get("status")) or "").strip().upper()
    state: ProviderState | None = None
    for candidate in (code, status):
        if candidate and candidate in table:
            state, code = table[candidate], code or candidate  # an unknown code is still kept as said
            break
    if state is None:
        state = _state_for_status(http_status)
        if state is None:
            shown = text[:200] if text else "(empty)"
            what = "not a JSON object" if not is_object else f"an unknown code {code or status or '(none)'}"
            return _result(
                "retry",
                code="INVALID_RESPONSE",
                message=f"The billing gateway answered HTTP {http_status} with {what}: {shown}",
            )
        code = code or status or str(http_status)
    message = _text(data.get("message"))
    if message is None and state in ("retry", "failed"):
        message = text[:500] or f"The billing gateway answered HTTP {http_status}."
    return _result(
        state,
        provider_settlement_id=_text(data.get("provider_settlement_id")),
        provider_reference=_text(data.get("provider_reference")),
        code=code,
        message=message,
        retry_after_seconds=retry_after if state == "retry" and http_status == 429 else None,
    )


def _iso(value: datetime) -> str:
    """The same ISO-8601 text the API uses (msgspec's encoding; UTC shows as ``Z``)."""
    return msgspec.to_builtins(value)


def minor_units(amount: float) -> int:
    """Amount × 100 in whole minor units, an exact half (of the decimal amount) rounded up."""
    return int((Decimal(repr(float(amount))) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def build_generic_v1_body(
    settlement: SettlementReceipt, job: SettlementRetryJob | None, sent_at: datetime
) -> dict[str, Any]:
    """The ``generic_v1`` request body (nested settlement / context / delivery)."""
    return {
        "contract_version": CONTRACT_VERSIONS["generic_v1"],
        "settlement": {
            "settlement_id": settlement.settlement_id,
            "trace_id": settlement.trace_id or settlement.intent_id,
            "billing_model": settlement.billing_model,
            "event_type": settlement.event_type,
            "amount": {"value": settlement.amount, "currency": settlement.currency},
            "attribution_window": settlement.attribution_window,
            "status": settlement.status,
            "generated_at": _iso(settlement.generated_at),
        },
        "context": {
            "campaign_id": settlement.campaign_id,
            "offer_id": settlement.offer_id,
            "partner_id": settlement.partner_id,
            "intent_id": settlement.intent_id,
        },
        "delivery": {
            "retry_job_id": job.retry_job_id if job else None,
            "attempts": job.attempts if job else 0,
            "sent_at": _iso(sent_at),
        },
    }


def build_ledger_v2_body(settlement: SettlementReceipt, job: SettlementRetryJob | None) -> dict[str, Any]:
    """The flat ``ledger_api_v2`` request body, the amount in minor units."""
    return {
        "schema_version": CONTRACT_VERSIONS["ledger_api_v2"],
        "settlement_id": settlement.settlement_id,
        "trace_id": settlement.trace_id or settlement.intent_id,
        "campaign_id": settlement.campaign_id,
        "offer_id": settlement.offer_id,
        "partner_id": settlement.partner_id,
        "intent_id": settlement.intent_id,
        "billing_model": settlement.billing_model,
        "trigger_event": settlement.event_type,
        "gross_amount_minor": minor_units(settlement.amount),
        "currency": settlement.currency,
        "attribution_window": settlement.attribution_window,
        "settlement_status": settlement.status,
        "retry_attempt": job.attempts if job else 0,
        "generated_at": _iso(settlement.generated_at),
    }
