"""Helpers for the end-to-end suite: a real server process, a billing-provider stub, payload builders.

Nothing here imports the server package: the end-to-end tests talk to the
server only over HTTP, exactly as a user's client would.
"""

from __future__ import annotations

import copy
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]

# Environment variables the server reads; a test's server never inherits them from the shell
# (a developer's BILLING_ADAPTER_URL or REDIS_URL must not leak into the suite).
SERVER_ENV_VARS = (
    "HOST",
    "PORT",
    "DATABASE_URL",
    "REDIS_URL",
    "HOT_STATE_NAMESPACE",
    "HOT_STATE_VERSION",
    "PROMOTION_AGENT_MODE",
    "APP_MODE",
    "EXCHANGE_CLOCK",
    "RANKING_CONFIG_FILE",
    "CPQR_BILLABLE_EVENT",
    "SEED_PATH",
    "BILLING_ADAPTER_URL",
    "BILLING_PROVIDER_PROFILE",
    "BILLING_ADAPTER_API_KEY",
    "BILLING_ADAPTER_HMAC_SECRET",
    "BILLING_ADAPTER_TIMEOUT_MS",
    "BILLING_SIGNATURE_HEADER",
    "BILLING_TIMESTAMP_HEADER",
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "ALERT_WEBHOOK_URL",
    "SLACK_WEBHOOK_URL",
    "OUTREACH_SENDER_MODE",
    "OUTREACH_SMTP_PROVIDER",
    "OUTREACH_SMTP_HOST",
    "OUTREACH_SMTP_PORT",
    "OUTREACH_SMTP_SECURE",
    "OUTREACH_SMTP_USER",
    "OUTREACH_SMTP_PASS",
    "OUTREACH_SMTP_PASSWORD",
    "OUTREACH_SMTP_FROM",
    "OUTREACH_SMTP_REPLY_TO",
    "OUTREACH_SMTP_CA_FILE",
    "OUTREACH_SMTP_TIMEOUT_MS",
    "OUTREACH_TRACKING_BASE_URL",
    "WEB_CONCURRENCY",
    "API_KEYS_FILE",
    "API_KEYS_PROTECT_READS",
    "RANKING_CONFIG_FILE",
    "EXCHANGE_CLOCK",
    "RECEIPT_VERIFICATION",
    "RECEIPT_SIGNING_SECRETS",
)

STARTUP_TIMEOUT_S = 45.0


# ---------------------------------------------------------------------------
# Ids and payloads
# ---------------------------------------------------------------------------


def uid(prefix: str) -> str:
    """A fresh id, unique across tests sharing one server."""
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _find_shared_file(relative: str) -> Path:
    # The project keeps verbatim copies of the shared fixtures in data/ (CI clones may lack ../shared).
    candidates = [
        REPO_ROOT / "data" / relative.removeprefix("fixtures/"),
        REPO_ROOT.parent / "shared" / relative,
    ]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{relative} not found in any of: {', '.join(map(str, candidates))}")


def template_campaign() -> dict[str, Any]:
    """Element 0 of the original-format campaign template, unchanged (a deep copy)."""
    path = _find_shared_file("fixtures/original-format/campaigns.template.json")
    return copy.deepcopy(json.loads(path.read_text(encoding="utf-8"))[0])


def campaign_draft(**overrides: Any) -> dict[str, Any]:
    """The template campaign with top-level overrides; ``product`` overrides merge into the product."""
    draft = template_campaign()
    product_overrides = overrides.pop("product", None)
    draft.update(overrides)
    if product_overrides:
        draft["product"].update(product_overrides)
    return draft


def roomy_seed(folder: Path, budget_factor: float = 100.0, credits: dict[str, float] | None = None) -> Path:
    """The default seed with every campaign's budget multiplied (for tests that bill hundreds of times:
    the seed's HubFlow budget holds 100 settlements, and budgets are never exceeded), and with
    ``credits`` the starting balance of those workspaces (the seed's ``wallets``; a workspace's
    first 100 credits last five full funnels: presented, viewed, interacted, converted)."""
    seed = json.loads((REPO_ROOT / "data" / "seed.json").read_text(encoding="utf-8"))
    for campaign in seed["campaigns"]:
        campaign["budget"] = campaign["budget"] * budget_factor
    if credits:
        seed["wallets"] = [{"workspaceId": w, "availableCredits": c} for w, c in credits.items()]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "roomy-seed.json"
    path.write_text(json.dumps(seed), encoding="utf-8")
    return path


