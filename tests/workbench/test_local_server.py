"""A server the workbench started stops with it, however it exits (#10, defect 8).

Real processes throughout: the launcher (``python -m workbench.app.local_server``), a script that
dies of an exception, and the terminal application itself on a pseudo-terminal. Each starts a
real server on a free port; the test sends the signal, then checks that every process the
workbench started is gone and that the port is free again.
"""

from __future__ import annotations

import os
import pty
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support import SERVER_ENV_VARS, free_port

ROOT = Path(__file__).resolve().parents[2]
BOOT_S = 90.0  # imports and migrations on a loaded 2-core machine
GONE_S = 30.0


def env_for(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in SERVER_ENV_VARS}
    env.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path}/exchange.sqlite3",
        PYTHONUNBUFFERED="1",
        TERM="xterm-256color",
        COLUMNS="120",
        LINES="40",
    )
    return env


def children() -> dict[int, list[int]]:
    """ppid -> pids, from /proc."""
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def descendants(pid: int) -> set[int]:
    tree, out, todo = children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def answers(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait(condition, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}", pytrace=False)
        time.sleep(0.1)


def server_of(pid: int, port: int) -> set[int]:
    """Wait until the server answers on ``port``; the processes under ``pid`` (guard and server)."""
    wait(lambda: answers(port), "the local server to answer", BOOT_S)
    started = descendants(pid)
    assert len(started) >= 2, started  # the guard and the server
    return started


def assert_all_gone(started: set[int], port: int) -> None:
    wait(lambda: not any(alive(p) for p in started), f"the server processes {sorted(started)} to end", GONE_S)
    wait(lambda: port_free(port), f"port {port} to be free", GONE_S)
    assert not answers(port)


@pytest.mark.parametrize("signum", [signal.SIGHUP, signal.SIGTERM, signal.SIGKILL])
def test_the_launcher_takes_its_server_with_it(tmp_path: Path, signum: int) -> None:
    port = free_port()
    launcher = subprocess.Popen(
        [sys.executable, "-m", "workbench.app.local_server", "--api", f"http://127.0.0.1:{port}"],
        cwd=ROOT,
        env=env_for(tmp_path),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        started = server_of(launcher.pid, port)
        launcher.send_signal(signum)
        launcher.wait(timeout=GONE_S)
        assert_all_gone(started, port)
    finally:
        if launcher.poll() is None:
            launcher.kill()


def test_an_exception_in_the_workbench_takes_its_server_with_it(tmp_path: Path) -> None:
    port = free_port()
    script = (
        "import sys, time\n"
        "from workbench.app.local_server import ensure_server\n"
        f"ensure_server('http://127.0.0.1:{port}')\n"
        "sys.stdin.read()  # until the test closes it\n"
        "raise RuntimeError('the workbench crashed')\n"
    )
    crashing = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env_for(tmp_path),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        started = server_of(crashing.pid, port)
        crashing.stdin.close()
        assert crashing.wait(timeout=GONE_S) == 1
        assert b"RuntimeError: the workbench crashed" in crashing.stderr.read()
        assert_all_gone(started, port)
    finally:
        if crashing.poll() is None:
            crashing.kill()


def test_closing_the_terminal_of_the_workbench_stops_its_server(tmp_path: Path) -> None:
    """The terminal application itself, on a pseudo-terminal, gets SIGHUP (what closing the window sends)."""
    port = free_port()
    master, slave = pty.openpty()
    app = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "workbench"),
            "scenarios/baseline.toml",
            "--api",
            f"http://127.0.0.1:{port}",
        ]
        if (ROOT / ".venv" / "bin" / "workbench").exists()
        else [
            sys.executable,
            "-m",
            "workbench.cli",
            "scenarios/baseline.toml",
            "--api",
            f"http://127.0.0.1:{port}",
        ],
        cwd=ROOT,
        env=env_for(tmp_path),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    screen = bytearray()

    def drain() -> None:  # a terminal reads what the application draws; a full pty would block it
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            screen.extend(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        started = server_of(app.pid, port)
        wait(
            lambda: b"ranking lab" in screen.lower() or b"weights" in screen.lower(),
            "the lab on screen",
            BOOT_S,
        )
        app.send_signal(signal.SIGHUP)
        app.wait(timeout=GONE_S)
        assert_all_gone(started, port)
    finally:
        if app.poll() is None:
            app.kill()
        os.close(master)
