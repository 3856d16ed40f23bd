"""A local stand-in for Stripe Checkout: ``promotion-agent mock stripe`` (and the tests' Stripe).

It speaks Stripe's wire format for what a wallet top-up uses, so the real ``stripe``
library talks to it unchanged (``STRIPE_API_BASE=http://127.0.0.1:12111``):

- ``POST /v1/checkout/sessions`` (form-encoded, Stripe's ``a[b][0][c]`` keys, a bearer
  secret key) → a ``checkout.session`` object, ``payment_status`` ``unpaid``;
- ``GET /v1/checkout/sessions/{id}`` → the session, or Stripe's 404 ``resource_missing`` error.

And, for a person walking through a top-up, the hosted page Stripe would show:
``GET /pay/{id}`` is the session's ``url`` (a page with a Pay button); ``POST /pay/{id}``
marks the session paid and sends the buyer to its ``success_url`` (``{CHECKOUT_SESSION_ID}``
filled in), and with a webhook URL and secret (``--webhook-url``/``STRIPE_MOCK_WEBHOOK_URL``,
``STRIPE_WEBHOOK_SECRET``) first delivers ``checkout.session.completed`` signed as Stripe
signs (``Stripe-Signature: t=…,v1=HMAC-SHA256(secret, "{t}.{payload}")``).

``_handler`` is long on purpose: one route table of Stripe's wire format (create, retrieve, pay).
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import itertools
import json
import os
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

SESSION_PATH = re.compile(r"^/v1/checkout/sessions/([^/?]+)$")
PAY_PATH = re.compile(r"^/pay/([^/?]+)$")
_KEY_PART = re.compile(r"\[([^\]]*)\]")
JSON = "application/json"


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header Stripe sends with ``payload``."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def event_for(session: Mapping[str, Any], event_type: str = "checkout.session.completed") -> dict[str, Any]:
    """A Stripe event carrying ``session`` as its object."""
    return {
        "id": "evt_" + secrets.token_hex(12),
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": event_type,
        "data": {"object": dict(session)},
    }


def decode_form(body: str) -> dict[str, Any]:
    """Stripe's form encoding (``line_items[0][price_data][currency]=usd``) as nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        head = key.split("[", 1)[0]
        path = [head, *_KEY_PART.findall(key[len(head) :])]
        node: Any = root
        for part, _nxt in itertools.pairwise(path):
            child = node.get(part) if isinstance(node, dict) else None
            if child is None:
                child = {}
                node[part] = child
            node = child
        node[path[-1]] = value
    return _lists(root)


def _lists(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if node and all(k.isdigit() for k in node):
        return [_lists(node[k]) for k in sorted(node, key=int)]
    return {k: _lists(v) for k, v in node.items()}


class StripeMock:
    """The sessions and requests the mock holds; ``serve()`` starts it on 127.0.0.1 in a thread."""

    def __init__(
        self, *, port: int = 0, api_key: str | None = None, webhook_url: str | None = None,
        webhook_secret: str | None = None,
    ) -> None:  # fmt: skip
        self.api_key = api_key
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.sessions: dict[str, dict[str, Any]] = {}
        self.created: list[dict[str, Any]] = []  # the decoded create requests, in order
        self.retrievals = 0
        self._lock = threading.Lock()
        self._port = port
        self.httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- what the tests and the hosted page do --------------------------------------------------
    @property
    def base_url(self) -> str:
        assert self.httpd is not None, "serve() first"
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        items = params.get("line_items") or []
        total = 0
        currency = None
        for item in items:
            price = item.get("price_data") or {}
            total += int(price.get("unit_amount", 0)) * int(item.get("quantity", 1))
            currency = price.get("currency", currency)
        session_id = "cs_test_" + secrets.token_hex(16)
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": total,
            "amount_total": total,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "created": int(time.time()),
            "currency": currency,
            "customer": None,
            "expires_at": int(time.time()) + 24 * 3600,
            "livemode": False,
            "metadata": dict(params.get("metadata") or {}),
            "mode": params.get("mode"),
            "payment_intent": None,
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params.get("success_url"),
            "url": f"{self.base_url}/pay/{session_id}",
        }
        with self._lock:
            self.created.append(params)
            self.sessions[session_id] = session
        return dict(session)

    def pay(self, session_id: str) -> dict[str, Any]:
        """Mark the session paid (as the buyer paying on Stripe's page); the session after it."""
        with self._lock:
            session = self.sessions[session_id]
            intent = "pi_" + secrets.token_hex(12)
            session.update(payment_status="paid", status="complete", payment_intent=intent)
            return dict(session)

    def deliver_webhook(self, session: Mapping[str, Any]) -> int:
        """POST ``checkout.session.completed`` for ``session`` to the webhook URL, signed; its status."""
        assert self.webhook_url and self.webhook_secret
        payload = json.dumps(event_for(session)).encode()
        headers = {"content-type": "application/json", "stripe-signature": sign(payload, self.webhook_secret)}
        request = urllib.request.Request(self.webhook_url, data=payload, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return answer.status
        except urllib.error.HTTPError as exc:
            return exc.code

    # -- serving ----------------------------------------------------------------------------------
    def serve(self) -> StripeMock:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", self._port), _handler(self))
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="stripe-mock", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self.httpd is not None:
            self.httpd.shutdown()
            self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)


