"""The billing gateways' contract (spec §8): simulated outcome, response codes, request bodies."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from server.domain import settlement as settlement_module
from server.domain.billing import (
    GENERIC_V1_CODES,
    LEDGER_V2_CODES,
    build_generic_v1_body,
    build_ledger_v2_body,
    map_provider_response,
    minor_units,
    network_error,
    parse_retry_after,
    simulated_outcome,
)
from server.domain.errors import ValidationFailed

from .factories import SEED_CLOCK, retry_job, settlement, utc


def body(**fields) -> bytes:
    return json.dumps(fields).encode()


# ---------------------------------------------------------------------------
# Simulated gateway
# ---------------------------------------------------------------------------


def test_simulated_settles():
    r = simulated_outcome(settlement(status="processing"))
    assert (r.ok, r.retryable, r.provider_state, r.code) == (True, False, "settled", "OK")
    assert r.provider_settlement_id == "sim_set_0000abcd"
    assert r.provider_reference == "intent_1"


@pytest.mark.parametrize(
    "s", [settlement(dispute_flag=True, status="processing"), settlement(status="disputed")]
)
def test_simulated_refuses_a_disputed_settlement(s):
    r = simulated_outcome(s)
    assert (r.ok, r.retryable, r.provider_state, r.code) == (False, False, "failed", "SETTLEMENT_DISPUTED")
    assert r.provider_settlement_id is None


def test_settlement_module_re_exports_the_contract():
    assert settlement_module.simulated_outcome is simulated_outcome
    assert settlement_module.map_provider_response is map_provider_response


# ---------------------------------------------------------------------------
# Code tables
# ---------------------------------------------------------------------------

GENERIC = {"ACCEPTED": "accepted", "SETTLED": "settled", "RETRY": "retry", "FAILED": "failed"}
LEDGER = {
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


def test_tables_are_exactly_the_spec():
    assert dict(GENERIC_V1_CODES) == GENERIC
    assert dict(LEDGER_V2_CODES) == LEDGER


def expect(result, state):
    assert result.provider_state == state
    assert result.ok is (state in ("settled", "accepted"))
    assert result.retryable is (state == "retry")


@pytest.mark.parametrize(("code", "state"), sorted(GENERIC.items()))
def test_generic_codes(code, state):
    r = map_provider_response(
        "generic_v1",
        200,
        body(code=code, provider_settlement_id="ps_1", provider_reference="ref_1", message="m"),
    )
    expect(r, state)
    assert r.code == code
    assert (r.provider_settlement_id, r.provider_reference, r.message) == ("ps_1", "ref_1", "m")


@pytest.mark.parametrize(("code", "state"), sorted(LEDGER.items()))
def test_ledger_codes(code, state):
    r = map_provider_response("ledger_api_v2", 200, body(code=code))
    expect(r, state)
    assert r.code == code


@pytest.mark.parametrize(("code", "state"), sorted(LEDGER.items()))
def test_a_known_code_wins_over_the_http_status(code, state):
    expect(map_provider_response("ledger_api_v2", 503, body(code=code)), state)


@pytest.mark.parametrize(
    ("status", "state"),
    [("settled", "settled"), ("accepted", "accepted"), ("retry", "retry"), ("failed", "failed")],
)
def test_without_a_code_the_upper_cased_status_is_used(status, state):
    r = map_provider_response("generic_v1", 200, body(status=status))
    expect(r, state)
    assert r.code == status.upper()


def test_the_code_wins_over_the_status():
    expect(map_provider_response("generic_v1", 200, body(status="settled", code="RETRY")), "retry")


def test_ledger_only_codes_are_unknown_to_generic():
    r = map_provider_response("generic_v1", 200, body(code="PAID"))
    expect(r, "retry")  # unknown code, 2xx: not a success we know
    assert r.code == "INVALID_RESPONSE"
    assert "PAID" in r.message
    expect(map_provider_response("generic_v1", 400, body(code="PAID")), "failed")


@pytest.mark.parametrize(
    ("http_status", "state"),
    [
        (429, "retry"),
        (500, "retry"),
        (502, "retry"),
        (503, "retry"),
        (599, "retry"),
        (300, "failed"),
        (400, "failed"),
        (401, "failed"),
        (404, "failed"),
        (409, "failed"),
        (422, "failed"),
    ],
)
@pytest.mark.parametrize("profile", ["generic_v1", "ledger_api_v2"])
def test_unknown_code_is_judged_by_http_status(profile, http_status, state):
    r = map_provider_response(profile, http_status, body(code="SOMETHING_NEW"))
    expect(r, state)
    assert r.code == "SOMETHING_NEW"


@pytest.mark.parametrize("http_status", [200, 201, 202, 299])
@pytest.mark.parametrize("profile", ["generic_v1", "ledger_api_v2"])
def test_a_2xx_with_an_unknown_code_and_status_is_retried_as_invalid(profile, http_status):
    r = map_provider_response(profile, http_status, body(code="SOMETHING_NEW", status="weird"))
    expect(r, "retry")
    assert r.code == "INVALID_RESPONSE"
    assert "SOMETHING_NEW" in r.message


@pytest.mark.parametrize(
    ("status", "state"), [("failed", "failed"), ("settled", "settled"), ("retry", "retry")]
)
def test_an_unknown_code_falls_back_to_the_status(status, state):
    r = map_provider_response("generic_v1", 200, body(status=status, code="WEIRD"))
    expect(r, state)
    assert r.code == "WEIRD"  # kept as the provider said it


@pytest.mark.parametrize("raw", [b"", b"   ", b"\n"])
@pytest.mark.parametrize("http_status", [200, 202, 204])
def test_2xx_with_an_empty_body_is_accepted(raw, http_status):
    r = map_provider_response("generic_v1", http_status, raw)
    expect(r, "accepted")
    assert r.code == "ACCEPTED_NO_BODY"


@pytest.mark.parametrize(("http_status", "state"), [(500, "retry"), (429, "retry"), (400, "failed")])
def test_non_2xx_with_an_empty_body(http_status, state):
    r = map_provider_response("ledger_api_v2", http_status, b"")
    expect(r, state)
    assert r.code == str(http_status)
    assert str(http_status) in r.message


@pytest.mark.parametrize(
    ("http_status", "raw", "state"),
    [(502, b"<html>Bad gateway</html>", "retry"), (400, b"oops", "failed"), (503, b'"busy"', "retry")],
)
def test_a_non_2xx_body_that_is_not_a_json_object_is_judged_by_status(http_status, raw, state):
    r = map_provider_response("generic_v1", http_status, raw)
    expect(r, state)
    assert r.code == str(http_status)
    assert r.message == raw.decode()


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[1, 2]",
        b"<html><body>OK</body></html>",
        b'"settled"',
        b"null",
        b"{" * 5000,
        b"\xff\xfe",
    ],
)
@pytest.mark.parametrize("http_status", [200, 201, 202])
def test_a_2xx_body_that_is_not_a_json_object_is_retried_as_invalid(http_status, raw):
    r = map_provider_response("ledger_api_v2", http_status, raw)
    expect(r, "retry")
    assert r.code == "INVALID_RESPONSE"
    assert "not a JSON object" in r.message


def test_a_429_carries_its_retry_after():
    r = map_provider_response("generic_v1", 429, b"", retry_after=120.0)
    expect(r, "retry")
    assert r.retry_after_seconds == 120.0
    # Retry-After only means something on a 429.
    assert map_provider_response("generic_v1", 503, b"", retry_after=120.0).retry_after_seconds is None


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        ("0", 0.0),
        ("-5", 0.0),
        ("1.5", 1.5),
        ("999999", 3600.0),
        ("soon", None),
        ("", None),
        (None, None),
        ("Wed, 11 Mar 2026 12:02:00 GMT", 120.0),
        ("Wed, 11 Mar 2026 11:00:00 GMT", 0.0),
        ("nan", None),
    ],
)
def test_retry_after_header(header, seconds):
    assert parse_retry_after(header, datetime(2026, 3, 11, 12, 0, tzinfo=UTC)) == seconds


def test_lower_case_codes_are_read():
    expect(map_provider_response("ledger_api_v2", 200, body(code="rate_limited")), "retry")


def test_unknown_profile():
    with pytest.raises(ValidationFailed):
        map_provider_response("ledger_v9", 200, b"")


def test_network_error_is_retryable():
    r = network_error("timed out after 5 s")
    expect(r, "retry")
    assert (r.code, r.message) == ("NETWORK_ERROR", "timed out after 5 s")


# ---------------------------------------------------------------------------
# Request bodies
# ---------------------------------------------------------------------------


def test_generic_v1_body():
    s = settlement(status="processing", generated_at=utc(2026, 3, 11, 12, 0, 0))
    job = retry_job(status="processing", attempts=1)
    assert build_generic_v1_body(s, job, utc(2026, 3, 11, 12, 0, 5)) == {
        "contract_version": "billing.settlement.v1",
        "settlement": {
            "settlement_id": "set_0000abcd",
            "trace_id": "trace_1",
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
            "intent_id": "intent_1",
        },
        "delivery": {"retry_job_id": "retry_0000abcd", "attempts": 1, "sent_at": "2026-03-11T12:00:05Z"},
    }


def test_generic_v1_body_without_a_job():
    b = build_generic_v1_body(settlement(trace_id=None), None, SEED_CLOCK)
    assert b["delivery"] == {"retry_job_id": None, "attempts": 0, "sent_at": "2026-03-11T12:00:00Z"}
    assert b["settlement"]["trace_id"] == "intent_1"


def test_ledger_v2_body():
    s = settlement(
        status="processing",
        amount=19.99,
        billing_model="CPA",
        event_type="conversion.attributed",
        attribution_window="30d",
    )
    assert build_ledger_v2_body(s, retry_job(attempts=2)) == {
        "schema_version": "ledger.settlement.v2",
        "settlement_id": "set_0000abcd",
        "trace_id": "trace_1",
        "campaign_id": "cmp_hubflow",
        "offer_id": "offer_hubflow",
        "partner_id": "partner_procure_pilot",
        "intent_id": "intent_1",
        "billing_model": "CPA",
        "trigger_event": "conversion.attributed",
        "gross_amount_minor": 1999,
        "currency": "USD",
        "attribution_window": "30d",
        "settlement_status": "processing",
        "retry_attempt": 2,
        "generated_at": "2026-03-11T12:00:00Z",
    }
    assert build_ledger_v2_body(s, None)["retry_attempt"] == 0


@pytest.mark.parametrize(
    ("amount", "minor"),
    [
        (120, 12000),
        (900.0, 90000),
        (19.99, 1999),
        (0.125, 13),
        (0.015, 2),
        (0.014, 1),
        (1.005, 101),
        (2.675, 268),
        (1.1, 110),
        (0.01, 1),
    ],
)
def test_minor_units_round_halves_up(amount, minor):
    assert minor_units(amount) == minor
    assert isinstance(minor_units(amount), int)


def test_bodies_are_json_serialisable():
    s = settlement()
    json.dumps(build_generic_v1_body(s, retry_job(), SEED_CLOCK))
    json.dumps(build_ledger_v2_body(s, retry_job()))
