"""A billing provider to settle against on a developer machine (spec §8): ``promotion-agent mock billing``.

``POST /settlements`` accepts both request profiles (``generic_v1`` nested,
``ledger_api_v2`` flat) and answers in the provider format the HTTP gateway
reads. Like a real provider it is idempotent on the ``idempotency-key`` header:
a key it has settled once is never settled again (the repeat answers
``DUPLICATE_SETTLED`` / ``SETTLED`` with the first provider id), so
``GET /events`` shows, per key, how many submissions arrived and how many were
settled, and whether two submissions of one key ever overlapped in time.

Modes (``BILLING_ADAPTER_MODE`` or ``--mode``, switchable with ``POST /mode``):
``settled`` (200), ``fail`` (422, FAILED), ``retry`` (503, RETRY / TEMP_UNAVAILABLE).
With ``BILLING_ADAPTER_HMAC_SECRET`` it verifies the signature headers and answers
401 INVALID_SIGNATURE when they are missing or wrong; with ``BILLING_ADAPTER_API_KEY``
it requires the bearer key (401 UNAUTHORIZED). ``BILLING_ADAPTER_DELAY_MS`` makes it slow.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

from litestar import Litestar, Request, Response, delete, get, post

from ..serving import bind_loopback, bound_url, serve_blocking

MODES = ("settled", "fail", "retry")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class BillingMock:
    mode: str = "settled"
    delay_ms: int = 0
    hmac_secret: str | None = None
    api_key: str | None = None
    signature_header: str = "x-billing-signature"
    timestamp_header: str = "x-billing-timestamp"
    events: list[dict[str, Any]] = field(default_factory=list)
    submissions: Counter = field(default_factory=Counter)
    settled: dict[str, dict[str, Any]] = field(default_factory=dict)
    in_flight: Counter = field(default_factory=Counter)
    overlaps: int = 0

    def reset(self) -> None:
        self.events.clear()
        self.submissions.clear()
        self.settled.clear()
        self.overlaps = 0

    def signature_check(self, headers: Mapping[str, str], raw: bytes) -> str:
        if not self.hmac_secret:
            return "unchecked"
        timestamp = headers.get(self.timestamp_header)
        signature = headers.get(self.signature_header)
        if not timestamp or not signature:
            return "missing"
        expected = hmac.new(self.hmac_secret.encode(), timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
        return "valid" if hmac.compare_digest(expected, signature) else "invalid"

    def answer(self, profile: str, key: str, ids: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if key in self.settled:
            first = self.settled[key]
            code = "DUPLICATE_SETTLED" if profile == "ledger_api_v2" else "SETTLED"
            return 200, {**first, "code": code, "message": "Already settled under this idempotency key."}
        if self.mode == "fail":
            return 422, {"status": "failed", "code": "FAILED", "message": "The mock provider refused the settlement."}
        if self.mode == "retry":
            code = "TEMP_UNAVAILABLE" if profile == "ledger_api_v2" else "RETRY"
            return 503, {"status": "retry", "code": code, "message": "The mock provider is busy; try again."}
        body = {
            "status": "settled",
            "provider_settlement_id": f"mock_{ids.get('settlement_id') or key}",
            "provider_reference": ids.get("intent_id") or key,
            "code": "SETTLED",
            "message": "Settled by the mock billing adapter.",
        }
        self.settled[key] = body
        return 200, body


def read_ids(body: Any) -> tuple[str, dict[str, Any]]:
    """The profile and the ids of a request body, for either profile."""
    if not isinstance(body, dict):
        return "unknown", {}
    if body.get("schema_version") == "ledger.settlement.v2" or "gross_amount_minor" in body:
        keys = ("settlement_id", "trace_id", "campaign_id", "offer_id", "partner_id", "intent_id")
        return "ledger_api_v2", {k: body.get(k) for k in keys}
    settlement = body.get("settlement") if isinstance(body.get("settlement"), dict) else {}
    context = body.get("context") if isinstance(body.get("context"), dict) else {}
    delivery = body.get("delivery") if isinstance(body.get("delivery"), dict) else {}
    ids = {
        "settlement_id": settlement.get("settlement_id"),
        "trace_id": settlement.get("trace_id"),
        "retry_job_id": delivery.get("retry_job_id"),
        **{k: context.get(k) for k in ("campaign_id", "offer_id", "partner_id", "intent_id")},
    }
    profile = "generic_v1" if body.get("contract_version") == "billing.settlement.v1" or settlement else "unknown"
    return profile, ids


def create_app(mock: BillingMock) -> Litestar:
    @post("/settlements")
    async def submit(request: Request) -> Response:
        raw = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = None
        profile, ids = read_ids(body)
        key = headers.get("idempotency-key") or ids.get("settlement_id") or ""
        event: dict[str, Any] = {
            "receivedAt": _now(),
            "profile": profile,
            "idempotencyKey": key,
            "settlementId": ids.get("settlement_id"),
            "ids": ids,
            "headers": headers,
            "body": body,
            "signature": mock.signature_check(headers, raw),
        }
        mock.events.append(event)
        if key:
            mock.submissions[key] += 1
            if mock.in_flight[key]:
                mock.overlaps += 1
            mock.in_flight[key] += 1
        try:
            if mock.delay_ms:
                await asyncio.sleep(mock.delay_ms / 1000)
            if mock.api_key and headers.get("authorization") != f"Bearer {mock.api_key}":
                status, answer = 401, {"status": "failed", "code": "UNAUTHORIZED", "message": "Bearer key refused."}
            elif event["signature"] in ("missing", "invalid"):
                status, answer = 401, {"status": "failed", "code": "INVALID_SIGNATURE",
                                       "message": f"Signature {event['signature']}."}
            elif profile == "unknown" or not key:
                status, answer = 400, {"status": "failed", "code": "INVALID_PAYLOAD",
                                       "message": "Neither a generic_v1 nor a ledger_api_v2 settlement."}
            else:
                status, answer = mock.answer(profile, key, ids)
        finally:
            if key:
                mock.in_flight[key] -= 1
        event["response"] = {"status": status, "code": answer["code"]}
        return Response(content=answer, status_code=status)

    @get("/events")
    async def events() -> dict[str, Any]:
        return {
            "mode": mock.mode,
            "events": mock.events,
            "submissionsByKey": dict(mock.submissions),
            "settledByKey": {key: 1 for key in mock.settled},
            "overlappingSubmissions": mock.overlaps,
        }

    @delete("/events", status_code=204)
    async def reset() -> None:
        mock.reset()

    @post("/mode", status_code=200)
    async def set_mode(data: dict[str, Any]) -> Response:
        mode = data.get("mode", mock.mode)
        delay = data.get("delayMs", mock.delay_ms)
        if mode not in MODES or not isinstance(delay, int) or delay < 0:
            message = f"mode must be one of {', '.join(MODES)} and delayMs a whole number >= 0"
            return Response(content={"message": message}, status_code=400)
        mock.mode, mock.delay_ms = mode, delay
        return Response(content={"mode": mock.mode, "delayMs": mock.delay_ms}, status_code=200)

    @get("/healthz")
    async def health() -> dict[str, str]:
        return {"status": "ok", "mode": mock.mode}

    return Litestar(route_handlers=[submit, events, reset, set_mode, health], debug=False)


def _env_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name) or ""
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name} must be at least 0, got {value}")
    return value


def run(rest_args: list[str], env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(prog="promotion-agent mock billing", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (BILLING_ADAPTER_PORT, 8787)")
    parser.add_argument("--mode", choices=MODES, default=None, help="BILLING_ADAPTER_MODE (settled)")
    parser.add_argument("--delay-ms", type=int, default=None, help="BILLING_ADAPTER_DELAY_MS (0)")
    args = parser.parse_args(rest_args)
    mode = args.mode or env.get("BILLING_ADAPTER_MODE") or "settled"
    if mode not in MODES:
        raise ValueError(f"BILLING_ADAPTER_MODE must be one of {', '.join(MODES)}, got {mode!r}")
    port = args.port if args.port is not None else _env_int(env, "BILLING_ADAPTER_PORT", 8787)
    mock = BillingMock(
        mode=mode,
        delay_ms=args.delay_ms if args.delay_ms is not None else _env_int(env, "BILLING_ADAPTER_DELAY_MS", 0),
        hmac_secret=env.get("BILLING_ADAPTER_HMAC_SECRET") or None,
        api_key=env.get("BILLING_ADAPTER_API_KEY") or None,
        signature_header=(env.get("BILLING_SIGNATURE_HEADER") or "x-billing-signature").lower(),
        timestamp_header=(env.get("BILLING_TIMESTAMP_HEADER") or "x-billing-timestamp").lower(),
    )
    sock = bind_loopback(port)
    checks = ", ".join(x for x in ("hmac" if mock.hmac_secret else "", "bearer" if mock.api_key else "") if x)
    message = (
        f"mock billing adapter listening on {bound_url(sock)} (POST /settlements, GET /events; "
        f"mode={mock.mode}, checks={checks or 'none'})"
    )
    return serve_blocking(create_app(mock), sock, message)
