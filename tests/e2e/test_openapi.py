"""12. The generated OpenAPI document covers the contract with real schemas."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.support import expect

# The Core exchange, Settlements/DLQ and Dashboard tables of spec/api.md, and the wallet's reads.
CONTRACT = [
    ("get", "/health"),
    ("get", "/system/runtime-profile"),
    ("get", "/agents/leads"),
    ("get", "/agent-leads"),
    ("get", "/agent-leads/:leadId"),
    ("post", "/agent-leads/:leadId/status"),
    ("post", "/agent-leads/:leadId/promote"),
    ("get", "/partners"),
    ("get", "/campaigns"),
    ("get", "/campaigns/:campaignId"),
    ("get", "/campaigns/:campaignId/policy-check"),
    ("post", "/campaigns"),
    ("post", "/campaigns/:campaignId/review"),
    ("post", "/campaigns/:campaignId/activate"),
    ("post", "/opportunities/evaluate"),
    ("post", "/events/receipts"),
    ("get", "/settlements"),
    ("get", "/settlements/retry-jobs"),
    ("post", "/settlements/retry-queue/process"),
    ("post", "/settlements/:settlementId/dispute"),
    ("get", "/settlements/dlq"),
    ("post", "/settlements/dlq/:dlqEntryId/replay"),
    ("post", "/settlements/dlq/:dlqEntryId/resolve"),
    ("get", "/dashboard"),
    ("get", "/audit-trail"),
    ("get", "/wallet"),
    ("get", "/plans"),
    ("post", "/wallet/top-ups/checkout"),
    ("get", "/wallet/top-ups/confirm"),
    ("post", "/webhooks/stripe"),
    ("get", "/wallet/ledger"),
]


def _shape(path: str) -> str:
    """A path with every parameter (``:name`` or ``{name}``) replaced by ``{}``."""
    return re.sub(r"\{[^}]+\}|:[A-Za-z_]+", "{}", path.rstrip("/") or "/")


@pytest.fixture(scope="module")
def document(readonly_api: httpx.Client) -> dict[str, Any]:
    doc = expect(readonly_api.get("/schema/openapi.json"), 200)
    assert doc["openapi"].startswith("3.")
    return doc


def _resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    seen = set()
    while "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/"), ref
        assert ref not in seen, f"circular $ref {ref}"
        seen.add(ref)
        node: Any = doc
        for part in ref[2:].split("/"):
            node = node[part]
        schema = node
    return schema


def _operation(doc: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    by_shape = {_shape(p): ops for p, ops in doc["paths"].items()}
    ops = by_shape.get(_shape(path))
    assert ops is not None, f"{path} is not in the OpenAPI document"
    assert method in ops, f"{method.upper()} {path} is not in the OpenAPI document (has {sorted(ops)})"
    return ops[method]


def test_every_contract_path_is_documented(document: dict[str, Any]) -> None:
    shapes = {(m, _shape(p)) for p, ops in document["paths"].items() for m in ops}
    missing = [f"{m.upper()} {p}" for m, p in CONTRACT if (m, _shape(p)) not in shapes]
    assert not missing, f"missing from /schema/openapi.json: {missing}"


def _request_schema(doc: dict[str, Any], path: str) -> dict[str, Any]:
    op = _operation(doc, "post", path)
    body = op.get("requestBody")
    assert body is not None, f"POST {path} documents no request body"
    schema = body["content"]["application/json"]["schema"]
    return _resolve(doc, schema)


@pytest.mark.parametrize(
    ("path", "expected_properties", "expected_required"),
    [
        (
            "/campaigns",
            {
                "advertiser",
                "category",
                "regions",
                "billingModel",
                "payoutAmount",
                "currency",
                "budget",
                "disclosureText",
                "minTrust",
                "targetingPartnerIds",
                "product",
                "proofReferences",
            },
            {
                "advertiser",
                "category",
                "regions",
                "billingModel",
                "payoutAmount",
                "currency",
                "budget",
                "product",
            },
        ),
        (
            "/events/receipts",
            {
                "receiptId",
                "dataProvenance",
                "intentId",
                "offerId",
                "campaignId",
                "partnerId",
                "eventType",
                "occurredAt",
                "signature",
                "traceId",
                "buyerAgentId",
                "environment",
                "payload",
            },
            {
                "receiptId",
                "dataProvenance",
                "intentId",
                "offerId",
                "campaignId",
                "partnerId",
                "eventType",
                "occurredAt",
                "signature",
            },
        ),
        (
            "/opportunities/evaluate",
            {
                "intentId",
                "category",
                "taskType",
                "constraints",
                "relevanceFloor",
                "utilityFloor",
                "sponsoredSlots",
                "disclosureRequired",
                "explain",
            },
            {"intentId", "category", "taskType"},
        ),
    ],
)
def test_request_bodies_are_real_object_schemas(
    document: dict[str, Any], path: str, expected_properties: set[str], expected_required: set[str]
) -> None:
    schema = _request_schema(document, path)
    assert schema.get("type") == "object", schema
    properties = schema.get("properties") or {}
    assert properties, f"POST {path}: a bare object schema"
    assert expected_properties <= set(properties), sorted(expected_properties - set(properties))
    assert expected_required <= set(schema.get("required", [])), schema.get("required")
    # camelCase on the wire, also in the schema.
    assert not [name for name in properties if "_" in name], sorted(properties)


def test_campaign_product_schema_is_followed(document: dict[str, Any]) -> None:
    schema = _request_schema(document, "/campaigns")
    product = _resolve(document, schema["properties"]["product"])
    assert product.get("type") == "object"
    assert {
        "name",
        "price",
        "currency",
        "intendedFor",
        "claims",
        "actionEndpoints",
        "positioningBullets",
    } <= set(product["properties"])


@pytest.mark.parametrize(
    ("method", "path", "status", "expected_properties"),
    [
        ("post", "/campaigns", "201", {"campaign", "policyCheck"}),
        (
            "post",
            "/opportunities/evaluate",
            "200",
            {"intentId", "totalCandidates", "eligibleCandidates", "shortlisted"},
        ),
        ("post", "/events/receipts", "201", {"receipt", "settlement", "deduplicated"}),
        (
            "post",
            "/settlements/retry-queue/process",
            "200",
            {"processedCount", "settledCount", "rescheduledCount", "failedCount", "skippedCount", "items"},
        ),
        (
            "get",
            "/settlements/dlq",
            "200",
            {"items", "total", "page", "pageSize", "hasNextPage", "hasPreviousPage"},
        ),
        (
            "get",
            "/audit-trail",
            "200",
            {"items", "total", "page", "pageSize", "hasNextPage", "hasPreviousPage"},
        ),
        ("get", "/dashboard", "200", {"eventCounts", "qualifiedRecommendationRate", "recentAudit"}),
        ("get", "/health", "200", {"ok", "service", "persistence", "hotState", "billingMode"}),
        (
            "get",
            "/wallet",
            "200",
            {
                "workspaceId",
                "availableCredits",
                "reservedCredits",
                "consumedCredits",
                "expiredCredits",
                "owedCredits",
                "updatedAt",
            },
        ),
    ],
)
def test_response_schemas_are_real(
    document: dict[str, Any], method: str, path: str, status: str, expected_properties: set[str]
) -> None:
    op = _operation(document, method, path)
    assert status in op["responses"], sorted(op["responses"])
    schema = _resolve(document, op["responses"][status]["content"]["application/json"]["schema"])
    assert schema.get("type") == "object"
    assert expected_properties <= set(schema.get("properties") or {}), sorted(schema.get("properties") or {})


def test_documented_error_responses_match_the_real_error_body(document: dict[str, Any]) -> None:
    """Every error body is ``{"message", "field"?}`` (api.md); the document must not promise another shape."""
    wrong = []
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            for status, response in op.get("responses", {}).items():
                if not status.startswith(("4", "5")):
                    continue
                content = response.get("content", {}).get("application/json")
                if not content:
                    continue
                schema = _resolve(document, content["schema"])
                if "message" not in (schema.get("properties") or {}):
                    wrong.append(
                        f"{method.upper()} {path} {status}: {sorted(schema.get('properties') or {})}"
                    )
    assert not wrong, "documented error bodies without `message`:\n" + "\n".join(wrong[:10])


def _parameters(doc: dict[str, Any], method: str, path: str) -> dict[str, dict[str, Any]]:
    return {p["name"]: p for p in _operation(doc, method, path).get("parameters", [])}


def test_the_limits_the_server_enforces_are_declared(document: dict[str, Any]) -> None:
    receipt = _request_schema(document, "/events/receipts")["properties"]
    for name in ("receiptId", "intentId", "offerId", "campaignId", "partnerId"):
        assert receipt[name].get("maxLength") == 200 and receipt[name].get("minLength") == 1, (
            name,
            receipt[name],
        )
    assert (
        "offer.shortlisted" in receipt["eventType"]["enum"] and "shortlisted" in receipt["eventType"]["enum"]
    )
    evaluate = _request_schema(document, "/opportunities/evaluate")["properties"]
    assert evaluate["sponsoredSlots"]["type"] == "integer" and evaluate["sponsoredSlots"]["minimum"] == 1

    draft = _request_schema(document, "/campaigns")
    assert {"disclosureText", "proofReferences"} <= set(draft["required"])
    assert draft["properties"]["proofReferences"]["minItems"] == 1
    product = _resolve(document, draft["properties"]["product"])
    for name in ("claims", "intendedFor", "actionEndpoints"):
        assert (
            product["properties"][name]["minItems"] == 1 and "pattern" in product["properties"][name]["items"]
        )

    for path in ("/audit-trail", "/settlements/dlq"):
        params = _parameters(document, "get", path)
        assert (params["page"]["schema"]["minimum"], params["page"]["schema"]["maximum"]) == (1, 1_000_000)
        assert (params["pageSize"]["schema"]["minimum"], params["pageSize"]["schema"]["maximum"]) == (1, 100)
    for path, default in (("/settlements", 100), ("/settlements/retry-jobs", 50), ("/wallet/ledger", 50)):
        params = _parameters(document, "get", path)
        limit = params["limit"]["schema"]
        assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 1000, default)
        assert "pattern" in str(params["cursor"]["schema"])
        headers = _operation(document, "get", path)["responses"]["200"]["headers"]
        assert headers["X-Total-Count"]["required"] is True and "Link" in headers
    campaign_id = _parameters(document, "get", "/campaigns/{campaign_id}")["campaign_id"]["schema"]
    assert campaign_id["maxLength"] == 200
    for path in ("/wallet", "/wallet/ledger"):
        workspace = _parameters(document, "get", path)["workspaceId"]["schema"]
        assert (workspace["minLength"], workspace["maxLength"], workspace["default"]) == (
            1,
            200,
            "workspace_default",
        )


def test_optional_bodies_are_documented_as_optional(document: dict[str, Any]) -> None:
    for path in (
        "/settlements/retry-queue/process",
        "/campaigns/:campaignId/review",
        "/settlements/:settlementId/dispute",
        "/agent-leads/:leadId/promote",
    ):
        assert _operation(document, "post", path)["requestBody"]["required"] is False, path
    for path in ("/campaigns", "/events/receipts", "/opportunities/evaluate"):
        assert _operation(document, "post", path)["requestBody"]["required"] is True, path