def receipt(**overrides: Any) -> dict[str, Any]:
    """A valid receipt for the seeded HubFlow campaign and ProcurePilot; fields overridable."""
    body: dict[str, Any] = {
        "receiptId": uid("rcpt"),
        "dataProvenance": "real_event",
        "intentId": uid("intent"),
        "offerId": "offer_hubflow",
        "campaignId": "cmp_hubflow",
        "partnerId": "partner_procure_pilot",
        "eventType": "shortlisted",
        "occurredAt": now_iso(),
        "signature": "sig_e2e_test",
    }
    body.update(overrides)
    return body


def opportunity(intent_id: str | None = None, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "intentId": intent_id or uid("intent"),
        "category": "crm_software",
        "taskType": "compare_and_shortlist",
        "constraints": {"geo": ["UK"]},
        "sponsoredSlots": 4,
    }
    body.update(overrides)
    return body


# ---------------------------------------------------------------------------
# The server process
# ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerStartError(RuntimeError):
    pass


@dataclass
class ServerProcess:
    """``python -m server serve`` as a user starts it, on 127.0.0.1 and a free port."""

    base_url: str
    port: int
    database_path: Path
    process: subprocess.Popen
    stdout_path: Path
    stderr_path: Path
    env: dict[str, str] = field(default_factory=dict)

    def output(self) -> str:
        out = self.stdout_path.read_text(errors="replace") if self.stdout_path.exists() else ""
        err = self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""
        return f"--- stdout ---\n{out[-6000:]}\n--- stderr ---\n{err[-12000:]}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def spawn_server(workdir: Path, extra_env: Mapping[str, str] | None = None, tag: str = "0") -> ServerProcess:
    """Launch the server process (without waiting for it) with its SQLite database in ``workdir``."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    db_path = workdir / f"exchange-{tag}.sqlite3"
    env = {k: v for k, v in os.environ.items() if k not in SERVER_ENV_VARS}
    env.update(
        {
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "DATABASE_URL": f"sqlite+aiosqlite:///{db_path}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra_env or {})
    stdout_path = workdir / f"server-{tag}.stdout.log"
    stderr_path = workdir / f"server-{tag}.stderr.log"
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "server", "serve"],
            cwd=REPO_ROOT,
            env=env,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
        )
    return ServerProcess(
        base_url=f"http://127.0.0.1:{port}",
        port=port,
        database_path=db_path,
        process=proc,
        stdout_path=stdout_path,
        stderr_path=stderr_path,
        env=dict(extra_env or {}),
    )


def lost_port_race(server: ServerProcess) -> bool:
    text = server.output().lower()
    return "address already in use" in text or "errno 98" in text


def wait_until_healthy(server: ServerProcess) -> ServerProcess:
    """Wait for GET /health; on failure stop the process and raise ``ServerStartError`` with its output."""
    try:
        _wait_healthy(server)
    except ServerStartError:
        server.stop()
        raise
    return server


def start_server(
    workdir: Path, extra_env: Mapping[str, str] | None = None, attempts: int = 3
) -> ServerProcess:
    """Start a server with its SQLite database in ``workdir``; return once GET /health answers 200.

    Raises ``ServerStartError`` with the server's captured output when the process dies or
    does not become healthy within ``STARTUP_TIMEOUT_S``. A lost race for the free port is retried.
    """
    last_error: ServerStartError | None = None
    for attempt in range(attempts):
        server = spawn_server(workdir, extra_env, tag=str(attempt))
        try:
            return wait_until_healthy(server)
        except ServerStartError as exc:
            last_error = exc
            if not lost_port_race(server):
                break
    assert last_error is not None
    raise last_error


def _wait_healthy(server: ServerProcess) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last = "no answer yet"
    with httpx.Client(base_url=server.base_url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            code = server.process.poll()
            if code is not None:
                raise ServerStartError(
                    f"the server exited with code {code} before answering GET /health\n{server.output()}"
                )
            try:
                response = client.get("/health")
                if response.status_code == 200:
                    return
                last = f"HTTP {response.status_code}: {response.text[:300]}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.05)
    raise ServerStartError(
        f"GET /health did not answer 200 within {STARTUP_TIMEOUT_S:.0f} s (last: {last})\n{server.output()}"
    )


# ---------------------------------------------------------------------------
# The billing-provider stub
# ---------------------------------------------------------------------------


@dataclass
class StubReply:
    status: int = 200  # 0: close the connection without answering (a network error for the client)
    body: Any = None  # dict/list → JSON; bytes/str → as is; None → empty body
    delay_s: float = 0.0
    drip_s: float = 0.0  # > 0: send the body one byte at a time, this long apart (a slow-drip provider)
    headers: dict[str, str] | None = None  # extra response headers (Retry-After, ...)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-cased names
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw.decode("utf-8"))


class BillingStub:
    """A billing provider on 127.0.0.1 whose answers the test sets; it records every request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._default = StubReply(200, {"status": "settled", "code": "SETTLED"})
        self._queue: list[StubReply] = []
        self._requests: list[RecordedRequest] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                reply = stub._record(
                    RecordedRequest(
                        method=self.command,
                        path=self.path,
                        headers={k.lower(): v for k, v in self.headers.items()},
                        raw=raw,
                    )
                )
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                if reply.status == 0:
                    self.close_connection = True
                    return
                if reply.body is None:
                    payload = b""
                elif isinstance(reply.body, bytes):
                    payload = reply.body
                elif isinstance(reply.body, str):
                    payload = reply.body.encode()
                else:
                    payload = json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                for name, value in (reply.headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                if reply.drip_s > 0:
                    try:
                        for i in range(len(payload)):
                            self.wfile.write(payload[i : i + 1])
                            self.wfile.flush()
                            time.sleep(reply.drip_s)
                    except OSError:  # the client gave up
                        self.close_connection = True
                    return
                self.wfile.write(payload)

            do_POST = do_PUT = do_GET = _handle

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}/settlements"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="billing-stub", daemon=True)
        self._thread.start()

    def _record(self, request: RecordedRequest) -> StubReply:
        with self._lock:
            self._requests.append(request)
            return self._queue.pop(0) if self._queue else self._default

    def respond(self, status: int = 200, body: Any = None, delay_s: float = 0.0, **extra: Any) -> None:
        """The answer to every following request (until changed); clears queued one-off answers.

        ``extra``: ``drip_s`` (send the body byte by byte), ``headers`` (extra response headers).
        """
        with self._lock:
            self._default = StubReply(status, body, delay_s, **extra)
            self._queue.clear()

    def respond_once(self, status: int = 200, body: Any = None, delay_s: float = 0.0, **extra: Any) -> None:
        """Queue a one-off answer, used before the default one."""
        with self._lock:
            self._queue.append(StubReply(status, body, delay_s, **extra))

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, settlement_id: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.headers.get("idempotency-key") == settlement_id]

    def clear(self) -> None:
        with self._lock:
            self._requests.clear()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(timeout=5)


# ---------------------------------------------------------------------------
# Assertions
# ---------------------------------------------------------------------------


def error_body(response: httpx.Response) -> dict[str, Any]:
    """The JSON error body, checked to carry a non-empty ``message``."""
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(
            f"{response.request.method} {response.request.url} → {response.status_code} "
            f"with a non-JSON body: {response.text[:300]!r}"
        ) from None
    assert isinstance(body, dict), f"error body is not an object: {body!r}"
    assert isinstance(body.get("message"), str) and body["message"].strip(), f"no message in {body!r}"
    return body


def expect(response: httpx.Response, status: int) -> Any:
    """Assert the status (showing the body when it differs) and return the JSON body."""
    assert response.status_code == status, (
        f"{response.request.method} {response.request.url.path} → {response.status_code}, expected {status}: "
        f"{response.text[:1000]}"
    )
    return response.json()
