"""9. The retry queue and the dead-letter queue against a real HTTP billing provider (a stub)."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from datetime import datetime

import httpx
import pytest

from tests.support import BillingStub, error_body, expect, receipt, uid


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@pytest.fixture(scope="module")
def http_server(module_server_factory, module_billing_stub: BillingStub):
    """One server for the module whose billing gateway is the stub (generic_v1, 2 s timeout)."""
    return module_server_factory(
        {"BILLING_ADAPTER_URL": module_billing_stub.url, "BILLING_ADAPTER_TIMEOUT_MS": "2000"}
    )


@pytest.fixture
def billing(module_billing_stub: BillingStub) -> Iterator[BillingStub]:
    module_billing_stub.clear()
    yield module_billing_stub
    module_billing_stub.respond(200, {"status": "settled", "code": "SETTLED"})


@pytest.fixture
def http_api(http_server, billing: BillingStub) -> Iterator[httpx.Client]:
    """A client of the module's server. After each test every settlement still payable is
    disputed (which cancels its retry job), so each test starts with an empty queue."""
    with httpx.Client(base_url=http_server.base_url, timeout=20) as client:
        assert _process(client)["processedCount"] == 0, "a previous test left due jobs behind"
        yield client
        payable = {"status": "pending,processing,retry_scheduled", "limit": 1000}
        for s in expect(client.get("/settlements", params=payable), 200):
            expect(client.post(f"/settlements/{s['settlementId']}/dispute", json={"reason": "cleanup"}), 200)


def test_health_reports_http_billing(http_api: httpx.Client, persistence: str) -> None:
    assert expect(http_api.get("/health"), 200)["billingMode"] == "http"
    profile = expect(http_api.get("/system/runtime-profile"), 200)
    assert profile["billingMode"] == "http"
    assert profile["persistence"] == persistence
    assert profile["hotState"] == "memory"


def _new_settlement(api: httpx.Client, **overrides) -> dict:
    body = expect(api.post("/events/receipts", json=receipt(eventType="shortlisted", **overrides)), 201)
    assert body["settlement"] is not None
    return body["settlement"]


def _settlement(api: httpx.Client, settlement_id: str) -> dict:
    (found,) = [s for s in expect(api.get("/settlements"), 200) if s["settlementId"] == settlement_id]
    return found


def _job(api: httpx.Client, settlement_id: str) -> dict:
    jobs = expect(api.get("/settlements/retry-jobs", params={"settlementId": settlement_id}), 200)
    assert len(jobs) == 1, jobs
    return jobs[0]


def _dlq(api: httpx.Client, **params) -> dict:
    return expect(api.get("/settlements/dlq", params=params), 200)


def _process(api: httpx.Client, **body) -> dict:
    return expect(api.post("/settlements/retry-queue/process", json=body), 200)


def test_provider_503_reschedules_with_backoff(http_api: httpx.Client, billing: BillingStub) -> None:
    api = http_api
    billing_stub = billing
    billing_stub.respond(503, {"message": "maintenance"})
    intent = uid("intent_503")
    settlement = _new_settlement(api, intentId=intent)
    settlement_id = settlement["settlementId"]

    result = _process(api)
    assert result["processedCount"] == 1
    assert result["rescheduledCount"] == 1
    assert result["settledCount"] == 0
    assert result["failedCount"] == 0
    (item,) = result["items"]
    assert item["settlementId"] == settlement_id
    assert item["outcome"] == "rescheduled"

    job = _job(api, settlement_id)
    assert job["status"] == "retry_scheduled"
    assert job["attempts"] == 1
    assert job["maxAttempts"] == 3
    assert job["lastError"]
    # Back-off after the first attempt: 15 · 2^0 seconds.
    delay = (_ts(job["nextRunAt"]) - _ts(job["lastAttemptAt"])).total_seconds()
    assert delay == pytest.approx(15, abs=1.0)
    stored = _settlement(api, settlement_id)
    assert stored["status"] == "retry_scheduled"
    assert stored["providerState"] == "retry"

    requests = billing_stub.requests
    assert len(requests) == 1
    sent = requests[0]
    assert sent.method == "POST"
    assert sent.headers["idempotency-key"] == settlement_id
    assert sent.headers["content-type"].startswith("application/json")
    assert sent.headers["x-billing-contract-version"] == "billing.settlement.v1"
    assert sent.headers["x-billing-trace-id"] == intent
    assert "authorization" not in sent.headers
    body = sent.json
    assert body["contract_version"] == "billing.settlement.v1"
    assert body["settlement"]["settlement_id"] == settlement_id
    assert body["settlement"]["amount"] == {"value": 120, "currency": "USD"}
    assert body["settlement"]["billing_model"] == "CPQR"
    assert body["settlement"]["event_type"] == "offer.shortlisted"
    assert body["settlement"]["attribution_window"] == "session"
    assert body["context"] == {
        "campaign_id": "cmp_hubflow",
        "offer_id": "offer_hubflow",
        "partner_id": "partner_procure_pilot",
        "intent_id": intent,
    }
    assert body["delivery"]["retry_job_id"] == job["retryJobId"]
    assert body["delivery"]["attempts"] == 1

    # Not due yet: a second run submits nothing.
    again = _process(api)
    assert again["processedCount"] == 0
    assert len(billing_stub.requests) == 1

    # A retry_scheduled settlement can still be disputed; its job is cancelled.
    disputed = expect(api.post(f"/settlements/{settlement_id}/dispute", json={}), 200)
    assert disputed["status"] == "disputed"
    assert _job(api, settlement_id)["status"] == "cancelled"


def test_provider_retry_code_reschedules(http_api: httpx.Client, billing: BillingStub) -> None:
    billing_stub = billing
    billing_stub.respond(200, {"code": "RETRY", "message": "try later"})
    settlement_id = _new_settlement(http_api)["settlementId"]
    result = _process(http_api)
    assert result["rescheduledCount"] == 1
    job = _job(http_api, settlement_id)
    assert (job["status"], job["attempts"]) == ("retry_scheduled", 1)


def test_failed_goes_to_dlq_then_replay_settles(http_api: httpx.Client, billing: BillingStub) -> None:
    api = http_api
    billing_stub = billing
    billing_stub.respond(200, {"status": "failed", "code": "FAILED", "message": "Account closed."})
    settlement_id = _new_settlement(api)["settlementId"]

    result = _process(api)
    assert result["failedCount"] == 1
    assert result["processedCount"] == 1
    assert result["settledCount"] == 0
    assert result["rescheduledCount"] == 0
    stored = _settlement(api, settlement_id)
    assert stored["status"] == "failed"
    assert stored["providerState"] == "failed"
    assert stored["providerResponseCode"] == "FAILED"
    assert _job(api, settlement_id)["status"] == "failed"

    page = _dlq(api, settlementId=settlement_id)
    assert page["total"] == 1
    (entry,) = page["items"]
    assert entry["status"] == "open"
    assert entry["reason"] == "worker_failed_max_attempts"
    assert entry["settlementId"] == settlement_id
    assert entry["lastError"]
    assert entry["dlqEntryId"].startswith("dlq_")
    assert entry["payload"]["settlement"]["settlementId"] == settlement_id
    open_page = _dlq(api, status="open", pageSize=100)
    assert entry["dlqEntryId"] in [e["dlqEntryId"] for e in open_page["items"]]
    assert {e["status"] for e in open_page["items"]} == {"open"}
    dlq_open = expect(api.get("/dashboard"), 200)["dlqOpen"]
    assert dlq_open == open_page["total"] >= 1

    # A failed settlement is terminal for disputes.
    refused = api.post(f"/settlements/{settlement_id}/dispute", json={})
    assert refused.status_code == 409, refused.text
    error_body(refused)

    replayed = expect(
        api.post(
            f"/settlements/dlq/{entry['dlqEntryId']}/replay", json={"resolutionNote": "account reopened"}
        ),
        200,
    )
    assert replayed["dlqEntry"]["status"] == "replayed"
    assert replayed["dlqEntry"]["dlqEntryId"] == entry["dlqEntryId"]
    assert replayed["settlement"]["status"] == "retry_scheduled"
    assert replayed["settlement"]["disputeFlag"] is False
    assert replayed["retryJob"]["status"] == "queued"
    assert replayed["retryJob"]["attempts"] == 0
    assert _job(api, settlement_id)["status"] == "queued"
    assert _settlement(api, settlement_id)["status"] == "retry_scheduled"

    billing_stub.respond(
        200,
        {
            "status": "settled",
            "code": "SETTLED",
            "provider_settlement_id": "prov_42",
            "provider_reference": "r42",
        },
    )
    result = _process(api)
    assert result["settledCount"] == 1
    assert result["failedCount"] == 0
    stored = _settlement(api, settlement_id)
    assert stored["status"] == "settled"
    assert stored["providerSettlementId"] == "prov_42"
    assert stored["providerReference"] == "r42"
    assert stored["providerState"] == "settled"
    assert _job(api, settlement_id)["status"] == "completed"

    (entry,) = _dlq(api, settlementId=settlement_id)["items"]
    assert entry["status"] == "resolved"
    assert entry["resolutionNote"] == "Settlement eventually succeeded."
    assert entry["resolvedAt"]
    assert _dlq(api, settlementId=settlement_id)["total"] == 1  # one entry per settlement, reused
    assert expect(api.get("/dashboard"), 200)["dlqOpen"] == dlq_open - 1

    submitted = billing_stub.requests_for(settlement_id)
    assert len(submitted) == 2
    assert all(r.headers["idempotency-key"] == settlement_id for r in submitted)


def test_resolve_and_ignore(http_api: httpx.Client, billing: BillingStub) -> None:
    api = http_api
    billing_stub = billing
    billing_stub.respond(422, {"status": "failed", "code": "FAILED"})
    ids = [_new_settlement(api)["settlementId"] for _ in range(3)]
    result = _process(api)
    assert result["failedCount"] == 3
    entries = {}
    for settlement_id in ids:
        (entry,) = _dlq(api, settlementId=settlement_id)["items"]
        assert entry["status"] == "open"
        entries[settlement_id] = entry["dlqEntryId"]
    first, second, third = (entries[s] for s in ids)

    refused = api.post(f"/settlements/dlq/{first}/resolve", json={"status": "replayed"})
    assert refused.status_code == 400, refused.text
    assert error_body(refused).get("field") == "status"
    refused = api.post(f"/settlements/dlq/{first}/resolve", json={"status": "open"})
    assert refused.status_code == 400, refused.text
    assert _dlq(api, settlementId=ids[0])["items"][0]["status"] == "open"

    ignored = expect(
        api.post(f"/settlements/dlq/{first}/resolve", json={"status": "ignored", "resolutionNote": "test"}),
        200,
    )
    assert ignored["status"] == "ignored"
    assert ignored["dlqEntryId"] == first
    resolved = expect(api.post(f"/settlements/dlq/{second}/resolve", json={"status": "resolved"}), 200)
    assert resolved["status"] == "resolved"
    assert resolved["resolvedAt"]
    # Resolving is about the entry only: the settlement stays failed.
    assert _settlement(api, ids[1])["status"] == "failed"

    def ids_with(status: str) -> set[str]:
        page = _dlq(api, status=status, pageSize=100)
        assert {e["status"] for e in page["items"]} <= {status}
        return {e["dlqEntryId"] for e in page["items"]} & {first, second, third}

    assert ids_with("open") == {third}
    assert ids_with("ignored") == {first}
    assert ids_with("resolved") == {second}

    # Pages of the DLQ: newest first, disjoint, consistent totals.
    total = _dlq(api)["total"]
    assert total >= 3
    pages = [_dlq(api, pageSize=2, page=n) for n in range(1, (total + 1) // 2 + 1)]
    for number, page in enumerate(pages, start=1):
        assert page["total"] == total
        assert page["page"] == number and page["pageSize"] == 2
        assert page["hasPreviousPage"] is (number > 1)
        assert page["hasNextPage"] is (number < len(pages))
    seen = [e["dlqEntryId"] for page in pages for e in page["items"]]
    assert len(seen) == len(set(seen)) == total
    assert seen[:3] and set(seen[:3]) == {first, second, third}  # ours are the newest three
    created = [_ts(e["createdAt"]) for page in pages for e in page["items"]]
    assert created == sorted(created, reverse=True)


def test_ledger_v2_profile_with_key_and_signature(start_server, billing_stub: BillingStub) -> None:
    secret = "s3cr3t-for-e2e"
    server = start_server(
        {
            "BILLING_ADAPTER_URL": billing_stub.url,
            "BILLING_PROVIDER_PROFILE": "ledger_api_v2",
            "BILLING_ADAPTER_API_KEY": "key-e2e-123",
            "BILLING_ADAPTER_HMAC_SECRET": secret,
        }
    )
    billing_stub.respond(200, {"status": "paid", "code": "PAID", "provider_settlement_id": "led_7"})
    with httpx.Client(base_url=server.base_url, timeout=20) as api:
        intent = uid("intent_ledger")
        settlement_id = _new_settlement(api, intentId=intent)["settlementId"]
        result = _process(api)
        assert result["settledCount"] == 1
        stored = _settlement(api, settlement_id)
        assert stored["status"] == "settled"
        assert stored["providerSettlementId"] == "led_7"

    (sent,) = billing_stub.requests
    assert sent.headers["idempotency-key"] == settlement_id
    assert sent.headers["authorization"] == "Bearer key-e2e-123"
    assert sent.headers["x-billing-contract-version"] == "ledger.settlement.v2"
    body = sent.json
    assert body["schema_version"] == "ledger.settlement.v2"
    assert body["settlement_id"] == settlement_id
    assert body["gross_amount_minor"] == 12000
    assert body["trigger_event"] == "offer.shortlisted"
    assert body["intent_id"] == intent
    assert body["currency"] == "USD"
    timestamp = sent.headers["x-billing-timestamp"]
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + sent.raw, hashlib.sha256).hexdigest()
    assert sent.headers["x-billing-signature"] == expected


def test_empty_2xx_is_accepted_and_settles(http_api: httpx.Client, billing: BillingStub) -> None:
    billing_stub = billing
    billing_stub.respond(202, None)
    settlement_id = _new_settlement(http_api)["settlementId"]
    assert _process(http_api)["settledCount"] == 1
    stored = _settlement(http_api, settlement_id)
    assert stored["status"] == "settled"
    assert stored["providerState"] == "accepted"
    assert stored["providerResponseCode"] == "ACCEPTED_NO_BODY"


@pytest.mark.parametrize(
    "reply", [{"status": 0}, {"status": 200, "delay_s": 3.0}], ids=["dropped", "timeout"]
)
def test_network_error_or_timeout_is_retried(
    http_api: httpx.Client, billing: BillingStub, reply: dict
) -> None:
    billing.respond(**reply)
    settlement_id = _new_settlement(http_api)["settlementId"]
    result = _process(http_api)
    assert result["rescheduledCount"] == 1, result
    stored = _settlement(http_api, settlement_id)
    assert stored["status"] == "retry_scheduled"
    assert stored["providerResponseCode"] == "NETWORK_ERROR"
    assert _job(http_api, settlement_id)["attempts"] == 1
