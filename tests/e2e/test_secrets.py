"""No secret leaves the server: credentials in BILLING_ADAPTER_URL and the billing keys stay out of
``lastError`` (settlements, retry jobs), the runtime profile, health and the logs."""

from __future__ import annotations

import socket

import httpx

from tests.support import expect, receipt

PASSWORD = "hunter2-billing-pw"
TOKEN = "tok_live_query_4711"
API_KEY = "key_live_billing_0123456789"
HMAC_SECRET = "whsec_billing_abcdef0123"


def test_billing_credentials_never_show(start_server) -> None:
    with socket.socket() as sock:  # nobody listens here: every submission is a network error
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = start_server(
        {
            "BILLING_ADAPTER_URL": f"http://billing:{PASSWORD}@127.0.0.1:{port}/settlements?token={TOKEN}",
            "BILLING_ADAPTER_API_KEY": API_KEY,
            "BILLING_ADAPTER_HMAC_SECRET": HMAC_SECRET,
        }
    )
    secrets = (PASSWORD, TOKEN, API_KEY, HMAC_SECRET)
    with httpx.Client(base_url=server.base_url, timeout=30) as api:
        answer = expect(api.post("/events/receipts", json=receipt()), 201)
        settlement_id = answer["settlement"]["settlementId"]
        processed = expect(api.post("/settlements/retry-queue/process", json={"limit": 5}), 200)
        assert processed["rescheduledCount"] == 1
        shown = [
            api.get("/settlements", params={"status": "retry_scheduled"}).text,
            api.get("/settlements/retry-jobs", params={"settlementId": settlement_id}).text,
            api.get("/system/runtime-profile").text,
            api.get("/health").text,
            api.get("/audit-trail", params={"entityId": settlement_id}).text,
            str(processed),
        ]
        settlement = next(
            s for s in expect(api.get("/settlements"), 200) if s["settlementId"] == settlement_id
        )
        assert settlement["providerResponseCode"] == "NETWORK_ERROR"
        assert "billing:***@127.0.0.1" in settlement["lastError"]
    server.stop()
    shown.append(server.output())
    for text in shown:
        for secret in secrets:
            assert secret not in text, f"{secret!r} leaked in: {text[:300]}"
