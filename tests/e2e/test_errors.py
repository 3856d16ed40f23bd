"""6. Errors: 400 for bad input (naming the field), 404 for unknown ids, never a 500."""

from __future__ import annotations

import httpx
import pytest

from tests.support import campaign_draft, error_body, opportunity, receipt

JSON = {"content-type": "application/json"}


def _status(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url} → {response.status_code}, expected {status}: "
        f"{response.text[:600]}"
    )
    return error_body(response)


# ---------------------------------------------------------------------------
# Malformed and invalid bodies
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/campaigns", "/events/receipts", "/opportunities/evaluate"])
def test_invalid_json_is_400_with_a_message(api: httpx.Client, path: str) -> None:
    body = _status(api.post(path, content=b'{"advertiser": "x",', headers=JSON), 400)
    assert "json" in body["message"].lower()


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("/opportunities/evaluate", opportunity(sponsoredSlots="four"), "sponsoredSlots"),
        ("/opportunities/evaluate", opportunity(sponsoredSlots=0), "sponsoredSlots"),
        ("/opportunities/evaluate", opportunity(relevanceFloor=2), "relevanceFloor"),
        ("/opportunities/evaluate", opportunity(category=7), "category"),
        ("/events/receipts", receipt(occurredAt="yesterday-ish"), "occurredAt"),
        ("/events/receipts", receipt(intentId=["a"]), "intentId"),
        ("/events/receipts", receipt(eventType="teleported"), "eventType"),
        ("/events/receipts", receipt(dataProvenance="made_up"), "dataProvenance"),
        ("/campaigns", campaign_draft(payoutAmount="lots"), "payoutAmount"),
        ("/campaigns", campaign_draft(payoutAmount=-5), "payoutAmount"),
        ("/campaigns", campaign_draft(regions="US"), "regions"),
        ("/campaigns", campaign_draft(billingModel="CPM"), "billingModel"),
        ("/campaigns", campaign_draft(product={"price": "free"}), "product.price"),
    ],
)
def test_wrong_field_type_is_400_naming_the_field(
    api: httpx.Client, path: str, payload: dict, field: str
) -> None:
    body = _status(api.post(path, json=payload), 400)
    assert body.get("field") == field, body


@pytest.mark.parametrize(
    ("path", "payload", "missing"),
    [
        ("/events/receipts", {k: v for k, v in receipt().items() if k != "signature"}, "signature"),
        ("/events/receipts", {k: v for k, v in receipt().items() if k != "receiptId"}, "receiptId"),
        ("/opportunities/evaluate", {k: v for k, v in opportunity().items() if k != "intentId"}, "intentId"),
        ("/campaigns", {k: v for k, v in campaign_draft().items() if k != "product"}, "product"),
        ("/campaigns", {k: v for k, v in campaign_draft().items() if k != "advertiser"}, "advertiser"),
    ],
)
def test_missing_required_field_is_400(api: httpx.Client, path: str, payload: dict, missing: str) -> None:
    body = _status(api.post(path, json=payload), 400)
    assert missing in body["message"] or body.get("field") == missing, body


def test_campaign_validation_stores_nothing(api: httpx.Client) -> None:
    before = len(api.get("/campaigns").json())
    _status(api.post("/campaigns", json=campaign_draft(currency=12)), 400)
    _status(
        api.post("/campaigns", json=campaign_draft(product={"actionEndpoints": ["https://example.com/x"]})),
        400,
    )
    assert len(api.get("/campaigns").json()) == before


# ---------------------------------------------------------------------------
# Placeholder data
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("draft", "field_hint"),
    [
        (campaign_draft(product={"actionEndpoints": ["https://example.com/x"]}), "actionEndpoints"),
        (campaign_draft(product={"actionEndpoints": ["https://shop.example.com/buy"]}), "actionEndpoints"),
        (campaign_draft(product={"claims": ["replace with your claim"]}), "claims"),
        (campaign_draft(advertiser="Your Company Name"), "advertiser"),
        (campaign_draft(disclosureText="Sponsored placeholder text"), "disclosureText"),
        (
            campaign_draft(
                proofReferences=[{"label": "Proof", "type": "doc", "url": "https://example.com/proof"}]
            ),
            "proofReferences",
        ),
    ],
)
def test_placeholder_data_is_refused(api: httpx.Client, draft: dict, field_hint: str) -> None:
    body = _status(api.post("/campaigns", json=draft), 400)
    assert "real value" in body["message"].lower(), body
    assert field_hint in (body.get("field") or "") or field_hint in body["message"], body


def test_localhost_urls_are_allowed(api: httpx.Client) -> None:
    draft = campaign_draft(product={"actionEndpoints": ["http://localhost:8080/demo"]})
    response = api.post("/campaigns", json=draft)
    assert response.status_code == 201, response.text


# ---------------------------------------------------------------------------
# Unknown ids and bad query parameters
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/campaigns/cmp_nope"),
        ("GET", "/campaigns/cmp_nope/policy-check"),
        ("POST", "/campaigns/cmp_nope/activate"),
        ("POST", "/campaigns/cmp_nope/review"),
        ("POST", "/settlements/set_nope/dispute"),
        ("POST", "/settlements/dlq/dlq_nope/replay"),
        ("GET", "/agent-leads/lead_nope"),
    ],
)
def test_unknown_ids_are_404(api: httpx.Client, method: str, path: str) -> None:
    body = _status(api.request(method, path), 404)
    assert "nope" in body["message"], body


def test_review_decision_on_unknown_campaign_is_404(api: httpx.Client) -> None:
    _status(api.post("/campaigns/cmp_nope/review", json={"decision": "approve", "note": "ok"}), 404)


