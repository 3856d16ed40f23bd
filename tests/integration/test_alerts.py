"""Alerts (spec §10) against real HTTP receivers on loopback: the shipped alerts mock and servers made here."""

from __future__ import annotations

import hashlib
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from server.adapters.alerts import Alert, Alerter, SlackSink, WebhookSink, build_alerter, fingerprint
from server.adapters.hot_state import MemoryHotState
from server.adapters.redis_hot_state import RedisHotState
from tests.support.worker_fixtures import MockAlerts, Processes

AT = datetime(2026, 3, 11, 12, 0, 0, tzinfo=UTC)


def an_alert(codes: list[str] | None = None, ids: list[str] | None = None) -> Alert:
    return Alert(
        severity="critical",
        title="Settlement worker failure",
        message="Failed settlements: 2",
        details={
            "reason": "worker_failed_max_attempts",
            "gateway": "http",
            "responseCodes": codes or ["FAILED"],
        },
        occurred_at=AT,
        settlement_ids=ids or ["set_aaaa0001", "set_aaaa0002"],
    )


class Clock:
    def __init__(self) -> None:
        self.ms = 0.0

    def __call__(self) -> float:
        return self.ms


@pytest.fixture(scope="module")
def alert_processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Processes]:
    group = Processes(tmp_path_factory.mktemp("alert-mocks"))
    yield group
    group.stop_all()


@pytest.fixture(scope="module")
def receiver(alert_processes: Processes) -> MockAlerts:
    return alert_processes.mock_alerts()


@pytest.fixture
def sink_urls(receiver: MockAlerts) -> Iterator[tuple[str, str]]:
    import httpx

    httpx.delete(f"{receiver.url}/events", timeout=10).raise_for_status()
    yield f"{receiver.url}/hooks/ops", f"{receiver.url}/slack/T000/B000"


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}/hook"


async def test_webhook_and_slack_receive_their_formats(
    receiver: MockAlerts, sink_urls: tuple[str, str]
) -> None:
    webhook, slack = sink_urls
    alerter = build_alerter(MemoryHotState(), webhook, "alert-key-1", slack, suppression_seconds=300)
    outcome = await alerter.notify(an_alert())
    await alerter.close()
    assert (outcome.suppressed, sorted(outcome.sent), outcome.failed) == (False, ["slack", "webhook"], [])
    events = {e["path"]: e for e in receiver.events()}
    hook = events["/hooks/ops"]
    assert hook["headers"]["authorization"] == "Bearer alert-key-1"
    assert hook["headers"]["content-type"] == "application/json"
    assert hook["body"] == {
        "severity": "critical",
        "title": "Settlement worker failure",
        "message": "Failed settlements: 2",
        "details": {"reason": "worker_failed_max_attempts", "gateway": "http", "responseCodes": ["FAILED"]},
        "occurredAt": "2026-03-11T12:00:00Z",
        "settlementIds": ["set_aaaa0001", "set_aaaa0002"],
    }
    body = events["/slack/T000/B000"]["body"]
    assert "authorization" not in events["/slack/T000/B000"]["headers"]
    assert body["text"] == "[CRITICAL] Settlement worker failure"
    [attachment] = body["attachments"]
    assert attachment["color"] == "#B94334"
    assert (
        attachment["title"] == "Settlement worker failure" and attachment["text"] == "Failed settlements: 2"
    )
    fields = {f["title"]: f["value"] for f in attachment["fields"]}
    assert fields["reason"] == "worker_failed_max_attempts"
    assert fields["settlements"] == "set_aaaa0001, set_aaaa0002"
    assert attachment["ts"] == int(AT.timestamp())


def test_the_fingerprint_is_sha256_of_title_and_details() -> None:
    alert = an_alert()
    canonical = '{"gateway":"http","reason":"worker_failed_max_attempts","responseCodes":["FAILED"]}'
    assert (
        fingerprint(alert) == hashlib.sha256(("Settlement worker failure" + canonical).encode()).hexdigest()
    )
    # Which settlements failed is not part of it; the kind of failure is.
    assert fingerprint(an_alert(ids=["set_other"])) == fingerprint(alert)
    assert fingerprint(an_alert(codes=["NETWORK_ERROR"])) != fingerprint(alert)


