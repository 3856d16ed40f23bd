"""Connect to the exchange at ``--api``, or start one on embedded SQLite when nothing answers there.

A server the workbench started is its child: it is stopped when the
workbench exits. A server that was already running is left alone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_API = "http://127.0.0.1:3000"


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
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    started: bool = field(default=False)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def ensure_server(base_url: str = DEFAULT_API, database_url: str | None = None, timeout: float = 30.0) -> LocalServer:
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
    env["DATABASE_URL"] = database_url or env.get("DATABASE_URL") or f"sqlite+aiosqlite:///{data}/promotion-agent.sqlite3"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "server", "serve"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = LocalServer(base_url, process, log_path, started=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
            raise LocalServerError(f"the local server exited at start-up: {tail[0]}")
        if answers(base_url):
            return server
        time.sleep(0.1)
    server.stop()
    raise LocalServerError(f"the local server did not answer at {base_url} within {timeout:.0f} s")