def test_unknown_dlq_entry_resolve_is_404(api: httpx.Client) -> None:
    _status(api.post("/settlements/dlq/dlq_nope/resolve", json={"status": "ignored"}), 404)


@pytest.mark.parametrize(
    ("path", "params", "field"),
    [
        ("/audit-trail", {"pageSize": 101}, "pageSize"),
        ("/settlements/dlq", {"pageSize": 101}, "pageSize"),
        ("/audit-trail", {"pageSize": 0}, "pageSize"),
        ("/audit-trail", {"page": 0}, "page"),
        ("/settlements/dlq", {"page": -1}, "page"),
        ("/settlements/retry-jobs", {"limit": 1001}, "limit"),
        ("/settlements/retry-jobs", {"limit": 0}, "limit"),
        ("/settlements", {"limit": 1001}, "limit"),
        ("/settlements", {"limit": 0}, "limit"),
        ("/audit-trail", {"page": "two"}, "page"),
        ("/settlements/dlq", {"pageSize": "many"}, "pageSize"),
    ],
)
def test_bad_query_parameters_are_400(api: httpx.Client, path: str, params: dict, field: str) -> None:
    body = _status(api.get(path, params=params), 400)
    assert body.get("field") == field or field in body["message"], body


def test_page_size_100_is_accepted(api: httpx.Client) -> None:
    assert api.get("/audit-trail", params={"pageSize": 100}).status_code == 200
    assert api.get("/settlements/dlq", params={"pageSize": 100}).status_code == 200


def test_unknown_route_and_wrong_method(api: httpx.Client) -> None:
    _status(api.get("/no/such/endpoint"), 404)
    response = api.delete("/campaigns")
    assert response.status_code == 405, response.text
    error_body(response)


# ---------------------------------------------------------------------------
# Garbage on every POST endpoint: never a 500
# ---------------------------------------------------------------------------

POST_PATHS = [
    "/campaigns",
    "/campaigns/cmp_hubflow/review",
    "/campaigns/cmp_nope/review",
    "/campaigns/cmp_nope/activate",
    "/opportunities/evaluate",
    "/events/receipts",
    "/settlements/retry-queue/process",
    "/settlements/set_nope/dispute",
    "/settlements/dlq/dlq_nope/replay",
    "/settlements/dlq/dlq_nope/resolve",
    "/agent-leads/lead_crm_eu/status",
    "/agent-leads/lead_nope/status",
    "/agent-leads/lead_crm_eu/promote",
    "/agent-leads/lead_nope/promote",
]

GARBAGE: list[bytes] = [
    b"",
    b"null",
    b"[]",
    b"[1, 2, 3]",
    b"42",
    b'"a string"',
    b"true",
    b"{",
    b"}{",
    b'{"a": 1}',
    b"\xff\xfe\x00garbage",
    b'{"limit": "ten", "status": 5, "decision": "maybe", "nextStatus": "flying"}',
    b'{"limit": 1e400, "page": -1}',
    b'{"limit": -3}',
    b'{"limit": 99999999999999999999999999}',
    b'{"decision": "approve", "note": ' + b'"' + b"x" * 20000 + b'"}',
    b'{"status": "replayed"}',
    b'{"nextStatus": "active", "checklist": "yes"}',
    b'{"intentId": "", "category": "", "taskType": ""}',
    b'{"receiptId": null}',
    b"[" * 500 + b"]" * 500,
    b'{"product": {"price": NaN}}',
]


@pytest.mark.parametrize("path", POST_PATHS)
def test_garbage_bodies_never_give_a_500(api: httpx.Client, path: str) -> None:
    failures = []
    for garbage in GARBAGE:
        response = api.post(path, content=garbage, headers=JSON)
        if response.status_code >= 500:
            failures.append(f"{garbage[:60]!r} → {response.status_code} {response.text[:200]}")
            continue
        if response.status_code >= 400:
            try:
                error_body(response)
            except AssertionError as exc:
                failures.append(f"{garbage[:60]!r} → {response.status_code} without a JSON message: {exc}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("path", ["/campaigns", "/events/receipts", "/opportunities/evaluate"])
def test_wrong_content_type_is_not_a_500(api: httpx.Client, path: str) -> None:
    for content, ctype in [
        (b"advertiser=x", "application/x-www-form-urlencoded"),
        (b"plain text", "text/plain"),
        (b"<xml/>", "application/xml"),
    ]:
        response = api.post(path, content=content, headers={"content-type": ctype})
        assert response.status_code < 500, f"{ctype}: {response.status_code} {response.text[:200]}"
        assert response.status_code >= 400
        error_body(response)


def test_no_500_from_hostile_query_strings(api: httpx.Client) -> None:
    failures = []
    for path, params in [
        ("/settlements", {"status": "x" * 5000, "campaignId": "'; DROP TABLE settlements; --"}),
        ("/settlements", {"provenance": ",,,"}),
        ("/audit-trail", {"traceId": "\u0000", "entityType": "nonsense", "page": 10**9}),
        ("/audit-trail", {"pageSize": 10**30}),
        ("/settlements/dlq", {"status": "open,closed", "page": "1e3"}),
        ("/settlements/retry-jobs", {"limit": "NaN"}),
        ("/agent-leads", {"status": "active", "provenance": "x,y", "geo": "%%%"}),
        ("/campaigns", {"provenance": "demo_seed"}),
        ("/partners", {"provenance": ""}),
    ]:
        response = api.get(path, params=params)
        if response.status_code >= 500:
            failures.append(f"{path} {params} → {response.status_code} {response.text[:200]}")
        elif response.status_code >= 400:
            error_body(response)
    assert not failures, "\n".join(failures)
