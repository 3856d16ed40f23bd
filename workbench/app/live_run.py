"""``workbench live SCENARIO``: the scenario itself on a real server, then reconciled with the batch engine.

A private exchange is started in a temporary folder, every process under the
guard of ``workbench.app.local_server`` (it stops with the workbench, however that ends):

- the mock billing provider in its ``probabilistic`` mode, failing at the scenario's
  ``[billing]`` rates (seeded with the scenario's seed);
- the server on embedded SQLite, seeded with the scenario's market (``seed_document``:
  partners, campaigns with their budgets, reputation records, the committed spend and the
  disputed settlements as settlements made before the run, and the workspace credits as
  ``wallets``, metered or as good as unlimited), with its ranking config (``RANKING_CONFIG_FILE``),
  its clock (``EXCHANGE_CLOCK=fixed:<as_of>``) and its CPQR billable event;
- once the traffic is in, a settlement worker (``promotion-agent worker``).

The batch engine's own traffic and funnel draws are replayed in arrival order, one
request at a time with its receipts before the next request, so budgets are spent as
the batch spends them. The worker starts after the traffic: in the batch a settlement
that later fails does not give its amount back within the run, and a worker settling
meanwhile would give failed amounts back to the budgets between two requests. Then the
queue is drained (retries wait 15 s, then 30 s) and the settlements and dead letters are
read back; ``workbench.app.reconcile`` compares them with the batch.

``seed_document`` and ``_run`` are long on purpose: the seed is written field by field from the scenario, and the run's phases (start, provision, replay, drain, read back) follow one another.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from server.domain.ranking_table import ranking_table
from server.domain.receipts import CPA_BILLABLE_EVENT
from workbench.app.client import ApiClient, ApiError
from workbench.app.local_server import (
    LocalServer,
    LocalServerError,
    free_port,
    start_announcing,
    start_private_server,
)
from workbench.app.replay import ReplaySummary, request_bodies, send_requests
from workbench.engine.pipeline import RunResult, run_scenario
from workbench.engine.scenario import Scenario

# (phase, done, total): "starting", "replaying", "settling", "reading"
Progress = Callable[[str, int, int | None], None]

# A settings variable the private processes must not inherit from the shell (a developer's DATABASE_URL,
# REDIS_URL, API keys or billing adapter would turn the private server into someone else's).
_INHERITED_PREFIXES = (
    "BILLING_",
    "SETTLEMENT_",
    "HOT_STATE_",
    "ALERT_",
    "API_KEYS_",
    "RECEIPT_",
    "STRIPE_",
    "OUTREACH_",
)
_INHERITED_NAMES = {
    "HOST",
    "PORT",
    "DATABASE_URL",
    "REDIS_URL",
    "PROMOTION_AGENT_MODE",
    "CPQR_BILLABLE_EVENT",
    "SEED_PATH",
    "RANKING_CONFIG_FILE",
    "EXCHANGE_CLOCK",
    "WEB_CONCURRENCY",
    "SLACK_WEBHOOK_URL",
    "OUTREACH_SENDER_MODE",
}
# A workspace the scenario does not meter has unlimited credits in the batch: its wallet gets plenty.
UNMETERED_CREDITS = 1e9
# The queue counts as stuck when nothing moved for this long (the longest retry wait is 30 s).
STALL_S = 120.0
POLL_S = 0.5


class LiveRunError(RuntimeError):
    """The live run could not be carried out; ``str()`` is one line."""


def _stamp(value: Any) -> str:
    return value.isoformat().replace("+00:00", "Z")


def seed_document(scenario: Scenario) -> tuple[dict[str, Any], set[str]]:
    """The server's seed file for the scenario's market, and the ids of the settlements it holds.

    Committed spend becomes one settled settlement per campaign and each disputed settlement one
    disputed settlement of its partner: the server derives budgets and governed trust from those,
    as from any settlement. Every workspace gets a wallet: the scenario's credits where it meters them,
    else ``UNMETERED_CREDITS`` (the batch does not count them).
    """
    ent, at = scenario.spec.entities, _stamp(scenario.spec.as_of)
    campaigns = {c.campaign_id: c for c in scenario.campaigns}
    first_partner = scenario.partners[0].partner_id

    def settlement(sid: str, campaign_id: str, partner_id: str, amount: float, status: str) -> dict[str, Any]:
        c = campaigns[campaign_id]
        event = CPA_BILLABLE_EVENT if c.billing_model == "CPA" else scenario.spec.cpqr_billable_event
        return {
            "settlementId": sid,
            "dataProvenance": "demo_seed",
            "campaignId": campaign_id,
            "offerId": c.offer.offer_id,
            "partnerId": partner_id,
            "intentId": f"seed-{sid}",
            "billingModel": c.billing_model,
            "eventType": event,
            "amount": amount,
            "currency": c.currency,
            "attributionWindow": "session",
            "status": status,
            "disputeFlag": status == "disputed",
            "generatedAt": at,
            "updatedAt": at,
        }

    settlements = [
        settlement(f"set_seed_spend_{cid}", cid, first_partner, amount, "settled")
        for cid, amount in ent.committed_spend.items()
        if amount > 0
    ]
    some_campaign = scenario.campaigns[0]
    settlements += [
        settlement(
            f"set_seed_dispute_{pid}_{k}",
            some_campaign.campaign_id,
            pid,
            some_campaign.payout_amount,
            "disputed",
        )
        for pid, count in ent.disputed_settlements.items()
        for k in range(count)
    ]
    document = {
        "partners": msgspec.to_builtins(list(scenario.partners)),
        "campaigns": msgspec.to_builtins(list(scenario.campaigns)),
        "reputationRecords": msgspec.to_builtins(list(scenario.reputation_records)),
        "settlements": settlements,
        "wallets": [
            {"workspaceId": ws, "availableCredits": float(ent.credits.get(ws, UNMETERED_CREDITS))}
            for ws in dict.fromkeys(c.workspace_id for c in scenario.campaigns)
        ],
    }
    return document, {s["settlementId"] for s in settlements}


def _private_env() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if k not in _INHERITED_NAMES and not k.startswith(_INHERITED_PREFIXES)
    } | {"PYTHONUNBUFFERED": "1"}


@dataclass
class LiveResult:
    scenario: Scenario
    batch: RunResult
    requests: int
    summary: ReplaySummary
    settlements: list[dict[str, Any]]  # the run's own (the seed's left out)
    dead_letters: list[dict[str, Any]]
    server_config: dict[str, Any]
    drained: bool
    seconds: dict[str, float] = field(default_factory=dict)


@dataclass
class _Stack:
    """The run's processes, stopped newest first."""

    folder: Path
    started: list[LocalServer] = field(default_factory=list)

    def add(self, process: LocalServer) -> LocalServer:
        self.started.append(process)
        return process

    def stop(self) -> None:
        for process in reversed(self.started):
            process.release()  # every guard starts stopping its process at once
        for process in reversed(self.started):
            process.stop()

    def check_alive(self) -> None:
        for process in self.started:
            if process.process is not None and process.process.poll() is not None:
                assert process.log_path is not None
                lines = process.log_path.read_text(errors="replace").strip().splitlines()
                raise LiveRunError(
                    f"{process.log_path.stem} stopped during the run: {lines[-1] if lines else '(no output)'}"
                )