def _stripe_error(status: int, message: str, **extra: Any) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"type": "invalid_request_error", "message": message, **extra}}


def _handler(mock: StripeMock) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _send(self, status: int, body: Any, content_type: str = JSON, **headers: str) -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(data)))
            self.send_header("request-id", "req_" + secrets.token_hex(7))
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> str:
            length = int(self.headers.get("content-length") or 0)
            return self.rfile.read(length).decode() if length else ""

        def _authorized(self) -> bool:
            auth = self.headers.get("authorization") or ""
            key = auth[7:] if auth.lower().startswith("bearer ") else ""
            if key and (mock.api_key is None or hmac.compare_digest(key, mock.api_key)):
                return True
            self._send(*_stripe_error(401, "Invalid API Key provided."))
            return False

        def do_POST(self) -> None:
            path = urlsplit(self.path).path
            body = self._body()
            if path == "/v1/checkout/sessions":
                if not self._authorized():
                    return
                params = decode_form(body)
                for required in ("mode", "line_items"):
                    if not params.get(required):
                        message = f"Missing required param: {required}."
                        self._send(*_stripe_error(400, message, param=required))
                        return
                self._send(200, mock.create(params))
                return
            pay = PAY_PATH.match(path)
            if pay and pay.group(1) in mock.sessions:
                session = mock.pay(pay.group(1))
                if mock.webhook_url and mock.webhook_secret:
                    mock.deliver_webhook(session)
                target = str(session.get("success_url") or "/")
                target = target.replace("{CHECKOUT_SESSION_ID}", session["id"])
                self._send(303, b"", "text/plain", location=target)
                return
            self._send(*_stripe_error(404, f"Unrecognized request URL (POST: {path})."))

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            match = SESSION_PATH.match(path)
            if match:
                if not self._authorized():
                    return
                with mock._lock:
                    mock.retrievals += 1
                    session = mock.sessions.get(match.group(1))
                    session = dict(session) if session else None
                if session is None:
                    message = f"No such checkout.session: '{match.group(1)}'"
                    self._send(*_stripe_error(404, message, code="resource_missing", param="id"))
                else:
                    self._send(200, session)
                return
            pay = PAY_PATH.match(path)
            if pay and pay.group(1) in mock.sessions:
                session = mock.sessions[pay.group(1)]
                amount = f"{session['amount_total'] / 100:.2f} {str(session['currency']).upper()}"
                page = (
                    "<!doctype html><html><head><meta charset='utf-8'>"
                    "<title>Stripe (local mock)</title></head>"
                    f"<body><h1>Pay {amount}</h1><p>Session {session['id']} (test mode, local mock)</p>"
                    f"<form method='post' action='/pay/{session['id']}'><button type='submit'>Pay</button>"
                    "</form></body></html>"
                )
                self._send(200, page.encode(), "text/html; charset=utf-8")
                return
            self._send(*_stripe_error(404, f"Unrecognized request URL (GET: {path})."))

    return Handler


def run(rest_args: list[str], env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(
        prog="promotion-agent mock stripe", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--port", type=int, default=int(env.get("STRIPE_MOCK_PORT") or 12111),
                        help="port on 127.0.0.1 (STRIPE_MOCK_PORT, 12111)")  # fmt: skip
    parser.add_argument("--webhook-url", default=env.get("STRIPE_MOCK_WEBHOOK_URL") or None,
                        help="where to send checkout.session.completed when a session is paid "
                        "(STRIPE_MOCK_WEBHOOK_URL), signed with STRIPE_WEBHOOK_SECRET")  # fmt: skip
    args = parser.parse_args(rest_args)
    secret = env.get("STRIPE_WEBHOOK_SECRET") or None
    if args.webhook_url and not secret:
        raise ValueError("--webhook-url needs STRIPE_WEBHOOK_SECRET to sign the events it sends")
    mock = StripeMock(
        port=args.port, api_key=env.get("STRIPE_SECRET_KEY") or None, webhook_url=args.webhook_url,
        webhook_secret=secret,
    ).serve()  # fmt: skip
    print(
        f"mock Stripe listening on {mock.base_url} (POST /v1/checkout/sessions, "
        "GET /v1/checkout/sessions/ID, "
        f"pay at GET /pay/ID; webhook {args.webhook_url or 'off'})",
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        mock.stop()
    return 0
