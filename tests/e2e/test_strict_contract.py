"""6. A strict contract: bodies decoded strictly, bounded ids, pages and nesting, complete campaign drafts.

Each refusal is a 400 (413 for an oversized body) with a JSON ``message`` and the
offending ``field``, on SQLite and on PostgreSQL alike (varchar(200) ids and
integer columns there used to turn some of these into a 500).
"""

from __future__ import annotations

import httpx
import pytest

from tests.support import campaign_draft, error_body, expect, opportunity, receipt, template_campaign, uid

JSON = {"content-type": "application/json"}
LONG_ID = "x" * 300


def _refused(response: httpx.Response, field: str, status: int = 400) -> dict:
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url} → {response.status_code}, expected {status}: "
        f"{response.text[:500]}"
    )
    body = error_body(response)
    assert body.get("field") == field, body
    return body


# ---------------------------------------------------------------------------
# Strict decoding: no string for a number or a boolean, no number for a date-time
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("/opportunities/evaluate", opportunity(sponsoredSlots="3"), "sponsoredSlots"),
        ("/opportunities/evaluate", opportunity(relevanceFloor="0.5"), "relevanceFloor"),
        ("/opportunities/evaluate", opportunity(explain="true"), "explain"),
        ("/opportunities/evaluate", opportunity(disclosureRequired="false"), "disclosureRequired"),
        ("/opportunities/evaluate", opportunity(disclosureRequired=1), "disclosureRequired"),
        ("/events/receipts", receipt(occurredAt=123), "occurredAt"),
        ("/events/receipts", receipt(occurredAt=1773309600.5), "occurredAt"),
        ("/events/receipts", receipt(intentId=42), "intentId"),
        ("/campaigns", campaign_draft(payoutAmount="150"), "payoutAmount"),
        ("/campaigns", campaign_draft(minTrust="0.7"), "minTrust"),
        ("/campaigns", campaign_draft(product={"price": "499"}), "product.price"),
        ("/settlements/retry-queue/process", {"limit": "5"}, "limit"),
    ],
)
def test_a_body_value_of_the_wrong_json_type_is_400(
    api: httpx.Client, path: str, payload: dict, field: str
) -> None:
    _refused(api.post(path, json=payload), field)


@pytest.mark.parametrize("path", ["/campaigns", "/events/receipts", "/opportunities/evaluate"])
def test_a_missing_body_is_400_naming_it(api: httpx.Client, path: str) -> None:
    assert "request body" in _refused(api.post(path, headers=JSON), "body")["message"]


def test_whole_numbers_written_as_decimals_are_numbers(api: httpx.Client) -> None:
    """JSON has one kind of number: 3.0 is the integer 3 (as the schema's "integer" means)."""
    body = expect(api.post("/opportunities/evaluate", json=opportunity(sponsoredSlots=3.0)), 200)
    assert len(body["shortlisted"]) <= 3
    _refused(api.post("/opportunities/evaluate", json=opportunity(sponsoredSlots=2.5)), "sponsoredSlots")


def test_query_parameters_are_still_parsed_from_text(api: httpx.Client) -> None:
    assert expect(api.get("/audit-trail", params={"page": "1", "pageSize": "5"}), 200)["pageSize"] == 5


# ---------------------------------------------------------------------------
# Nesting, size, pages
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/events/receipts", "/opportunities/evaluate", "/campaigns"])
def test_nesting_2000_deep_is_400_naming_the_problem(api: httpx.Client, path: str) -> None:
    for deep in (b"[" * 2000 + b"]" * 2000, b'{"payload": ' + b'{"a": ' * 2000 + b"1" + b"}" * 2001):
        response = api.post(path, content=deep, headers=JSON)
        body = _refused(response, "body")
        assert "32 levels" in body["message"], body


def test_nesting_within_32_levels_is_decoded(api: httpx.Client) -> None:
    payload: dict = {"level": 0}
    for level in range(1, 30):
        payload = {"level": level, "inner": payload}
    # Brackets inside strings do not count.
    sent = receipt(payload={"deep": payload, "text": "[[[[{{{{" * 20})
    body = expect(api.post("/events/receipts", json=sent), 201)
    assert body["receipt"]["payload"]["text"] == sent["payload"]["text"]


def test_an_oversized_body_is_413_json(api: httpx.Client) -> None:
    big = receipt(payload={"blob": "x" * (1024 * 1024 + 10)})
    response = api.post("/events/receipts", json=big)
    assert response.status_code == 413, response.text[:300]
    assert "larger than" in error_body(response)["message"]


@pytest.mark.parametrize("path", ["/audit-trail", "/settlements/dlq"])
def test_page_beyond_its_range_is_400(api: httpx.Client, path: str) -> None:
    _refused(api.get(path, params={"page": "99999999999999999999"}), "page")
    _refused(api.get(path, params={"page": 1_000_001}), "page")
    _refused(api.get(path, params={"pageSize": 101}), "pageSize")
    assert expect(api.get(path, params={"page": 1_000_000, "pageSize": 100}), 200)["items"] == []