def run_live(scenario: Scenario, limit: int | None = None, progress: Progress | None = None) -> LiveResult:
    """Run the scenario's first ``limit`` requests (all by default) on a private server; see the module."""
    note = progress or (lambda phase, done, total: None)
    note("starting", 0, None)
    batch = run_scenario(scenario)  # the whole traffic: request t depends only on the requests before it
    n = batch.traffic.size if limit is None else min(limit, batch.traffic.size)
    with tempfile.TemporaryDirectory(prefix="workbench-live-") as tmp:
        stack = _Stack(Path(tmp))
        try:
            return _run(scenario, batch, n, stack, note)
        except LocalServerError as exc:
            raise LiveRunError(str(exc)) from None
        except ApiError as exc:  # the server went away mid-run: say which process stopped, if one did
            stack.check_alive()
            raise LiveRunError(exc.message) from None
        finally:
            stack.stop()


def _run(scenario: Scenario, batch: RunResult, n: int, stack: _Stack, note: Progress) -> LiveResult:
    folder, spec = stack.folder, scenario.spec
    document, seeded = seed_document(scenario)
    (folder / "seed.json").write_bytes(msgspec.json.encode(document))
    (folder / "ranking.json").write_bytes(msgspec.json.encode(ranking_table(scenario.ranking)))
    env = _private_env()
    billing = spec.billing
    mock_port = free_port()  # known before the mock starts, so that the server can start beside it
    shared = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{folder}/exchange.sqlite3",
        "BILLING_ADAPTER_URL": f"http://127.0.0.1:{mock_port}/settlements",
        "CPQR_BILLABLE_EVENT": spec.cpqr_billable_event,
    }
    with ThreadPoolExecutor(2) as pool:
        starting = [
            pool.submit(
                start_announcing,
                [
                    sys.executable,
                    "-m",
                    "server",
                    "mock",
                    "billing",
                    "--port",
                    str(mock_port),
                    "--mode",
                    "probabilistic",
                    "--seed",
                    str(spec.seed),
                    "--retryable-rate",
                    repr(billing.retryable_failure_rate),
                    "--terminal-rate",
                    repr(billing.terminal_failure_rate),
                ],
                env,
                folder / "mock-billing.log",
                "the mock billing provider",
            ),
            pool.submit(
                start_private_server,
                {
                    **env,
                    **shared,
                    "SEED_PATH": str(folder / "seed.json"),
                    "RANKING_CONFIG_FILE": str(folder / "ranking.json"),
                    "EXCHANGE_CLOCK": f"fixed:{_stamp(spec.as_of)}",
                },
                folder / "server.log",
            ),
        ]
        failures = []
        for future in starting:  # every process that did start joins the stack, to be stopped
            try:
                stack.add(future.result())
            except LocalServerError as exc:
                failures.append(exc)
        if failures:
            raise failures[0]
        server = starting[1].result()
    worker_env = {
        **env,
        **shared,
        "SETTLEMENT_WORKER_INTERVAL_MS": "100",
        "SETTLEMENT_WORKER_LEADER_LEASE_MS": "2000",
        "SETTLEMENT_WORKER_BATCH_SIZE": "1000",
        "SETTLEMENT_WORKER_METRICS_PORT": "0",
    }

    def start_worker() -> None:
        stack.add(
            start_announcing(
                [sys.executable, "-m", "server", "worker"],
                worker_env,
                folder / "worker.log",
                "the settlement worker",
            )
        )

    return asyncio.run(_drive(scenario, batch, n, server.base_url, seeded, stack, start_worker, note))


