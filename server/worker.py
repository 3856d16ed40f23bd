"""``promotion-agent worker``: the settlement worker (spec §10).

Every ``SETTLEMENT_WORKER_INTERVAL_MS`` it takes or renews the leader lease
(``server.adapters.leader_lease``); the leader works up to
``SETTLEMENT_WORKER_BATCH_SIZE`` due retry jobs, one at a time, through
``services.settlements.process_queue`` (the same use case as the API), renewing
the lease between jobs when a batch runs long. Standby workers keep serving
``/metrics`` and ``/healthz`` on 127.0.0.1.

SIGINT/SIGTERM: no new job is started, the job in hand may finish within
``SETTLEMENT_WORKER_SHUTDOWN_GRACE_MS`` (a second signal, or the end of the grace,
abandons it: it stays claimed in the database and is taken again once its claim
expires), the lease is released, and the process exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from .adapters.alerts import Alert, Alerter, build_alerter
from .adapters.leader_lease import LeaderLease, lease_for
from .adapters.store.ports import UnitOfWork
from .domain.settlement import OPEN_JOB_STATUSES, WORKER_LEADER_LEASE_MS
from .redaction import redact_url
from .services import settlements
from .services.context import Services
from .serving import bind_loopback
from .settings import Settings, SettingsError, env_int
from .worker_http import WorkerMetrics, start_metrics_server

log = logging.getLogger("promotion_agent.worker")

ALERT_TITLE = "Settlement worker failure"


def _url(env: Mapping[str, str], name: str) -> str | None:
    raw = (env.get(name) or "").strip()
    if not raw:
        return None
    parsed = urlparse(raw)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise SettingsError(f"{name} must be an http(s) URL, got {redact_url(raw)!r}")
    return raw


@dataclass(frozen=True)
class WorkerSettings:
    """The worker's own settings (spec §10), read from the environment; the rest comes from ``Settings``."""

    interval_ms: int = 5000
    leader_lease_ms: int = 15000
    batch_size: int = 20
    # Jobs of a batch in flight at once (their provider calls overlap; each is still claimed once).
    concurrency: int = 1
    metrics_port: int = 9464
    shutdown_grace_ms: int = 10000
    alert_webhook_url: str | None = None
    alert_webhook_api_key: str | None = None
    slack_webhook_url: str | None = None
    alert_suppression_seconds: int = 300
    alert_timeout_ms: int = 5000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WorkerSettings:
        env = os.environ if env is None else env
        interval = env_int(env, "SETTLEMENT_WORKER_INTERVAL_MS", 5000, minimum=10)
        lease = env_int(env, "SETTLEMENT_WORKER_LEADER_LEASE_MS", WORKER_LEADER_LEASE_MS, minimum=100)
        if lease <= interval:
            raise SettingsError(
                f"SETTLEMENT_WORKER_LEADER_LEASE_MS ({lease}) must be longer than SETTLEMENT_WORKER_INTERVAL_MS "
                f"({interval}), or the leader's lease runs out between two renewals"
            )
        return cls(
            interval_ms=interval,
            leader_lease_ms=lease,
            batch_size=env_int(env, "SETTLEMENT_WORKER_BATCH_SIZE", 20, minimum=1, maximum=1000),
            concurrency=env_int(env, "SETTLEMENT_WORKER_CONCURRENCY", 1, minimum=1, maximum=256),
            metrics_port=env_int(env, "SETTLEMENT_WORKER_METRICS_PORT", 9464, minimum=0, maximum=65535),
            shutdown_grace_ms=env_int(env, "SETTLEMENT_WORKER_SHUTDOWN_GRACE_MS", 10000, minimum=0),
            alert_webhook_url=_url(env, "ALERT_WEBHOOK_URL"),
            alert_webhook_api_key=(env.get("ALERT_WEBHOOK_API_KEY") or "").strip() or None,
            slack_webhook_url=_url(env, "SLACK_WEBHOOK_URL"),
            alert_suppression_seconds=env_int(env, "ALERT_SUPPRESSION_SECONDS", 300, minimum=0),
            alert_timeout_ms=env_int(env, "ALERT_TIMEOUT_MS", 5000, minimum=1),
        )


