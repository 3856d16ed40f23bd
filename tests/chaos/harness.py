"""The parts every chaos proof uses: real processes it owns, a look into the database, a concurrent client.

``Stack`` starts what a proof needs (PostgreSQL, Redis it can kill and restart
on the same port, server processes, the mock billing provider, workers), all on
127.0.0.1 and free ports, and stops every one of them when it is closed, in
pytest or in a ``--full`` script alike. ``Db`` reads the database directly (the
proofs check rows, not only what the API says). ``send_all`` sends many
requests at a bounded concurrency and keeps every answer.

Nothing here asserts: the proofs return their figures, the tests assert on
them and the scripts print them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import shutil
import signal
import sqlite3
import subprocess
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from server.dev import redis_argv, wait_for_port
from tests.backends import PostgresServer, free_port, postgres_server, unavailable
from tests.support import ServerProcess, spawn_server
from tests.support.worker_fixtures import Command, MockBilling, Worker, launch_command, wait_ready

T = TypeVar("T")


class ChaosError(RuntimeError):
    """Something the proof needs did not happen (a process did not start, a wait timed out)."""


def wait_for(probe: Callable[[], T], what: str, timeout: float = 90.0, every: float = 0.1) -> T:
    """Poll ``probe`` until it returns something truthy; ``ChaosError`` naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    raise ChaosError(f"timed out after {timeout:.0f} s waiting for {what} (last: {str(last)[:300]})")


# ---------------------------------------------------------------------------
# Redis that a proof can stop, pause and bring back on the same port
# ---------------------------------------------------------------------------


@dataclass
class RedisProcess:
    workdir: Path
    password: str | None = None
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> RedisProcess:
        argv = redis_argv(self.port, self.workdir)
        if self.password:
            argv += ["--requirepass", self.password]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_for_port(self.port):
            raise ChaosError(f"redis-server did not start on port {self.port}")
        return self

    def kill(self) -> None:
        """SIGKILL: Redis is gone at once (connections refused); its data is lost (no persistence)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def pause(self) -> None:
        """SIGSTOP: Redis accepts connections but never answers (a hung server)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


# ---------------------------------------------------------------------------
# The database, read directly
# ---------------------------------------------------------------------------


