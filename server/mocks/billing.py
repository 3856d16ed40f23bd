"""A billing provider to settle against on a developer machine (spec §8): ``promotion-agent mock billing``.

(``create_app`` and its ``submit`` handler are long on purpose: the fault modes are one ``match`` over
the mock's state, each case a few lines, kept side by side so that a test's mode reads in one place.)

``POST /settlements`` accepts both request profiles (``generic_v1`` nested,
``ledger_api_v2`` flat) and answers in the provider format the HTTP gateway
reads. Like a real provider it is idempotent on the ``idempotency-key`` header:
a key it has settled once is never settled again (the repeat answers
``DUPLICATE_SETTLED`` / ``SETTLED`` with the first provider id), so
``GET /events`` shows, per key, how many submissions arrived
(``submissionsByKey``), how many were settled (``settledByKey``, at most 1) and
how many arrived after the key was settled (``duplicatesByKey``), and whether two
submissions of one key were ever in flight at the same time
(``overlappingSubmissions``; a dripping or slow answer is in flight until its
last byte is sent or the client hangs up).

Modes (``BILLING_ADAPTER_MODE`` or ``--mode``, switchable with ``POST /mode``;
a key already settled always answers as settled, whatever the mode):

- ``settled`` (200 SETTLED), ``fail`` (422 FAILED), ``retry`` (503 RETRY / TEMP_UNAVAILABLE);
- ``slow``: settled, after ``BILLING_ADAPTER_DELAY_MS`` (3000 when that is 0);
- ``drip``: a valid settled answer (booked at once, as a provider that answers
  slowly has), its body sent one byte every ``BILLING_ADAPTER_DRIP_MS`` (20);
- ``garbage``: 200 with an HTML page (not JSON); nothing booked;
- ``weird``: 200 ``{"status": "failed", "code": "WEIRD"}``; nothing booked;
- ``ratelimit``: 429 RATE_LIMITED with ``Retry-After: BILLING_ADAPTER_RETRY_AFTER_S`` (20);
- ``reset``: the connection is reset (RST) without any answer; nothing booked;
- ``flaky``: each submission picks settled, retry, garbage, ratelimit or reset at
  random (40/15/15/15/15 %), from ``BILLING_ADAPTER_SEED`` (1): the same seed
  gives the same sequence of answers.
- ``probabilistic``: each submission is a terminal failure (as ``fail``) with probability
  ``BILLING_ADAPTER_TERMINAL_RATE`` (0), else retryable (as ``retry``) with
  ``BILLING_ADAPTER_RETRYABLE_RATE`` (0), else settled: a scenario's ``[billing]`` rates.
  The draw for the n-th submission of a key is a hash of (``BILLING_ADAPTER_SEED``, key, n),
  so the same seed gives every key the same answers, in whatever order the submissions come.

``BILLING_ADAPTER_DELAY_MS`` delays every answer (in any mode). ``POST /mode``
takes ``{"mode", "delayMs", "dripMs", "retryAfterS", "seed", "retryableRate", "terminalRate",
"byKey"}`` (all optional); ``byKey`` maps idempotency keys (or intent ids, known before the
settlement exists) to a mode of their own (``null`` removes one), so one
provider can answer several faults at once.
With ``BILLING_ADAPTER_HMAC_SECRET`` it verifies the signature headers and answers
401 INVALID_SIGNATURE when they are missing or wrong; with ``BILLING_ADAPTER_API_KEY``
it requires the bearer key (401 UNAUTHORIZED). ``GET /events?summary=1`` leaves
out the list of requests (for long runs).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import random
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar, Request, Response, delete, get, post
from litestar.response import Stream

from .billing_state import (
    DEFAULT_SLOW_MS,
    MODES,
    BillingMock,
    check_rates,
    now_text,
)

# The ASGI server's own ``send`` for the request being handled: ``reset`` needs its connection.
_RAW_SEND: contextvars.ContextVar[Any] = contextvars.ContextVar("raw_send", default=None)


def read_ids(body: Any) -> tuple[str, dict[str, Any]]:
    """The profile and the ids of a request body, for either profile."""
    if not isinstance(body, dict):
        return "unknown", {}
    if body.get("schema_version") == "ledger.settlement.v2" or "gross_amount_minor" in body:
        keys = ("settlement_id", "trace_id", "campaign_id", "offer_id", "partner_id", "intent_id")
        return "ledger_api_v2", {k: body.get(k) for k in keys}

    def table(name: str) -> dict[str, Any]:
        value = body.get(name)
        return value if isinstance(value, dict) else {}

    settlement, context, delivery = table("settlement"), table("context"), table("delivery")
    ids = {
        "settlement_id": settlement.get("settlement_id"),
        "trace_id": settlement.get("trace_id"),
        "retry_job_id": delivery.get("retry_job_id"),
        **{k: context.get(k) for k in ("campaign_id", "offer_id", "partner_id", "intent_id")},
    }
    profile = (
        "generic_v1" if body.get("contract_version") == "billing.settlement.v1" or settlement else "unknown"
    )
    return profile, ids


async def _reset_connection() -> bool:
    """Reset the request's TCP connection (RST, no answer); False when the ASGI server does not let us."""
    cycle = getattr(_RAW_SEND.get(), "__self__", None)  # uvicorn's request-response cycle
    transport = getattr(cycle, "transport", None)
    if transport is None:
        return False
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):  # linger 0: close() sends RST instead of FIN
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()
    for _ in range(100):  # until the server has seen the connection go: what we send next goes nowhere
        if getattr(cycle, "disconnected", True):
            break
        await asyncio.sleep(0.005)
    return True


