"""``promotion-agent dev redis|postgres``: any signal that stops the wrapper stops its server, and a second
server on the same data folder is refused."""

from __future__ import annotations

import re
import shutil
import signal
import tempfile
from pathlib import Path

from server.dev import pg_bin, wait_for_port
from tests.backends import free_port, unavailable
from tests.support.worker_fixtures import Processes, wait_until


def gone(pid: int) -> bool:
    """The process has ended (or is a zombie waiting to be reaped by init)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return re.search(r"^State:\s+Z", status, re.M) is not None


def start(processes: Processes, service: str, data_dir: Path, port: int):
    command = processes._launch(
        ["dev", service, "--port", str(port), "--data-dir", str(data_dir)], service, {}
    )
    found = wait_until(
        lambda: re.search(r"server pid (\d+)", command.output()) or command.process.poll() is not None,
        f"{service} to start",
        timeout=90,
    )
    assert command.process.poll() is None, command.output()
    assert wait_for_port(port, timeout=60), command.output()
    return command, int(found.group(1))


def test_sigterm_to_dev_redis_stops_redis_too(processes: Processes, tmp_path: Path) -> None:
    command, pid = start(processes, "redis", tmp_path / "redis", free_port())
    command.process.send_signal(signal.SIGTERM)
    assert command.process.wait(timeout=30) == 0
    wait_until(lambda: gone(pid), "redis-server to stop", timeout=30)


def test_a_second_server_on_the_same_data_folder_is_refused(processes: Processes, tmp_path: Path) -> None:
    first, pid = start(processes, "redis", tmp_path / "redis", free_port())
    second = processes._launch(
        ["dev", "redis", "--port", str(free_port()), "--data-dir", str(tmp_path / "redis")], "second", {}
    )
    assert second.process.wait(timeout=60) == 1
    assert f"a Redis server already runs on the data folder {tmp_path / 'redis'}" in second.output()
    assert not gone(pid) and first.process.poll() is None


def test_sigkill_of_the_wrapper_still_stops_postgres(processes: Processes, tmp_path: Path) -> None:
    if pg_bin("initdb") is None:
        unavailable("PostgreSQL binaries (initdb, postgres) are not installed")
    # Under /tmp as in tests/backends.py: as root, PostgreSQL runs as a user who cannot enter pytest's folders.
    root = Path(tempfile.mkdtemp(prefix="pa-dev-pg-"))
    root.chmod(0o755)
    try:
        command, pid = start(processes, "postgres", root / "pg", free_port())
        command.process.send_signal(signal.SIGKILL)
        command.process.wait(timeout=30)
        wait_until(lambda: gone(pid), "PostgreSQL to stop after its wrapper was killed", timeout=60)
    finally:
        shutil.rmtree(root, ignore_errors=True)