class Db:
    """Direct reads of the server's database (SQLite file or PostgreSQL), from sync or async code."""

    def __init__(self, url: str) -> None:
        self.url = url

    def rows(self, sql: str) -> list[tuple]:
        if self.url.startswith("sqlite"):
            path = self.url.split(":///", 1)[1]
            with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
                return [tuple(r) for r in conn.execute(sql).fetchall()]
        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # its own loop, whoever calls
            return pool.submit(asyncio.run, self._pg_rows(sql)).result()

    async def _pg_rows(self, sql: str) -> list[tuple]:
        import asyncpg

        conn = await asyncpg.connect(self.url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            return [tuple(r) for r in await conn.fetch(sql)]
        finally:
            await conn.close()

    def scalar(self, sql: str) -> Any:
        return self.rows(sql)[0][0]

    # -- the invariants the proofs check ----------------------------------------
    def settlement_statuses(self) -> dict[str, int]:
        return dict(self.rows("SELECT status, COUNT(*) FROM settlements GROUP BY status"))

    def job_statuses(self) -> dict[str, int]:
        return dict(self.rows("SELECT status, COUNT(*) FROM retry_jobs GROUP BY status"))

    def duplicated_settlements(self) -> int:
        """(intent, offer, event) keys with more than one settlement."""
        return self.scalar(
            "SELECT COUNT(*) FROM (SELECT intent_id, offer_id, event_type FROM settlements "
            "GROUP BY intent_id, offer_id, event_type HAVING COUNT(*) > 1) AS d"
        )

    def receipts_with_missing_settlement(self) -> int:
        return self.scalar(
            "SELECT COUNT(*) FROM receipts r LEFT JOIN settlements s ON s.settlement_id = r.settlement_id "
            "WHERE r.settlement_id IS NOT NULL AND s.settlement_id IS NULL"
        )

    def settlements_without_job(self) -> int:
        return self.scalar(
            "SELECT COUNT(*) FROM settlements s LEFT JOIN retry_jobs j ON j.settlement_id = s.settlement_id "
            "WHERE j.settlement_id IS NULL"
        )

    def billable_receipts_without_settlement(self) -> int:
        count = 0
        for settlement_id, outcome in self.rows("SELECT settlement_id, outcome FROM receipts"):
            if outcome and json.loads(outcome).get("billable") and settlement_id is None:
                count += 1
        return count

    def settlement_docs(self) -> dict[str, dict[str, Any]]:
        """Every settlement as the API shows it (the API lists the newest 1,000 only)."""
        return {sid: json.loads(doc) for sid, doc in self.rows("SELECT settlement_id, doc FROM settlements")}

    def receipt_ids(self) -> set[str]:
        return {r[0] for r in self.rows("SELECT receipt_id FROM receipts")}

    def campaigns_over_budget(self) -> list[dict[str, Any]]:
        """Campaigns whose committed spend, or the sum of their live settlements, exceeds the budget."""
        live: dict[str, float] = {}
        for campaign_id, doc in self.rows("SELECT campaign_id, doc FROM settlements"):
            s = json.loads(doc)
            if s["status"] not in ("failed", "disputed") and not s.get("disputeFlag"):
                live[campaign_id] = live.get(campaign_id, 0.0) + float(s["amount"])
        over = []
        for campaign_id, spend, doc in self.rows("SELECT campaign_id, committed_spend, doc FROM campaigns"):
            budget = float(json.loads(doc)["budget"])
            billed = live.get(campaign_id, 0.0)
            if spend > budget + 1e-9 or billed > budget + 1e-9 or abs(billed - spend) > 1e-6:
                over.append(
                    {"campaignId": campaign_id, "budget": budget, "committedSpend": spend, "billed": billed}
                )
        return over


# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------


def database_url_of(server: ServerProcess) -> str:
    return server.env.get("DATABASE_URL") or f"sqlite+aiosqlite:///{server.database_path}"


class SharedPostgres:
    """One PostgreSQL server for several stacks of a script, started on first use (``close()`` stops it)."""

    def __init__(self) -> None:
        self._context: Any = None
        self._server: PostgresServer | None = None

    def __call__(self) -> PostgresServer:
        if self._server is None:
            self._context = postgres_server()
            self._server = self._context.__enter__()
        return self._server

    def close(self) -> None:
        if self._context is not None:
            self._context.__exit__(None, None, None)
            self._context = self._server = None


def cannot_run(exc: BaseException) -> str | None:
    """The one-line reason when ``exc`` means a proof could not run (a missing binary, a process that
    did not start, a wait that timed out), else None (a bug: let it show)."""
    import pytest

    if isinstance(exc, (ChaosError, pytest.skip.Exception, pytest.fail.Exception)):
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return None


START_TIMEOUT_S = 90.0
# Processes started at once by proofs running side by side: each start is seconds of CPU, and
# starting many together on a two-core machine only makes every one of them slow.
BOOTS = threading.BoundedSemaphore(2)


class Stack:
    """Every process of one proof; ``close()`` (or leaving the ``with``) stops them all, newest first."""

    def __init__(
        self, workdir: Path | None = None, postgres: Callable[[], PostgresServer] | None = None
    ) -> None:
        """``postgres``: where to get a running PostgreSQL (pytest's session server); else one is started.
        Without ``workdir`` a temporary one is made, and removed by ``close()``."""
        self._own_workdir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="pa-chaos-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._postgres_source = postgres
        self._postgres: PostgresServer | None = None
        self._exit = contextlib.ExitStack()
        self._servers: list[ServerProcess] = []
        self._commands: list[Command] = []
        self._redises: list[RedisProcess] = []
        self._count = 0

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _dir(self, name: str) -> Path:
        self._count += 1
        return self.workdir / f"{self._count:03d}-{name}"

    # -- backends ------------------------------------------------------------
    @property
    def postgres(self) -> PostgresServer:
        if self._postgres is None:
            if self._postgres_source is not None:
                self._postgres = self._postgres_source()
            else:
                self._postgres = self._exit.enter_context(postgres_server())
        return self._postgres

    def database_url(self, backend: str) -> str:
        """A fresh, empty database: a SQLite file of this stack, or a new PostgreSQL database."""
        if backend == "sqlite":
            return f"sqlite+aiosqlite:///{self._dir('db')}.sqlite3"
        if backend == "postgres":
            return self.postgres.url(self.postgres.create_database())
        raise ValueError(f"backend must be sqlite or postgres, got {backend!r}")

    def redis(self, password: str | None = None) -> RedisProcess:
        if shutil.which("redis-server") is None:
            unavailable("redis-server is not installed")  # skipped (failed in CI), as the other backend tests
        workdir = self._dir("redis")
        workdir.mkdir(parents=True)
        redis = RedisProcess(workdir, password).start()
        self._redises.append(redis)
        return redis

    # -- servers ---------------------------------------------------------------
    def spawn_server(self, database_url: str, **env: str) -> ServerProcess:
        """Launch a server process (``wait_healthy`` waits for it)."""
        server = spawn_server(self._dir("server"), {"DATABASE_URL": database_url, **env})
        self._servers.append(server)
        return server

    def wait_healthy(self, server: ServerProcess) -> ServerProcess:
        """Wait for GET /health (a start takes seconds of CPU; proofs side by side share two cores)."""
        deadline = time.monotonic() + START_TIMEOUT_S
        with httpx.Client(base_url=server.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if server.process.poll() is not None:
                    raise ChaosError(
                        f"a server exited with code {server.process.returncode}:\n{server.output()}"
                    )
                try:
                    if client.get("/health").status_code == 200:
                        return server
                except httpx.HTTPError:
                    pass
                time.sleep(0.05)
        server.stop()
        raise ChaosError(
            f"a server did not answer GET /health within {START_TIMEOUT_S:.0f} s:\n{server.output()}"
        )

    def server(self, database_url: str, **env: str) -> ServerProcess:
        with BOOTS:
            return self.wait_healthy(self.spawn_server(database_url, **env))

    def servers(self, count: int, database_url: str, **env: str) -> list[ServerProcess]:
        """``count`` servers on one database, one after the other (the first migrates and seeds it)."""
        return [self.server(database_url, **env) for _ in range(count)]

    def restart(self, server: ServerProcess) -> ServerProcess:
        """The same server again (same database, environment and port) after it died."""
        env = {**server.env, "PORT": str(server.port)}
        with BOOTS:
            again = spawn_server(server.database_path.parent, env, tag=f"r{time.time_ns()}")
            again.port, again.base_url = server.port, server.base_url  # spawn_server picked a port; ours wins
            self._servers.append(again)
            return self.wait_healthy(again)

    # -- commands: the mock provider and workers ---------------------------------
    def _launch(self, args: list[str], name: str, env: dict[str, str]) -> Command:
        command = launch_command(args, self.workdir / "commands", f"{len(self._commands):03d}-{name}", env)
        self._commands.append(command)
        return command

    def mock_billing(self, **env: str) -> MockBilling:
        with BOOTS:
            return MockBilling(
                wait_ready(self._launch(["mock", "billing", "--port", "0"], "mock-billing", env))
            )

    def launch_worker(self, database_url: str, billing_url: str | None, **env: str) -> Command:
        settings = {
            "DATABASE_URL": database_url,
            "SETTLEMENT_WORKER_METRICS_PORT": "0",
            "SETTLEMENT_WORKER_INTERVAL_MS": "200",
            "SETTLEMENT_WORKER_LEADER_LEASE_MS": "1500",
            **({"BILLING_ADAPTER_URL": billing_url} if billing_url else {}),
            **env,
        }
        return self._launch(["worker"], "worker", settings)

    def worker(self, database_url: str, billing_url: str | None, **env: str) -> Worker:
        with BOOTS:
            return Worker(wait_ready(self.launch_worker(database_url, billing_url, **env)))

    def output(self) -> str:
        """The last lines of every process's output (for a failure message)."""
        parts = [s.output()[-3000:] for s in self._servers] + [c.output()[-3000:] for c in self._commands]
        return "\n".join(parts)

    def close(self) -> None:
        for command in reversed(self._commands):
            if command.alive():
                command.process.send_signal(signal.SIGTERM)
        for command in reversed(self._commands):
            try:
                command.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                command.process.kill()
                command.process.wait(timeout=10)
        for server in reversed(self._servers):
            server.stop()
        for redis in self._redises:
            redis.stop()
        self._exit.close()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)


# ---------------------------------------------------------------------------
# A concurrent client
# ---------------------------------------------------------------------------


@dataclass
class Answer:
    """One request's fate: its HTTP status (0 for no answer), body, and how long it took."""

    status: int
    body: Any
    seconds: float
    error: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


async def send_all(
    client: httpx.AsyncClient, requests: Sequence[tuple[str, str, Any]], concurrency: int
) -> list[Answer]:
    """Send ``(method, url, json)`` requests with at most ``concurrency`` in flight; answers in order."""
    gate = asyncio.Semaphore(concurrency)

    async def one(method: str, url: str, body: Any) -> Answer:
        async with gate:
            return await request(client, method, url, body)

    return await asyncio.gather(*(one(*r) for r in requests))


async def request(client: httpx.AsyncClient, method: str, url: str, body: Any = None) -> Answer:
    started = time.monotonic()
    try:
        response = await client.request(method, url, json=body)
    except httpx.HTTPError as exc:
        return Answer(0, None, time.monotonic() - started, f"{type(exc).__name__}: {exc}")
    try:
        parsed: Any = response.json()
    except ValueError:
        parsed = response.text
    return Answer(response.status_code, parsed, time.monotonic() - started, headers=dict(response.headers))


def run_async(coro: Awaitable[T]) -> T:
    """Run a coroutine from sync code (a proof step), in its own event loop."""
    return asyncio.run(coro)  # type: ignore[arg-type]


class Background:
    """A proof that mostly waits (a retry schedule on the wall clock), run in a thread beside other work.

    ``result()`` waits for it and returns its figures (or raises what it raised).
    """

    def __init__(self, fn: Callable[[], T]) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(1)
        self._future = self._pool.submit(fn)

    def result(self, timeout: float) -> Any:
        try:
            return self._future.result(timeout=timeout)
        finally:
            self._pool.shutdown(wait=False)


def with_output(stack: Stack, prove: Callable[[], T]) -> T:
    """Run a proof; if it fails, the error carries the last output of the stack's processes."""
    try:
        return prove()
    except Exception as exc:
        raise ChaosError(f"{type(exc).__name__}: {exc}\n{stack.output()}") from None


@contextlib.contextmanager
def timed() -> Iterator[dict[str, float]]:
    spent: dict[str, float] = {}
    started = time.monotonic()
    try:
        yield spent
    finally:
        spent["seconds"] = round(time.monotonic() - started, 1)


# ---------------------------------------------------------------------------
# Campaigns and receipts over the API
# ---------------------------------------------------------------------------


def active_campaign(base_url: str, budget: float = 100_000_000, payout: float = 10) -> dict[str, Any]:
    """A new active CPQR campaign (the template's product) with its own budget."""
    from tests.support import campaign_draft, uid

    with httpx.Client(base_url=base_url, timeout=30) as api:
        draft = campaign_draft(externalRef=uid("chaos"), budget=budget, payoutAmount=payout)
        created = api.post("/campaigns", json=draft)
        if created.status_code != 201:
            raise ChaosError(f"POST /campaigns answered {created.status_code}: {created.text[:300]}")
        campaign = created.json()["campaign"]
        activated = api.post(f"/campaigns/{campaign['campaignId']}/activate")
        if activated.status_code != 200:
            raise ChaosError(
                f"activating {campaign['campaignId']} answered {activated.status_code}: {activated.text}"
            )
        return activated.json()["campaign"]


def billable_receipt(campaign: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """A billable (shortlisted, CPQR) receipt for ``campaign``, a fresh intent unless given."""
    from tests.support import receipt

    return receipt(campaignId=campaign["campaignId"], offerId=campaign["offer"]["offerId"], **overrides)


def post_receipts(base_url: str, bodies: Sequence[dict[str, Any]], concurrency: int = 16) -> list[Answer]:
    async def go() -> list[Answer]:
        async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=_limits(concurrency)) as client:
            return await send_all(client, [("POST", "/events/receipts", b) for b in bodies], concurrency)

    answers = run_async(go())
    refused = [a for a in answers if a.status not in (200, 201)]
    if refused:
        raise ChaosError(
            f"{len(refused)} receipts were refused; first: {refused[0].status} {refused[0].body}"
        )
    return answers


def _limits(concurrency: int) -> httpx.Limits:
    return httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)


def settlements(base_url: str) -> dict[str, dict[str, Any]]:
    """Every settlement the API lists, by id."""
    found = httpx.get(f"{base_url}/settlements", timeout=60).raise_for_status().json()
    return {s["settlementId"]: s for s in found}


def summary(mock: MockBilling) -> dict[str, Any]:
    """The mock provider's counters, without its list of requests."""
    return httpx.get(f"{mock.url}/events", params={"summary": "true"}, timeout=30).raise_for_status().json()


def figures_line(name: str, figures: dict[str, Any]) -> str:
    return f"{name}: " + ", ".join(f"{k}={v}" for k, v in figures.items())