def create_app(mock: BillingMock) -> Litestar:
    def done(key: str) -> None:
        if key:
            mock.in_flight[key] -= 1

    async def drip(payload: bytes, key: str) -> AsyncIterator[bytes]:
        try:
            for i in range(len(payload)):
                yield payload[i : i + 1]
                await asyncio.sleep(mock.drip_ms / 1000)
        finally:
            done(key)

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
        mode = mock.mode_for(key, ids)
        event: dict[str, Any] = {
            "receivedAt": now_text(),
            "profile": profile,
            "idempotencyKey": key,
            "settlementId": ids.get("settlement_id"),
            "ids": ids,
            "headers": headers,
            "body": body,
            "signature": mock.signature_check(headers, raw),
            "mode": mode,
        }
        mock.events.append(event)
        if key:
            mock.submissions[key] += 1
            if mock.in_flight[key]:
                mock.overlaps += 1
            mock.in_flight[key] += 1
        streaming = False
        try:
            delay_ms = mock.delay_ms or (DEFAULT_SLOW_MS if mode == "slow" else 0)
            if delay_ms:
                await asyncio.sleep(delay_ms / 1000)
            if mock.api_key and headers.get("authorization") != f"Bearer {mock.api_key}":
                status, answer = (
                    401,
                    {"status": "failed", "code": "UNAUTHORIZED", "message": "Bearer key refused."},
                )
            elif event["signature"] in ("missing", "invalid"):
                status, answer = (
                    401,
                    {
                        "status": "failed",
                        "code": "INVALID_SIGNATURE",
                        "message": f"Signature {event['signature']}.",
                    },
                )
            elif profile == "unknown" or not key:
                status, answer = (
                    400,
                    {
                        "status": "failed",
                        "code": "INVALID_PAYLOAD",
                        "message": "Neither a generic_v1 nor a ledger_api_v2 settlement.",
                    },
                )
            elif mode == "reset" and key not in mock.settled and await _reset_connection():
                event["response"] = {"status": 0, "code": "RESET"}
                mock.answers["reset"] += 1
                return Response(content=b"", status_code=200)  # goes nowhere: the connection is gone
            else:
                was_settled = key in mock.settled
                status, answer = mock.answer(profile, key, ids, mode)
                mock.answers["duplicate" if was_settled else mode] += 1
            code = answer["code"] if isinstance(answer, dict) else "HTML"
            event["response"] = {"status": status, "code": code}
            headers_out = {"retry-after": str(mock.retry_after_s)} if status == 429 else {}
            if isinstance(answer, str):
                return Response(content=answer.encode(), status_code=status, media_type="text/html")
            if mode == "drip" and status == 200:
                streaming = True
                payload = json.dumps(answer).encode()
                return Stream(
                    drip(payload, key),
                    status_code=status,
                    media_type="application/json",
                    headers={"content-length": str(len(payload))},
                )
            return Response(content=answer, status_code=status, headers=headers_out)
        finally:
            if not streaming:
                done(key)

    @get("/events")
    async def events(summary: bool = False) -> dict[str, Any]:
        body = {
            "mode": mock.mode,
            "submissionsByKey": dict(mock.submissions),
            "settledByKey": dict.fromkeys(mock.settled, 1),
            "duplicatesByKey": dict(mock.duplicates),
            "overlappingSubmissions": mock.overlaps,
            "inFlight": sum(mock.in_flight.values()),
            "answers": dict(mock.answers),
        }
        if not summary:
            body["events"] = mock.events
        return body

    @delete("/events", status_code=204)
    async def reset() -> None:
        mock.reset()

    @post("/mode", status_code=200)
    async def set_mode(data: dict[str, Any]) -> Response:
        mode = data.get("mode", mock.mode)
        numbers = {
            name: data.get(name, getattr(mock, attr))
            for name, attr in (
                ("delayMs", "delay_ms"),
                ("dripMs", "drip_ms"),
                ("retryAfterS", "retry_after_s"),
                ("seed", "seed"),
            )
        }
        by_key = data.get("byKey") or {}
        rates = (data.get("retryableRate", mock.retryable_rate), data.get("terminalRate", mock.terminal_rate))
        bad_numbers = [
            n for n, v in numbers.items() if not isinstance(v, int) or isinstance(v, bool) or v < 0
        ]
        bad_keys = not isinstance(by_key, dict) or any(
            v is not None and v not in MODES for v in by_key.values()
        )
        if mode not in MODES or bad_numbers or bad_keys:
            message = (
                f"mode (and each byKey value) must be one of {', '.join(MODES)}, and delayMs, dripMs, "
                "retryAfterS and seed whole numbers >= 0"
            )
            return Response(content={"message": message}, status_code=400)
        problem = check_rates(*rates)
        if problem:
            return Response(content={"message": f"retryableRate, terminalRate: {problem}"}, status_code=400)
        mock.retryable_rate, mock.terminal_rate = float(rates[0]), float(rates[1])
        if numbers["seed"] != mock.seed:
            mock.rng = random.Random(numbers["seed"])
        mock.mode = mode
        mock.delay_ms, mock.drip_ms = numbers["delayMs"], numbers["dripMs"]
        mock.retry_after_s, mock.seed = numbers["retryAfterS"], numbers["seed"]
        for key, value in by_key.items():
            if value is None:
                mock.by_key.pop(key, None)
            else:
                mock.by_key[key] = value
        return Response(
            content={
                "mode": mock.mode,
                "delayMs": mock.delay_ms,
                "dripMs": mock.drip_ms,
                "retryAfterS": mock.retry_after_s,
                "seed": mock.seed,
                "retryableRate": mock.retryable_rate,
                "terminalRate": mock.terminal_rate,
                "byKey": mock.by_key,
            },
            status_code=200,
        )

    @get("/healthz")
    async def health() -> dict[str, str]:
        return {"status": "ok", "mode": mock.mode}

    app = Litestar(route_handlers=[submit, events, reset, set_mode, health], debug=False)

    async def asgi(scope: Any, receive: Any, send: Any) -> None:
        token = _RAW_SEND.set(send)
        try:
            await app(scope, receive, send)
        finally:
            _RAW_SEND.reset(token)

    return asgi  # type: ignore[return-value] - a plain ASGI callable, which uvicorn serves as it does Litestar