class SettlementWorker:
    """One worker process: the tick (lease, then a batch as leader), the loop, stopping and health."""

    def __init__(
        self,
        svc: Services,
        config: WorkerSettings,
        lease: LeaderLease,
        alerter: Alerter,
        metrics: WorkerMetrics,
    ) -> None:
        self.svc = svc
        self.config = config
        self.lease = lease
        self.alerter = alerter
        self.metrics = metrics
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}"
        self.is_leader = False
        self.stopping = asyncio.Event()
        self.last_tick_at: float | None = None
        self.last_error: str | None = None
        self.last_run: dict[str, int] | None = None
        self._tick_task: asyncio.Task[None] | None = None
        self._last_lease_check = 0.0

    # -- leadership ------------------------------------------------------------
    async def hold_lease(self) -> bool:
        try:
            held = await self.lease.acquire_or_renew()
        except Exception as exc:  # the lease store is unreachable: we cannot know, so do not lead
            log.error("leader lease check failed: %s", exc)
            self.last_error = f"leader lease: {exc}"
            held = False
        if held and not self.is_leader:
            self.metrics.leadership_acquired.inc()
            log.info("worker %s is now the leader (%s lease)", self.worker_id, self.lease.kind)
        elif self.is_leader and not held:
            log.warning("worker %s lost the leader lease", self.worker_id)
        self.is_leader = held
        self.metrics.is_leader.set(1 if held else 0)
        self._last_lease_check = time.monotonic()
        return held

    # -- one tick ----------------------------------------------------------------
    async def tick(self) -> None:
        self.last_error = None
        try:
            if await self.hold_lease():
                await self.run_batch()
            else:
                self.metrics.leadership_skipped.inc()
            await self.refresh_gauges()
        except Exception as exc:  # a tick that fails is logged and retried on the next one
            log.exception("settlement worker tick failed")
            self.last_error = f"{type(exc).__name__}: {exc}"
        self.last_tick_at = time.time()

    async def run_batch(self) -> None:
        m = self.metrics
        started = time.perf_counter()
        failed: list[settlements.ProcessedItem] = []
        counts = {"settled": 0, "rescheduled": 0, "failed": 0, "skipped": 0}
        try:
            remaining = self.config.batch_size
            while remaining > 0:
                if self.stopping.is_set():
                    break
                lease_due = time.monotonic() - self._last_lease_check >= self.config.interval_ms / 1000
                if lease_due and not await self.hold_lease():
                    break
                # ``concurrency`` jobs per call (one by default), so a stop request is honoured between
                # them: none starts once it is set, and the ones in flight finish.
                take = min(remaining, self.config.concurrency)
                result = await settlements.process_queue(self.svc, take, concurrency=take, stop=self.stopping)
                remaining -= take
                if not result.items:
                    break
                m.jobs_processed.inc(result.processed_count)
                m.jobs_settled.inc(result.settled_count)
                m.jobs_retried.inc(result.rescheduled_count)
                m.jobs_failed.inc(result.failed_count)
                m.jobs_skipped.inc(result.skipped_count)
                for item in result.items:
                    counts[item.outcome] = counts.get(item.outcome, 0) + 1
                    if item.outcome == "failed":
                        failed.append(item)
                if result.processed_count == 0:
                    break  # the head of the queue is busy elsewhere; look again next tick
        except Exception:
            if failed:  # the failures recorded before the error still reach the operators
                await self.alert(failed)
            raise
        finally:
            self.last_run = counts
            m.runs.inc()
            m.last_run_duration.set(time.perf_counter() - started)
            m.last_run_timestamp.set(time.time())
            if any(counts.values()):
                log.info("run: %s", ", ".join(f"{k}={v}" for k, v in counts.items()))
        if failed:
            await self.alert(failed)

    async def alert(self, failed: list[settlements.ProcessedItem]) -> None:
        """Tell the operators about the run's failed settlements; never raises."""
        if not self.alerter.enabled:
            return
        try:
            await self._send_alert(failed)
        except Exception:
            log.exception("could not send the failure alert")

    async def _send_alert(self, failed: list[settlements.ProcessedItem]) -> None:
        alert = Alert(
            severity="critical",
            title=ALERT_TITLE,
            message=f"Failed settlements: {len(failed)}",
            details={
                "reason": "worker_failed_max_attempts",
                "gateway": self.svc.gateway.mode,
                "responseCodes": sorted({item.provider_response_code or "UNKNOWN" for item in failed}),
            },
            occurred_at=self.svc.clock(),
            settlement_ids=[item.settlement_id for item in failed],
        )
        outcome = await self.alerter.notify(alert)
        self.metrics.alerts_sent.inc(len(outcome.sent))
        self.metrics.alerts_failed.inc(len(outcome.failed))
        if outcome.suppressed:
            self.metrics.alerts_suppressed.inc()

    async def refresh_gauges(self) -> None:
        async def read(uow: UnitOfWork) -> tuple[dict[str, float], dict[str, float]]:
            counters = uow.counters
            return await counters.counters_with_prefix("retry_jobs:"), await counters.counters_with_prefix(
                "dlq:"
            )

        jobs, dlq = await self.svc.store.read(read)
        self.metrics.retry_jobs_open.set(sum(jobs.get(s, 0) for s in OPEN_JOB_STATUSES))
        self.metrics.dlq_open.set(dlq.get("open", 0))

    # -- the loop and stopping ---------------------------------------------------
    async def serve(self) -> None:
        while not self.stopping.is_set():
            self._tick_task = asyncio.create_task(self.tick())
            await asyncio.wait({self._tick_task})
            if self._tick_task.cancelled():
                log.warning("abandoned the job in hand; it is taken again once its claim expires")
                break
            self._tick_task = None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), self.config.interval_ms / 1000)
        await self.step_down()

    def request_stop(self, signame: str) -> None:
        task = self._tick_task
        if self.stopping.is_set():
            log.warning("%s again: abandoning the job in hand now", signame)
            if task is not None:
                task.cancel()
            return
        self.stopping.set()
        if task is not None and not task.done():
            grace = self.config.shutdown_grace_ms / 1000
            log.info("%s: finishing the job in hand (at most %.1f s), then stopping", signame, grace)
            asyncio.get_running_loop().call_later(grace, task.cancel)
        else:
            log.info("%s: stopping", signame)

    async def step_down(self) -> None:
        try:
            await asyncio.wait_for(self.lease.release(), 5)
            log.info("worker %s released the leader lease", self.worker_id)
        except Exception as exc:  # it runs out on its own after its lease
            log.warning("could not release the leader lease (%s); it expires by itself", exc)
        self.is_leader = False
        self.metrics.is_leader.set(0)

    def health(self) -> tuple[int, dict[str, Any]]:
        status = "stopping" if self.stopping.is_set() else ("degraded" if self.last_error else "ok")
        if self.last_tick_at is None and status == "ok":
            status = "starting"
        body = {
            "status": status,
            "role": "leader" if self.is_leader else "standby",
            "workerId": self.worker_id,
            "lease": self.lease.kind,
            "persistence": self.svc.store.kind,
            "hotState": self.svc.hot.kind,
            "billing": self.svc.gateway.mode,
            "lastTickAt": self.last_tick_at,
            "lastError": self.last_error,
        }
        return (200 if status in ("ok", "starting") else 503), body


