"""The HTTP billing gateway against a real HTTP server on loopback (spec §8).

The server is a stub made here whose answers each test sets (the shipped mock
adapter is exercised in ``test_billing_mock.py``). Request bodies, headers and
the HMAC are checked against the bytes that arrived, with expectations written
out from the spec rather than from the code under test.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from server.adapters.billing import HttpGateway
from server.domain.billing import GatewayResult
from server.domain.models import SettlementReceipt, SettlementRetryJob
from tests.support import BillingStub

SENT_AT = datetime(2026, 3, 11, 12, 30, 5, 250000, tzinfo=UTC)
SECRET = "whsec_test_7f3a"


def a_settlement(amount: float = 120.0, settlement_id: str = "set_1a2b3c4d") -> SettlementReceipt:
    return SettlementReceipt(
        settlement_id=settlement_id,
        data_provenance="real_event",
        campaign_id="cmp_hubflow",
        offer_id="offer_hubflow",
        partner_id="partner_procure_pilot",
        intent_id="int_http_1",
        trace_id="trace_http_1",
        billing_model="CPQR",
        event_type="offer.shortlisted",
        amount=amount,
        currency="USD",
        attribution_window="session",
        status="processing",
        generated_at=datetime(2026, 3, 11, 12, 0, 0, tzinfo=UTC),
        updated_at=datetime(2026, 3, 11, 12, 0, 0, tzinfo=UTC),
    )


def a_job(settlement_id: str = "set_1a2b3c4d", attempts: int = 2) -> SettlementRetryJob:
    at = datetime(2026, 3, 11, 12, 0, 0, tzinfo=UTC)
    return SettlementRetryJob(
        retry_job_id="retry_9f8e7d6c",
        settlement_id=settlement_id,
        trace_id="trace_http_1",
        status="processing",
        attempts=attempts,
        next_run_at=at,
        created_at=at,
        updated_at=at,
    )


def gateway(url: str, **kw) -> HttpGateway:
    kw.setdefault("clock", lambda: SENT_AT)
    return HttpGateway(url, **kw)


@pytest.fixture
def stub() -> Iterator[BillingStub]:
    server = BillingStub()
    yield server
    server.stop()


def verify_signature(secret: str, timestamp: str, raw: bytes, signature: str) -> bool:
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


# ---------------------------------------------------------------------------
# What is sent
# ---------------------------------------------------------------------------


async def test_generic_v1_body_and_headers(stub: BillingStub) -> None:
    gw = gateway(stub.url, profile="generic_v1", api_key="key_1", hmac_secret=SECRET)
    result = await gw.submit(a_settlement(), a_job())
    await gw.close()
    assert result.ok
    [request] = stub.requests
    assert request.json == {
        "contract_version": "billing.settlement.v1",
        "settlement": {
            "settlement_id": "set_1a2b3c4d",
            "trace_id": "trace_http_1",
            "billing_model": "CPQR",
            "event_type": "offer.shortlisted",
            "amount": {"value": 120.0, "currency": "USD"},
            "attribution_window": "session",
            "status": "processing",
            "generated_at": "2026-03-11T12:00:00Z",
        },
        "context": {
            "campaign_id": "cmp_hubflow",
            "offer_id": "offer_hubflow",
            "partner_id": "partner_procure_pilot",
            "intent_id": "int_http_1",
        },
        "delivery": {
            "retry_job_id": "retry_9f8e7d6c",
            "attempts": 2,
            "sent_at": "2026-03-11T12:30:05.250000Z",
        },
    }
    h = request.headers
    assert h["content-type"] == "application/json"
    assert h["x-billing-contract-version"] == "billing.settlement.v1"
    assert h["x-billing-trace-id"] == "trace_http_1"
    assert h["idempotency-key"] == "set_1a2b3c4d"
    assert h["authorization"] == "Bearer key_1"
    assert h["x-billing-timestamp"] == "2026-03-11T12:30:05.250000Z"
    assert verify_signature(SECRET, h["x-billing-timestamp"], request.raw, h["x-billing-signature"])
    assert not verify_signature(
        "another-secret", h["x-billing-timestamp"], request.raw, h["x-billing-signature"]
    )


@pytest.mark.parametrize(("amount", "minor"), [(120.0, 12000), (10.005, 1001), (0.125, 13), (19.994, 1999)])
async def test_ledger_api_v2_body_and_headers(stub: BillingStub, amount: float, minor: int) -> None:
    gw = gateway(
        stub.url,
        profile="ledger_api_v2",
        hmac_secret=SECRET,
        signature_header="x-ledger-sig",
        timestamp_header="x-ledger-ts",
    )
    await gw.submit(a_settlement(amount), a_job(attempts=3))
    await gw.close()
    [request] = stub.requests
    assert request.json == {
        "schema_version": "ledger.settlement.v2",
        "settlement_id": "set_1a2b3c4d",
        "trace_id": "trace_http_1",
        "campaign_id": "cmp_hubflow",
        "offer_id": "offer_hubflow",
        "partner_id": "partner_procure_pilot",
        "intent_id": "int_http_1",
        "billing_model": "CPQR",
        "trigger_event": "offer.shortlisted",
        "gross_amount_minor": minor,
        "currency": "USD",
        "attribution_window": "session",
        "settlement_status": "processing",
        "retry_attempt": 3,
        "generated_at": "2026-03-11T12:00:00Z",
    }
    h = request.headers
    assert h["x-billing-contract-version"] == "ledger.settlement.v2"
    assert h["idempotency-key"] == "set_1a2b3c4d"
    assert "authorization" not in h and "x-billing-signature" not in h and "x-billing-timestamp" not in h
    assert verify_signature(SECRET, h["x-ledger-ts"], request.raw, h["x-ledger-sig"])


# ---------------------------------------------------------------------------
# How answers are read
# ---------------------------------------------------------------------------

GENERIC = [("ACCEPTED", "accepted"), ("SETTLED", "settled"), ("RETRY", "retry"), ("FAILED", "failed")]
LEDGER = [
    ("ACCEPTED", "accepted"),
    ("ASYNC_PROCESSING", "accepted"),
    ("SETTLED", "settled"),
    ("PAID", "settled"),
    ("DUPLICATE_SETTLED", "settled"),
    ("RATE_LIMITED", "retry"),
    ("TEMP_UNAVAILABLE", "retry"),
    ("RETRYABLE_ERROR", "retry"),
    ("INVALID_SIGNATURE", "failed"),
    ("INVALID_PAYLOAD", "failed"),
    ("POLICY_BLOCKED", "failed"),
    ("FAILED", "failed"),
]
CASES = [("generic_v1", c, s) for c, s in GENERIC] + [("ledger_api_v2", c, s) for c, s in LEDGER]


def expect(result: GatewayResult, state: str, code: str) -> None:
    assert (result.provider_state, result.code) == (state, code), result
    assert result.ok is (state in ("settled", "accepted"))
    assert result.retryable is (state == "retry")


@pytest.mark.parametrize(("profile", "code", "state"), CASES)
async def test_every_code_of_both_tables(stub: BillingStub, profile: str, code: str, state: str) -> None:
    # The code wins over the HTTP status: send every code with a status that would say otherwise.
    status = 503 if state in ("settled", "accepted") else 200
    stub.respond(
        status,
        {
            "status": "whatever",
            "code": code,
            "provider_settlement_id": "prov_1",
            "provider_reference": "ref_1",
            "message": "m",
        },
    )
    gw = gateway(stub.url, profile=profile)
    result = await gw.submit(a_settlement(), a_job())
    await gw.close()
    expect(result, state, code)
    assert (result.provider_settlement_id, result.provider_reference) == ("prov_1", "ref_1")


@pytest.mark.parametrize("profile", ["generic_v1", "ledger_api_v2"])
async def test_the_status_field_stands_in_for_a_missing_code(stub: BillingStub, profile: str) -> None:
    stub.respond(200, {"status": "accepted"})
    gw = gateway(stub.url, profile=profile)
    expect(await gw.submit(a_settlement(), a_job()), "accepted", "ACCEPTED")
    await gw.close()


@pytest.mark.parametrize(
    ("status", "state"),
    [
        (429, "retry"),
        (500, "retry"),
        (502, "retry"),
        (503, "retry"),
        (200, "retry"),
        (201, "retry"),
        (400, "failed"),
        (404, "failed"),
        (409, "failed"),
    ],
)
@pytest.mark.parametrize("profile", ["generic_v1", "ledger_api_v2"])
async def test_unknown_codes_go_by_http_status(
    stub: BillingStub, profile: str, status: int, state: str
) -> None:
    stub.respond(status, {"code": "SOMETHING_NEW", "message": "?"})
    gw = gateway(stub.url, profile=profile)
    # A 2xx with a code nobody knows is not a success: retried (INVALID_RESPONSE), never settled.
    expect(
        await gw.submit(a_settlement(), a_job()),
        state,
        "INVALID_RESPONSE" if status < 300 else "SOMETHING_NEW",
    )
    await gw.close()


@pytest.mark.parametrize(("status", "state"), [(500, "retry"), (503, "retry"), (422, "failed")])
async def test_invalid_json_goes_by_http_status(stub: BillingStub, status: int, state: str) -> None:
    stub.respond(status, b"<html>not json{")
    gw = gateway(stub.url, profile="ledger_api_v2")
    result = await gw.submit(a_settlement(), a_job())
    await gw.close()
    assert result.provider_state == state and result.code == str(status)


@pytest.mark.parametrize(
    "body", [b"<html>OK</html>", b"garbage", b"[]", {"status": "ok"}, {"code": "WEIRD"}, b"\x00\x01\x02"]
)
async def test_a_2xx_that_says_nothing_known_is_retried_never_settled(stub: BillingStub, body) -> None:
    stub.respond(200, body)
    gw = gateway(stub.url, profile="generic_v1")
    result = await gw.submit(a_settlement(), a_job())
    await gw.close()
    expect(result, "retry", "INVALID_RESPONSE")


async def test_an_unknown_code_with_a_failed_status_fails(stub: BillingStub) -> None:
    stub.respond(200, {"status": "failed", "code": "WEIRD"})
    gw = gateway(stub.url)
    expect(await gw.submit(a_settlement(), a_job()), "failed", "WEIRD")
    await gw.close()


async def test_a_429_hands_on_its_retry_after(stub: BillingStub) -> None:
    stub.respond(429, {"code": "RATE_LIMITED"}, headers={"Retry-After": "90"})
    gw = gateway(stub.url, profile="ledger_api_v2")
    result = await gw.submit(a_settlement(), a_job())
    await gw.close()
    expect(result, "retry", "RATE_LIMITED")
    assert result.retry_after_seconds == 90.0


async def test_a_drip_feeding_provider_is_cut_off_at_the_total_deadline(stub: BillingStub) -> None:
    # Every byte arrives well inside httpx's per-read timeout, the whole answer far beyond the deadline:
    # only a deadline over the whole call stops it (before, the call stayed open until the last byte).
    stub.respond(
        200, {"status": "settled", "code": "SETTLED", "provider_settlement_id": "ps_drip"}, drip_s=0.25
    )
    gw = gateway(stub.url, timeout_ms=1000)
    result = await gw.submit(a_settlement(), a_job())
    await gw.close()
    expect(result, "retry", "NETWORK_ERROR")
    assert "within 1000 ms" in (result.message or "")


async def test_credentials_in_the_url_never_reach_the_error(stub: BillingStub) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gw = gateway(
        f"http://billing:hunter2secret@127.0.0.1:{port}/settlements?token=tok_abcdef", api_key="key_live_123"
    )
    result = await gw.submit(a_settlement(), a_job())
    await gw.close()
    expect(result, "retry", "NETWORK_ERROR")
    assert "hunter2secret" not in result.message and "tok_abcdef" not in result.message
    assert "billing:***@127.0.0.1" in result.message


async def test_empty_2xx_body_is_accepted(stub: BillingStub) -> None:
    stub.respond(202, None)
    gw = gateway(stub.url)
    expect(await gw.submit(a_settlement(), a_job()), "accepted", "ACCEPTED_NO_BODY")
    await gw.close()


async def test_a_slow_server_beyond_the_timeout_is_retryable(stub: BillingStub) -> None:
    stub.respond(200, {"code": "SETTLED"}, delay_s=3.0)
    gw = gateway(stub.url, timeout_ms=200)
    result = await gw.submit(a_settlement(), a_job())
    await gw.close()
    expect(result, "retry", "NETWORK_ERROR")
    assert "did not answer within 200 ms" in (result.message or "")


async def test_a_refused_connection_is_retryable() -> None:
    with socket.socket() as sock:  # a port that nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gw = gateway(f"http://127.0.0.1:{port}/settlements")
    result = await gw.submit(a_settlement(), a_job())
    await gw.close()
    expect(result, "retry", "NETWORK_ERROR")
