"""Real PostgreSQL and Redis servers for the tests, started on free loopback ports.

Both are mandatory in CI (``PROMOTION_AGENT_REQUIRE_BACKENDS=1``, set by
``.ci/run``): a missing binary fails the run there. On a developer machine
without them the backend-specific tests are skipped with a message that says
exactly what is missing.

PostgreSQL refuses to run as root, so when the tests run as root the cluster
is created and started as an unprivileged user (``postgres`` when it exists,
else ``nobody``) through ``runuser``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from server.dev import (
    as_user,
    init_postgres,
    pg_bin,
    postgres_argv,
    redis_argv,
    unprivileged_user,
    wait_for_port,
)


def backends_required() -> bool:
    return os.environ.get("PROMOTION_AGENT_REQUIRE_BACKENDS") == "1"


def unavailable(what: str) -> None:
    message = f"{what}; install it to run these tests (CI installs it and requires them)"
    if backends_required():
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    if shutil.which("redis-server") is None:
        unavailable("redis-server is not installed")
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="pa-redis-"))
    proc = subprocess.Popen(redis_argv(port, workdir), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        if not wait_for_port(port):
            raise RuntimeError(f"redis-server did not start on port {port}")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop(proc)
        shutil.rmtree(workdir, ignore_errors=True)


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    proc.send_signal(sig)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------


@dataclass
class PostgresServer:
    port: int
    datadir: str
    user: str | None

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres:postgres@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> None:
        psql = pg_bin("psql") or "psql"
        subprocess.run(
            [
                psql,
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-q",
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "PGPASSWORD": "postgres"},
        )

    def create_database(self) -> str:
        name = "t_" + uuid.uuid4().hex[:12]
        self.psql(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    if pg_bin("initdb") is None or pg_bin("postgres") is None:
        unavailable("PostgreSQL binaries (initdb, postgres) are not installed")
    user = unprivileged_user()
    root = Path(tempfile.mkdtemp(prefix="pa-pg-"))
    root.chmod(0o755)  # the unprivileged user PostgreSQL runs as must reach the data folder
    datadir = root / "data"
    port = free_port()
    try:
        init_postgres(datadir, user)
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"initdb failed: {(exc.stderr or b'').decode(errors='replace')[-2000:]}") from None
    proc = subprocess.Popen(
        postgres_argv(datadir, port, fast=True),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=str(datadir),
        **as_user(user),
    )
    try:
        if not wait_for_port(port, timeout=60):
            proc.kill()
            err = proc.communicate()[1].decode(errors="replace")
            raise RuntimeError(f"PostgreSQL did not start on port {port}: {err[-2000:]}")
        yield PostgresServer(port=port, datadir=str(datadir), user=user)
    finally:
        stop(proc, signal.SIGINT)  # PostgreSQL's fast shutdown
        shutil.rmtree(root, ignore_errors=True)


# ---------------------------------------------------------------------------
# Session fixtures (registered as a pytest plugin by tests/conftest.py)
# ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with redis_server() as url:
        yield url


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with postgres_server() as server:
        yield server


@pytest.fixture
def postgres_url(postgres: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's PostgreSQL server."""
    name = postgres.create_database()
    try:
        yield postgres.url(name)
    finally:
        postgres.drop_database(name)