async def _main(settings: Settings, config: WorkerSettings, once: bool) -> int:
    from .app import build_services

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per billing call is too much
    metrics = WorkerMetrics()
    sock = None if once else bind_loopback(config.metrics_port)  # a taken port fails before anything else
    svc = await build_services(settings, load_seed=False)
    alerter = build_alerter(
        svc.hot,
        config.alert_webhook_url,
        config.alert_webhook_api_key,
        config.slack_webhook_url,
        config.alert_suppression_seconds,
        config.alert_timeout_ms,
    )
    worker = SettlementWorker(
        svc, config, lease_for(svc.hot, svc.store, config.leader_lease_ms), alerter, metrics
    )
    http = None
    try:
        log.info(
            "settlement worker %s: persistence=%s hotState=%s billing=%s lease=%s interval=%dms batch=%d concurrency=%d alerts=%s",
            worker.worker_id,
            svc.store.kind,
            svc.hot.kind,
            svc.gateway.mode,
            worker.lease.kind,
            config.interval_ms,
            config.batch_size,
            config.concurrency,
            ",".join(s.name for s in alerter.sinks) or "none",
        )
        if once:
            await worker.tick()
            await worker.step_down()
            if worker.last_run is None:
                print(f"not the leader (another worker holds the {worker.lease.kind} lease); nothing done")
            else:
                print("ran one batch: " + ", ".join(f"{k}={v}" for k, v in worker.last_run.items()))
            if worker.last_error:
                print(f"error: {worker.last_error}")
            return 1 if worker.last_error else 0
        assert sock is not None
        http = await start_metrics_server(sock, metrics.registry, worker.health)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, worker.request_stop, sig.name)
        await worker.serve()
        log.info("settlement worker %s stopped", worker.worker_id)
        return 0
    finally:
        if http is not None:
            await http.stop()
        if sock is not None:
            sock.close()
        await alerter.close()
        await svc.close()


def run(rest_args: list[str], settings: Settings) -> int:
    parser = argparse.ArgumentParser(
        prog="promotion-agent worker",
        description="Run the settlement worker: leader lease, retry queue, alerts, /metrics and /healthz.",
    )
    parser.add_argument("--once", action="store_true", help="run one tick (lease, one batch) and exit")
    args = parser.parse_args(rest_args)
    config = WorkerSettings.from_env()
    return asyncio.run(_main(settings, config, args.once))
