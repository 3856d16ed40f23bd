"""The settlement worker's metrics (Prometheus, its own registry) and its /metrics and /healthz endpoint."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, make_asgi_app

from .serving import LoopbackServer, bound_url

PREFIX = "promotion_agent_worker_"


class WorkerMetrics:
    """Every metric of spec §10 (plus ``is_leader`` and ``alerts_failed_total``) on a private registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)

        def counter(name: str, doc: str) -> Counter:
            return Counter(PREFIX + name, doc, registry=self.registry)

        def gauge(name: str, doc: str) -> Gauge:
            return Gauge(PREFIX + name, doc, registry=self.registry)

        self.runs = counter("runs_total", "Batches run as the leader.")
        self.jobs_processed = counter("jobs_processed_total", "Retry jobs processed (submitted to billing).")
        self.jobs_settled = counter("jobs_settled_total", "Retry jobs whose settlement settled.")
        self.jobs_retried = counter("jobs_retried_total", "Retry jobs rescheduled after a retryable failure.")
        self.jobs_failed = counter("jobs_failed_total", "Retry jobs failed for good (dead-lettered).")
        self.jobs_skipped = counter("jobs_skipped_total", "Due jobs skipped because another worker had them.")
        self.alerts_sent = counter("alerts_sent_total", "Alerts delivered, one per sink.")
        self.alerts_suppressed = counter("alerts_suppressed_total", "Alerts suppressed within their window.")
        self.alerts_failed = counter("alerts_failed_total", "Alert deliveries that failed, one per sink.")
        self.leadership_acquired = counter(
            "leadership_acquired_total", "Times this worker became the leader."
        )
        self.leadership_skipped = counter("leadership_skipped_total", "Ticks skipped as a standby.")
        self.is_leader = gauge("is_leader", "1 while this worker holds the leader lease.")
        self.retry_jobs_open = gauge("retry_jobs_open", "Retry jobs queued, processing or rescheduled.")
        self.dlq_open = gauge("dlq_open_total", "Open dead-letter entries.")
        self.last_run_duration = gauge("last_run_duration_seconds", "Duration of the last batch.")
        self.last_run_timestamp = gauge("last_run_timestamp_seconds", "Unix time the last batch ended.")


Health = Callable[[], tuple[int, dict[str, Any]]]


def metrics_app(registry: CollectorRegistry, health: Health) -> Callable[..., Awaitable[None]]:
    """A bare ASGI app: ``/metrics`` (prometheus-client's own exposition), ``/healthz`` (JSON)."""
    exposition = make_asgi_app(registry)

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] == "/metrics":
            await exposition(scope, receive, send)
            return
        if scope["path"] == "/healthz":
            status, body = health()
            payload = json.dumps(body).encode()
        else:
            status, payload = 404, b'{"message": "Not found: try /metrics or /healthz."}'
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    return app


class MetricsServer:
    def __init__(self, server: LoopbackServer, task: asyncio.Task[None]) -> None:
        self.server = server
        self.task = task

    async def stop(self) -> None:
        self.server.should_exit = True
        try:
            await asyncio.wait_for(self.task, 5)
        except (TimeoutError, Exception):
            self.task.cancel()


async def start_metrics_server(
    sock: socket.socket, registry: CollectorRegistry, health: Health
) -> MetricsServer:
    """Serve on the bound socket in this event loop; the worker keeps its own signal handlers."""
    server = LoopbackServer(
        metrics_app(registry, health),
        handle_signals=False,
        lifespan="off",
        ready_message=f"worker metrics on {bound_url(sock)}/metrics and {bound_url(sock)}/healthz",
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started and not task.done():  # noqa: ASYNC110 - uvicorn's Server has no started event
        await asyncio.sleep(0.01)
    if task.done():
        task.result()  # startup failed: raise its error
        raise OSError(f"the metrics server on {bound_url(sock)} stopped at start-up")
    return MetricsServer(server, task)
