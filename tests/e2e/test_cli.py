"""The server's command line as an operator uses it: db init, and clear start-up failures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.backends import PostgresServer, free_port

REPO_ROOT = Path(__file__).resolve().parents[2]


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "PORT")}
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        cwd=REPO_ROOT,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_db_init_on_postgres_is_safe_to_run_twice(postgres: PostgresServer) -> None:
    url = postgres.url(postgres.create_database())
    first = cli("db", "init", env={"DATABASE_URL": url})
    second = cli("db", "init", env={"DATABASE_URL": url})
    assert first.returncode == 0, first.stderr
    assert "database ready (postgres)" in first.stdout and "campaigns=2" in first.stdout
    assert second.returncode == 0, second.stderr
    assert "campaigns=0" in second.stdout


def test_db_init_on_sqlite(tmp_path: Path) -> None:
    result = cli("db", "init", env={"DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/x.sqlite3"})
    assert result.returncode == 0, result.stderr
    assert "database ready (sqlite)" in result.stdout and (tmp_path / "x.sqlite3").exists()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DATABASE_URL": "postgresql://postgres:postgres@127.0.0.1:{port}/none"}, "cannot be used"),
        ({"REDIS_URL": "redis://127.0.0.1:{port}/0"}, "cannot be reached"),
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL must be sqlite or postgresql"),
        ({"PORT": "many"}, "PORT must be a whole number"),
        ({"CPQR_BILLABLE_EVENT": "viewed"}, "CPQR_BILLABLE_EVENT must be"),
    ],
)
def test_serve_fails_with_one_clear_line(tmp_path: Path, env: dict[str, str], expected: str) -> None:
    port = str(free_port())  # nothing listens there
    env = {k: v.replace("{port}", port) for k, v in env.items()}
    env.setdefault("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path}/x.sqlite3")
    result = cli("serve", env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("promotion-agent: ") and expected in lines[0], (
        result.stderr
    )
    assert "Traceback" not in result.stderr


def _run_dev(service: str, port: int, data_dir: Path) -> tuple[str, subprocess.Popen[str]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "server", "dev", service, "--port", str(port), "--data-dir", str(data_dir)],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    banner = ""
    for _ in range(20):  # the banner comes before the server's own output
        line = proc.stdout.readline()
        banner += line
        if "export " in line:
            break
    return banner, proc


def _stop(proc: subprocess.Popen[str]) -> int:
    import signal

    proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_dev_redis_serves_on_the_printed_url(tmp_path: Path) -> None:
    import redis

    port = free_port()
    banner, proc = _run_dev("redis", port, tmp_path / "redis")
    try:
        url = f"redis://127.0.0.1:{port}/0"
        assert f"export REDIS_URL={url}" in banner
        client = redis.Redis.from_url(url)
        for _ in range(100):
            try:
                assert client.ping()
                break
            except redis.ConnectionError:
                import time

                time.sleep(0.05)
        assert client.set("k", "v") and client.get("k") == b"v"
        client.close()
    finally:
        assert _stop(proc) == 0


def test_dev_postgres_creates_a_cluster_and_serves_the_printed_url() -> None:
    import shutil
    import tempfile

    port = free_port()
    root = Path(tempfile.mkdtemp(prefix="pa-devpg-"))
    root.chmod(0o755)  # reachable by the unprivileged user PostgreSQL runs as
    data_dir = root / "data"
    banner, proc = _run_dev("postgres", port, data_dir)
    try:
        url = f"postgresql://postgres:postgres@127.0.0.1:{port}/postgres"
        assert f"export DATABASE_URL={url}" in banner
        assert (data_dir / "PG_VERSION").exists()
        result = None
        for _ in range(100):
            result = cli("db", "init", env={"DATABASE_URL": url})
            if result.returncode == 0:
                break
            import time

            time.sleep(0.1)
        assert result is not None and result.returncode == 0, result.stderr
        assert "database ready (postgres)" in result.stdout
    finally:
        _stop(proc)
        shutil.rmtree(root, ignore_errors=True)
