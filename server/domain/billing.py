"""The billing gateways' contract (spec §8): what we send a provider and how we read its answer.

Pure data mapping, so that the HTTP adapter only moves bytes and every code of
both provider profiles can be tested without a network. ``GatewayResult`` is
the one shape every gateway (simulated or HTTP) answers with; the settlement
state machine (``settlement.apply_gateway_result``) consumes it.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from types import MappingProxyType
from typing import Any, Literal, Mapping

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
    return GatewayResult(ok=state in ("settled", "accepted"), retryable=state == "retry", provider_state=state, **fields)


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


def _state_for_status(http_status: int) -> ProviderState:
    if http_status >= 500 or http_status == 429:
        return "retry"
    if 200 <= http_status < 300:
        return "settled"
    return "failed"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def map_provider_response(profile: Profile | str, http_status: int, body: bytes) -> GatewayResult:
    """Read a gateway's answer: its ``code`` (else the upper-cased ``status``) through the profile's table.

    A code the table does not know is judged by the HTTP status (5xx or 429 retry,
    2xx settled, anything else failed), as is a body that is not a JSON object.
    A 2xx with an empty body is ``accepted`` (``ACCEPTED_NO_BODY``).
    """
    table = _CODE_TABLES.get(profile)
    if table is None:
        raise ValidationFailed(f"Unknown billing profile {profile!r}.", field="profile")
    text = body.decode("utf-8", errors="replace").strip()
    if not text and 200 <= http_status < 300:
        return _result("accepted", code="ACCEPTED_NO_BODY")
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        parsed = None
    data: dict[str, Any] = parsed if isinstance(parsed, dict) else {}
    raw = _text(data.get("code")) or (_text(data.get("status")) or "").upper() or str(http_status)
    code = raw.strip().upper()
    state = table.get(code) or _state_for_status(http_status)
    message = _text(data.get("message"))
    if message is None and state in ("retry", "failed"):
        message = text[:500] or f"The billing gateway answered HTTP {http_status}."
    return _result(
        state,
        provider_settlement_id=_text(data.get("provider_settlement_id")),
        provider_reference=_text(data.get("provider_reference")),
        code=code,
        message=message,
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