async def test_the_same_fingerprint_is_suppressed_for_the_window(
    receiver: MockAlerts, sink_urls: tuple[str, str]
) -> None:
    clock = Clock()
    webhook, slack = sink_urls
    alerter = build_alerter(MemoryHotState(now=clock), webhook, None, slack, suppression_seconds=300)
    first = await alerter.notify(an_alert())
    again = await alerter.notify(an_alert(ids=["set_bbbb0003"]))
    other = await alerter.notify(an_alert(codes=["NETWORK_ERROR"]))
    clock.ms += 299_999
    still = await alerter.notify(an_alert())
    clock.ms += 1
    later = await alerter.notify(an_alert())
    await alerter.close()
    assert [len(o.sent) for o in (first, again, other, still, later)] == [2, 0, 2, 0, 2]
    assert [o.suppressed for o in (first, again, other, still, later)] == [False, True, False, True, False]
    assert len(receiver.events()) == 6


async def test_suppression_is_shared_through_redis(redis_url: str, sink_urls: tuple[str, str]) -> None:
    webhook, _ = sink_urls
    one = RedisHotState(redis_url, "alerts-test-shared")
    two = RedisHotState(redis_url, "alerts-test-shared")
    a = build_alerter(one, webhook, None, None, suppression_seconds=300)
    b = build_alerter(two, webhook, None, None, suppression_seconds=300)
    try:
        assert (await a.notify(an_alert(codes=["REDIS_SHARED"]))).sent == ["webhook"]
        assert (await b.notify(an_alert(codes=["REDIS_SHARED"]))).suppressed
    finally:
        for alerter, hot in ((a, one), (b, two)):
            await alerter.close()
            await hot.close()


async def test_a_sink_that_is_down_is_counted_and_the_other_still_gets_it(
    receiver: MockAlerts, sink_urls: tuple[str, str]
) -> None:
    _, slack = sink_urls
    alerter = build_alerter(MemoryHotState(), closed_port_url(), None, slack, suppression_seconds=300)
    outcome = await alerter.notify(an_alert())
    await alerter.close()
    assert (outcome.sent, outcome.failed, outcome.suppressed) == (["slack"], ["webhook"], False)
    assert [e["path"] for e in receiver.events()] == ["/slack/T000/B000"]


async def test_when_every_sink_fails_the_next_run_tries_again(alert_processes: Processes) -> None:
    failing = alert_processes.mock_alerts("--status", "500")
    hot = MemoryHotState()
    alerter = Alerter(hot, [WebhookSink(f"{failing.url}/hook"), SlackSink(closed_port_url())], 300, 2000)
    first = await alerter.notify(an_alert())
    second = await alerter.notify(an_alert())
    await alerter.close()
    assert (first.sent, sorted(first.failed)) == ([], ["slack", "webhook"])
    assert not second.suppressed and sorted(second.failed) == ["slack", "webhook"]
    assert len(failing.events()) == 2  # it did receive them, and answered 500


class BarrierServer:
    """Answers /webhook only once /slack has arrived (or 500 after a while): passes only if sent together."""

    def __init__(self) -> None:
        self.slack_arrived = threading.Event()
        self.paths: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                outer.paths.append(self.path)
                if self.path == "/slack":
                    outer.slack_arrived.set()
                    status = 200
                else:
                    status = 200 if outer.slack_arrived.wait(timeout=10) else 500
                self.send_response(status)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.slack_arrived.set()
        self.httpd.shutdown()
        self.httpd.server_close()


async def test_sinks_are_sent_concurrently() -> None:
    server = BarrierServer()
    # The webhook is listed first: sent one after the other, it would wait for a Slack call that never comes.
    alerter = Alerter(
        MemoryHotState(),
        [WebhookSink(f"{server.url}/webhook"), SlackSink(f"{server.url}/slack")],
        300,
        20_000,
    )
    try:
        outcome = await alerter.notify(an_alert())
    finally:
        await alerter.close()
        server.stop()
    assert sorted(outcome.sent) == ["slack", "webhook"] and outcome.failed == []


async def test_no_sinks_means_no_alert_and_no_suppression_window() -> None:
    hot = MemoryHotState()
    alerter = build_alerter(hot, None, None, None, suppression_seconds=300)
    outcome = await alerter.notify(an_alert())
    await alerter.close()
    assert not alerter.enabled and (outcome.sent, outcome.failed, outcome.suppressed) == ([], [], False)
    assert await hot.acquire_lock(hot.key(f"alert:suppression:{fingerprint(an_alert())}"), 1000) is not None
