"""Fixtures for the end-to-end suite: real server processes and a real billing-provider stub.

Every server is ``python -m server serve`` started as a user starts it (cwd the
repository root, HOST=127.0.0.1, PORT a free port, DATABASE_URL a fresh SQLite
file under the test's temporary directory), ready once GET /health answers, and
stopped with SIGTERM (then SIGKILL) at teardown.

- ``server`` / ``api``: one server per test module (the seed loaded); tests
  sharing it use unique ids.
- ``fresh_server`` / ``fresh_api``: one server per test, for tests that assert
  global counts.
- ``readonly_server`` / ``readonly_api``: one server for the whole session,
  shared by modules that do not change the market (no campaigns, receipts or
  disputes): health, ranking, OpenAPI.
- ``start_server`` (per test) and ``module_server_factory`` (per module):
  factories taking extra environment variables (``BILLING_ADAPTER_URL``,
  ``CPQR_BILLABLE_EVENT``, ...).
- ``billing_stub`` (per test) / ``module_billing_stub`` (per module): an HTTP
  billing provider on 127.0.0.1 that answers what the test says and records
  every request.

A server takes seconds to boot (imports and migrations), so servers with the
default environment are booted ahead of need (``E2E_SPARE_SERVERS``, default
2): a module's server has usually finished booting while the previous module's
tests ran. Each is still a fresh process with its own empty database.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import httpx
import pytest

from tests.support import (
    BillingStub,
    ServerProcess,
    ServerStartError,
    lost_port_race,
    spawn_server,
    wait_until_healthy,
)
from tests.support import (
    start_server as _start_server,
)

StartServer = Callable[..., ServerProcess]


class BackendEnv:
    """The database a test server uses: ``name`` as the runtime profile reports it; calling gives the env."""

    def __init__(self, name: str, make: Callable[[], dict[str, str]]) -> None:
        self.name = name
        self._make = make

    def __call__(self) -> dict[str, str]:
        return self._make()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def backend_env(request: pytest.FixtureRequest) -> BackendEnv:
    """The whole suite runs twice: on embedded SQLite and on a real PostgreSQL (a fresh database per server)."""
    if request.param == "sqlite":
        return BackendEnv("sqlite", lambda: {})
    postgres = request.getfixturevalue("postgres")
    return BackendEnv("postgres", lambda: {"DATABASE_URL": postgres.url(postgres.create_database())})


@pytest.fixture(scope="session")
def persistence(backend_env: BackendEnv) -> str:
    """What ``persistence`` the servers of this run report."""
    return backend_env.name


class ServerPool:
    """Default-environment servers, launched ahead of need and handed out once each."""

    def __init__(self, make_dir: Callable[[], Path], spares: int, backend: BackendEnv) -> None:
        self._make_dir = make_dir
        self._spares_wanted = spares
        self._backend = backend
        self._spares: deque[ServerProcess] = deque()

    def _spawn(self) -> ServerProcess:
        return spawn_server(self._make_dir(), self._backend())

    def _refill(self) -> None:
        while len(self._spares) < self._spares_wanted:
            self._spares.append(self._spawn())

    def take(self) -> ServerProcess:
        server = self._spares.popleft() if self._spares else self._spawn()
        self._refill()
        try:
            return wait_until_healthy(server)
        except ServerStartError as exc:
            if lost_port_race(server):
                return _start_server(self._make_dir(), self._backend())
            raise exc

    def close(self) -> None:
        while self._spares:
            self._spares.popleft().stop()


@pytest.fixture(scope="session")
def server_pool(tmp_path_factory: pytest.TempPathFactory, backend_env: BackendEnv) -> Iterator[ServerPool]:
    spares = int(os.environ.get("E2E_SPARE_SERVERS", "2"))
    pool = ServerPool(lambda: tmp_path_factory.mktemp("server"), spares, backend_env)
    yield pool
    pool.close()


def _take(pool: ServerPool) -> ServerProcess:
    try:
        return pool.take()
    except ServerStartError as exc:
        pytest.fail(f"could not start the server: {exc}", pytrace=False)


def _factory(workdir: Callable[[], Path], backend: BackendEnv) -> tuple[StartServer, list[ServerProcess]]:
    started: list[ServerProcess] = []

    def start(env: Mapping[str, str] | None = None) -> ServerProcess:
        try:
            server = _start_server(workdir(), {**backend(), **(env or {})})
        except ServerStartError as exc:
            pytest.fail(f"could not start the server: {exc}", pytrace=False)
        started.append(server)
        return server

    return start, started


@pytest.fixture(scope="module")
def module_server_factory(
    tmp_path_factory: pytest.TempPathFactory, backend_env: BackendEnv
) -> Iterator[StartServer]:
    start, started = _factory(lambda: tmp_path_factory.mktemp("server-env"), backend_env)
    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture
def start_server(tmp_path: Path, backend_env: BackendEnv) -> Iterator[StartServer]:
    counter = iter(range(1000))
    start, started = _factory(lambda: tmp_path / f"server{next(counter)}", backend_env)
    yield start
    for server in reversed(started):
        server.stop()


@pytest.fixture(scope="session")
def readonly_server(server_pool: ServerPool) -> Iterator[ServerProcess]:
    server = _take(server_pool)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server(server_pool: ServerPool) -> Iterator[ServerProcess]:
    server = _take(server_pool)
    yield server
    server.stop()


@pytest.fixture
def fresh_server(server_pool: ServerPool) -> Iterator[ServerProcess]:
    server = _take(server_pool)
    yield server
    server.stop()


def _client(server: ServerProcess) -> httpx.Client:
    return httpx.Client(base_url=server.base_url, timeout=15.0)


@pytest.fixture(scope="session")
def readonly_api(readonly_server: ServerProcess) -> Iterator[httpx.Client]:
    with _client(readonly_server) as client:
        yield client


@pytest.fixture(scope="module")
def api(server: ServerProcess) -> Iterator[httpx.Client]:
    with _client(server) as client:
        yield client


@pytest.fixture
def fresh_api(fresh_server: ServerProcess) -> Iterator[httpx.Client]:
    with _client(fresh_server) as client:
        yield client


@pytest.fixture
def billing_stub() -> Iterator[BillingStub]:
    stub = BillingStub()
    yield stub
    stub.stop()


@pytest.fixture(scope="module")
def module_billing_stub() -> Iterator[BillingStub]:
    stub = BillingStub()
    yield stub
    stub.stop()