async def _drive(
    scenario: Scenario,
    batch: RunResult,
    n: int,
    base_url: str,
    seeded: set[str],
    stack: _Stack,
    start_worker: Callable[[], None],
    note: Progress,
) -> LiveResult:
    seconds: dict[str, float] = {}
    async with ApiClient(base_url, timeout=30.0, api_key="") as client:
        try:
            config = await client.ranking_config()
        except ApiError as exc:
            raise LiveRunError(
                f"the private server did not report its ranking config: {exc.message}"
            ) from None
        _check_config(scenario, config)
        summary = ReplaySummary(run_id="live", shortlists={})
        bodies = request_bodies(batch.traffic, summary.run_id, n)
        started = time.perf_counter()
        await send_requests(
            client,
            scenario,
            bodies,
            batch.stages[:n],
            summary,
            progress=lambda done, total: note("replaying", done, total),
            concurrency=1,
        )
        seconds["replay"] = time.perf_counter() - started
        started = time.perf_counter()
        await asyncio.to_thread(start_worker)
        drained = await _drain(client, summary, seeded, stack, note)
        seconds["settle"] = time.perf_counter() - started
        note("reading", 0, None)
        settlements = (await client.settlements(limit=1000, cap=10**9)).items
        dead = (await client.all_dead_letters(page_size=100, cap=10**9)).items
    return LiveResult(
        scenario=scenario,
        batch=batch,
        requests=n,
        summary=summary,
        settlements=[s for s in settlements if s["settlementId"] not in seeded],
        dead_letters=[d for d in dead if d["settlementId"] not in seeded],
        server_config=config,
        drained=drained,
        seconds=seconds,
    )


def _check_config(scenario: Scenario, config: dict[str, Any]) -> None:
    """The private server must rank with the scenario's settings (it was started with them)."""
    from workbench.app.provision import config_differences

    differences = config_differences(scenario, config)
    if differences:
        raise LiveRunError(
            "the private server does not rank with the scenario's settings: " + "; ".join(differences)
        )


async def _drain(
    client: ApiClient, summary: ReplaySummary, seeded: set[str], stack: _Stack, note: Progress
) -> bool:
    """Wait until no retry job is open; False when the queue stops moving for ``STALL_S``."""
    seeded_final = len(seeded)
    last, last_change = None, time.monotonic()
    while True:
        stack.check_alive()
        board = await client.dashboard()
        by_status: Counter = Counter(board["settlementsByStatus"])
        final = by_status["settled"] + by_status["failed"] + by_status["disputed"] - seeded_final
        note("settling", final, summary.settlements)
        state = (board["retryJobsOpen"], final)
        if board["retryJobsOpen"] == 0:
            return True
        if state != last:
            last, last_change = state, time.monotonic()
        elif time.monotonic() - last_change > STALL_S:
            return False
        await asyncio.sleep(POLL_S)
