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
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

PG_BIN_DIRS = ["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/17/bin"]


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


def wait_for_port(port: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


# ---------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server is not installed")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="pa-redis-")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", workdir],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        if not wait_for_port(port):
            raise RuntimeError(f"redis-server did not start on port {port}")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(workdir, ignore_errors=True)


# ---------------------------------------------------------------------------
# PostgreSQL
# ---------------------------------------------------------------------------


def pg_bin(name: str) -> str | None:
    for directory in PG_BIN_DIRS:
        candidate = Path(directory) / name
        if candidate.exists():
            return str(candidate)
    return shutil.which(name)


def unprivileged_user() -> str | None:
    """The user to run PostgreSQL as, or None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root and no unprivileged user (postgres, nobody) exists to run PostgreSQL")


def as_user(user: str | None, argv: list[str]) -> list[str]:
    return argv if user is None else ["runuser", "-u", user, "--", *argv]


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
            [psql, "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database, "-v",
             "ON_ERROR_STOP=1", "-q", "-c", sql],
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


def start_postgres(datadir: str, port: int, user: str | None, log_path: str) -> None:
    """initdb (postgres/postgres, password auth) and start a cluster on 127.0.0.1:port."""
    initdb, pg_ctl = pg_bin("initdb"), pg_bin("pg_ctl")
    if initdb is None or pg_ctl is None:
        raise FileNotFoundError("PostgreSQL binaries (initdb, pg_ctl) are not installed")
    Path(datadir).mkdir(parents=True, exist_ok=True)
    pwfile = Path(datadir).parent / f".pw-{port}"
    pwfile.write_text("postgres\n")
    if user is not None:
        entry = pwd.getpwnam(user)
        for path in (Path(datadir).parent, Path(datadir), pwfile):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    subprocess.run(
        as_user(user, [initdb, "-D", datadir, "-U", "postgres", "--auth=md5", f"--pwfile={pwfile}",
                       "-E", "UTF8", "--no-locale"]),
        check=True,
        capture_output=True,
    )
    pwfile.unlink()
    options = f"-p {port} -c listen_addresses=127.0.0.1 -k {datadir} -c fsync=off -c full_page_writes=off"
    subprocess.run(
        as_user(user, [pg_ctl, "-D", datadir, "-l", log_path, "-o", options, "-w", "-t", "60", "start"]),
        check=True,
        capture_output=True,
    )


def stop_postgres(datadir: str, user: str | None) -> None:
    pg_ctl = pg_bin("pg_ctl")
    if pg_ctl:
        subprocess.run(as_user(user, [pg_ctl, "-D", datadir, "-m", "immediate", "-w", "stop"]), capture_output=True)


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    if pg_bin("initdb") is None or pg_bin("pg_ctl") is None:
        unavailable("PostgreSQL binaries (initdb, pg_ctl) are not installed")
    user = unprivileged_user()
    root = tempfile.mkdtemp(prefix="pa-pg-")
    datadir = os.path.join(root, "data")
    port = free_port()
    try:
        start_postgres(datadir, port, user, os.path.join(root, "server.log"))
    except subprocess.CalledProcessError as exc:
        log = Path(root, "server.log")
        detail = (exc.stderr or b"").decode(errors="replace") + (log.read_text() if log.exists() else "")
        shutil.rmtree(root, ignore_errors=True)
        raise RuntimeError(f"PostgreSQL did not start: {detail.strip()[-2000:]}") from None
    try:
        yield PostgresServer(port=port, datadir=datadir, user=user)
    finally:
        stop_postgres(datadir, user)
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