# ---------------------------------------------------------------------------
# Ids: at most 200 characters, in bodies and in paths
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "payload", "field"),
    [
        ("/events/receipts", receipt(receiptId=LONG_ID), "receiptId"),
        ("/events/receipts", receipt(intentId=LONG_ID), "intentId"),
        ("/events/receipts", receipt(offerId=LONG_ID), "offerId"),
        ("/events/receipts", receipt(campaignId=LONG_ID), "campaignId"),
        ("/events/receipts", receipt(partnerId=LONG_ID), "partnerId"),
        ("/events/receipts", receipt(traceId=LONG_ID), "traceId"),
        ("/events/receipts", receipt(eventId=LONG_ID), "eventId"),
        ("/events/receipts", receipt(opportunityId=LONG_ID), "opportunityId"),
        ("/events/receipts", receipt(buyerAgentId=LONG_ID), "buyerAgentId"),
        ("/opportunities/evaluate", opportunity(intentId=LONG_ID), "intentId"),
        ("/opportunities/evaluate", opportunity(workspaceId=LONG_ID), "workspaceId"),
        ("/campaigns", campaign_draft(workspaceId=LONG_ID), "workspaceId"),
        ("/campaigns", campaign_draft(targetingPartnerIds=[LONG_ID]), "targetingPartnerIds[0]"),
        ("/agent-leads/lead_crm_eu/promote", {"partnerId": LONG_ID}, "partnerId"),
    ],
)
def test_an_id_over_200_characters_in_a_body_is_400(
    api: httpx.Client, path: str, payload: dict, field: str
) -> None:
    _refused(api.post(path, json=payload), field)


def test_an_id_of_200_characters_is_accepted(api: httpx.Client) -> None:
    body = expect(api.post("/events/receipts", json=receipt(receiptId="r" * 200, intentId="i" * 200)), 201)
    assert body["receipt"]["receiptId"] == "r" * 200


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("GET", f"/campaigns/{LONG_ID}", "campaignId"),
        ("GET", f"/campaigns/{LONG_ID}/policy-check", "campaignId"),
        ("POST", f"/campaigns/{LONG_ID}/activate", "campaignId"),
        ("POST", f"/campaigns/{LONG_ID}/review", "campaignId"),
        ("GET", f"/agent-leads/{LONG_ID}", "leadId"),
        ("POST", f"/settlements/{LONG_ID}/dispute", "settlementId"),
        ("POST", f"/settlements/dlq/{LONG_ID}/replay", "dlqEntryId"),
        ("POST", f"/settlements/dlq/{LONG_ID}/resolve", "dlqEntryId"),
    ],
)
def test_an_id_over_200_characters_in_a_path_is_400(
    api: httpx.Client, method: str, path: str, field: str
) -> None:
    _refused(api.request(method, path), field)


def test_an_id_over_200_characters_as_a_filter_is_400(api: httpx.Client) -> None:
    _refused(api.get("/settlements", params={"campaignId": LONG_ID}), "campaignId")
    _refused(api.get("/audit-trail", params={"traceId": LONG_ID}), "traceId")


def test_nul_in_free_text_is_stored_but_not_in_ids(api: httpx.Client) -> None:
    sent = receipt(payload={"note": "a\u0000b"})
    assert expect(api.post("/events/receipts", json=sent), 201)["receipt"]["payload"]["note"] == "a\u0000b"
    _refused(api.post("/events/receipts", json=receipt(intentId="a\u0000b")), "intentId")


# ---------------------------------------------------------------------------
# Campaign drafts: claims, proof, intendedFor, disclosure, http(s) URLs
# ---------------------------------------------------------------------------


def _without(key: str) -> dict:
    draft = campaign_draft(externalRef=uid("draft"))
    if key.startswith("product."):
        del draft["product"][key.removeprefix("product.")]
    else:
        del draft[key]
    return draft


@pytest.mark.parametrize(
    ("draft", "field"),
    [
        (campaign_draft(product={"claims": []}), "product.claims"),
        (_without("product.claims"), "product.claims"),
        (campaign_draft(product={"claims": ["   "]}), "product.claims[0]"),
        (campaign_draft(proofReferences=[]), "proofReferences"),
        (_without("proofReferences"), "proofReferences"),
        (campaign_draft(product={"intendedFor": []}), "product.intendedFor"),
        (_without("product.intendedFor"), "product.intendedFor"),
        (campaign_draft(disclosureText=""), "disclosureText"),
        (campaign_draft(disclosureText=" \t\n"), "disclosureText"),
        (_without("disclosureText"), "disclosureText"),
        (campaign_draft(product={"actionEndpoints": ["not a url"]}), "product.actionEndpoints[0]"),
        (campaign_draft(product={"actionEndpoints": ["ftp://lumio.dev/file"]}), "product.actionEndpoints[0]"),
        (campaign_draft(product={"actionEndpoints": []}), "product.actionEndpoints"),
        (
            campaign_draft(proofReferences=[{"label": "Proof", "type": "doc", "url": "lumio.dev/security"}]),
            "proofReferences[0].url",
        ),
    ],
)
def test_an_incomplete_campaign_draft_is_400_naming_the_field(
    api: httpx.Client, draft: dict, field: str
) -> None:
    before = len(expect(api.get("/campaigns"), 200))
    _refused(api.post("/campaigns", json=draft), field)
    assert len(expect(api.get("/campaigns"), 200)) == before


def test_the_original_campaign_template_is_still_accepted(api: httpx.Client) -> None:
    created = expect(api.post("/campaigns", json=template_campaign()), 201)
    assert created["policyCheck"]["decision"] == "pass"
    assert created["campaign"]["offer"]["claims"] == ["SOC 2 Type II"]
