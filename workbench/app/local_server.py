"""Connect to the exchange at ``--api``, or start one on embedded SQLite when nothing answers there.

A server the workbench started stops with it, however the workbench ends: it
runs under ``workbench.app.server_guard``, which stops it as soon as the pipe from
this process closes (a normal quit closes it in ``LocalServer.stop``; an
exception, SIGTERM, SIGHUP or even SIGKILL close it with the process). A server
that was already running is left alone.

``python -m workbench.app.local_server [--api URL]`` is the same launcher without
the terminal application: it starts (or finds) the server, prints its URL and
waits until it is stopped.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_API = "http://127.0.0.1:3000"
STOP_WAIT_S = 15.0  # the guard gives the server 10 s to stop before SIGKILL


class LocalServerError(RuntimeError):
    pass


def answers(base_url: str, timeout: float = 0.5) -> bool:
    try:
        return httpx.get(base_url.rstrip("/") + "/health", timeout=timeout).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class LocalServer:
    base_url: str
    process: subprocess.Popen | None = None  # the guard (``server_guard``), whose child is the server
    log_path: Path | None = None
    started: bool = field(default=False)

    def release(self) -> None:
        """Close our end of the guard's pipe: the guard stops the server (without waiting for it here)."""
        if self.process is not None and self.process.stdin is not None and not self.process.stdin.closed:
            with contextlib.suppress(OSError):
                self.process.stdin.close()

    def stop(self, timeout: float = STOP_WAIT_S) -> None:
        """Stop the server and wait until it (and so its port) is gone."""
        if self.process is None:
            return
        self.release()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:  # a stuck guard: end it and the server's group ourselves
            self.process.kill()
            self.process.wait()


def launch_guarded(command: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen:
    """Start ``command`` under ``workbench.app.server_guard`` (output to ``log_path``): it stops when this
    process ends, however it ends, or when ``LocalServer.stop`` closes the guard's pipe."""
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "workbench.app.server_guard", "--", *command],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.PIPE,  # the guard's lifeline: it closes when this process ends, however it ends
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a terminal's SIGINT / SIGHUP reaches the guard only through the pipe
        )


def _last_line(log_path: Path) -> str:
    return (log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"])[0]


def _wait(server: LocalServer, ready: Callable[[], bool], what: str, timeout: float) -> LocalServer:
    assert server.process is not None and server.log_path is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise LocalServerError(f"{what} exited at start-up: {_last_line(server.log_path)}")
        if ready():
            return server
        time.sleep(0.1)
    server.stop()
    raise LocalServerError(f"{what} did not answer within {timeout:.0f} s (see {server.log_path})")


def ensure_server(
    base_url: str = DEFAULT_API, database_url: str | None = None, timeout: float = 60.0
) -> LocalServer:
    """Return a handle on a server that answers ``/health`` at ``base_url``, starting one if needed."""
    if answers(base_url):
        return LocalServer(base_url)
    parts = urlsplit(base_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    if host not in ("127.0.0.1", "localhost"):
        raise LocalServerError(f"nothing answers at {base_url}, and only a local server can be started")
    data = PROJECT_ROOT / ".data"
    data.mkdir(exist_ok=True)
    log_path = data / "workbench-server.log"
    env = {**os.environ, "HOST": "127.0.0.1", "PORT": str(port)}
    env["DATABASE_URL"] = (
        database_url or env.get("DATABASE_URL") or f"sqlite+aiosqlite:///{data}/promotion-agent.sqlite3"
    )
    process = launch_guarded([sys.executable, "-m", "server", "serve"], env, log_path)
    server = LocalServer(base_url, process, log_path, started=True)
    return _wait(
        server, lambda base_url=base_url: answers(base_url), f"the local server at {base_url}", timeout
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_private_server(
    env: dict[str, str], log_path: Path, timeout: float = 60.0, attempts: int = 3
) -> LocalServer:
    """``promotion-agent serve`` on 127.0.0.1 and a free port with ``env`` (its own database), guarded.

    The port is picked free, then bound by the server: a port taken in between is tried again."""
    for attempt in range(attempts):
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        process = launch_guarded(
            [sys.executable, "-m", "server", "serve"],
            {**env, "HOST": "127.0.0.1", "PORT": str(port)},
            log_path,
        )
        server = LocalServer(base_url, process, log_path, started=True)
        try:
            return _wait(
                server,
                lambda base_url=base_url: answers(base_url),
                f"the private server at {base_url}",
                timeout,
            )
        except LocalServerError:
            server.stop()
            lost_race = "address already in use" in log_path.read_text(errors="replace").lower()
            if not lost_race or attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


_ANNOUNCED = re.compile(r"http://127\.0\.0\.1:\d+")


def start_announcing(
    command: list[str], env: dict[str, str], log_path: Path, what: str, timeout: float = 60.0
) -> LocalServer:
    """Start a guarded command that listens on a port of its choosing (``--port 0``) and names its address in
    its log (the mock billing provider, the settlement worker's metrics); ``base_url`` is that address."""
    log_path.write_bytes(b"")
    server = LocalServer("", launch_guarded(command, env, log_path), log_path, started=True)

    def announced() -> bool:
        found = _ANNOUNCED.search(log_path.read_text(errors="replace"))
        if found:
            server.base_url = found.group(0)
        return found is not None

    return _wait(server, announced, what, timeout)


def main(argv: list[str] | None = None) -> int:
    """Start (or find) the server and wait; it stops when this process ends (SIGTERM, SIGHUP, ctrl+c)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m workbench.app.local_server")
    parser.add_argument("--api", default=DEFAULT_API)
    args = parser.parse_args(argv)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: sys.exit(0))  # run the finally below (the pipe would do it anyway)
    try:
        server = ensure_server(args.api)
    except LocalServerError as exc:
        print(f"workbench: {exc}", file=sys.stderr)
        return 1
    print(f"{'started' if server.started else 'found'} {server.base_url}", flush=True)
    try:
        while server.process is None or server.process.poll() is None:
            time.sleep(0.5)
        return 1  # the server ended by itself
    except KeyboardInterrupt:
        return 130
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
