"""Processes for the worker and mock tests: ``promotion-agent worker`` and ``promotion-agent mock …``.

Each command is started as a user starts it (``python -m server …``) on 127.0.0.1
with port 0; the test reads the address the process announces, so there is no
race for a free port. Output goes to a log file, shown when something fails.
``Processes`` (the ``processes`` fixture) stops everything a test started.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support import REPO_ROOT, SERVER_ENV_VARS

T = TypeVar("T")

# Everything the worker and the mocks read: a developer's shell must not leak into a test.
COMMAND_ENV_VARS = (
    *SERVER_ENV_VARS,
    "SETTLEMENT_WORKER_INTERVAL_MS",
    "SETTLEMENT_WORKER_LEADER_LEASE_MS",
    "SETTLEMENT_WORKER_BATCH_SIZE",
    "SETTLEMENT_WORKER_METRICS_PORT",
    "SETTLEMENT_WORKER_SHUTDOWN_GRACE_MS",
    "ALERT_WEBHOOK_API_KEY",
    "ALERT_SUPPRESSION_SECONDS",
    "ALERT_TIMEOUT_MS",
    "BILLING_ADAPTER_PORT",
    "BILLING_ADAPTER_MODE",
    "BILLING_ADAPTER_DELAY_MS",
    "ALERT_MOCK_PORT",
    "ALERT_MOCK_STATUS",
)
START_TIMEOUT_S = 30.0
URL = re.compile(r"http://127\.0\.0\.1:\d+")


def wait_until(probe: Callable[[], T], what: str, timeout: float = 60.0, every: float = 0.1) -> T:
    """Poll ``probe`` until it returns something truthy; fail naming ``what`` at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f} s waiting for {what} (last: {last!r})", pytrace=False)


@dataclass
class Command:
    """One ``promotion-agent`` process and the base URL it announced."""

    name: str
    process: subprocess.Popen
    log_path: Path
    url: str = ""

    def output(self) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return f"--- {self.name} ---\n{text[-8000:]}"

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        """Send ``sig`` and wait for the exit code (killing it if it does not stop in time)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
                pytest.fail(f"{self.name} did not stop within {timeout:.0f} s of {sig!r}\n{self.output()}")
        return self.process.returncode


def launch_command(args: list[str], workdir: Path, name: str, env: Mapping[str, str]) -> Command:
    """Start ``python -m server ARGS`` (output to ``workdir/NAME.log``) without waiting for it."""
    workdir.mkdir(parents=True, exist_ok=True)
    full_env = {k: v for k, v in os.environ.items() if k not in COMMAND_ENV_VARS}
    full_env.update({"PYTHONUNBUFFERED": "1", **env})
    log_path = workdir / f"{name}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "server", *args],
            cwd=REPO_ROOT,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return Command(name, process, log_path)


def wait_ready(command: Command) -> Command:
    """Wait for the line announcing the command's address (it is serving from then on)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        found = URL.search(command.log_path.read_text(errors="replace"))
        if found:
            command.url = found.group(0)
            return command
        if command.process.poll() is not None:
            pytest.fail(
                f"{command.name} exited with code {command.process.returncode} at start-up\n{command.output()}"
            )
        time.sleep(0.05)
    command.stop(signal.SIGKILL)
    pytest.fail(f"{command.name} announced no address within {START_TIMEOUT_S:.0f} s\n{command.output()}")


def parse_metrics(text: str) -> dict[str, float]:
    """Sample name → value, read with prometheus-client's own parser (label-free samples only)."""
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if not sample.labels
    }


class MockBilling:
    def __init__(self, command: Command) -> None:
        self.command = command
        self.url = command.url
        self.settlements_url = f"{command.url}/settlements"

    def events(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/events", timeout=10).raise_for_status().json()

    def set_mode(self, mode: str, delay_ms: int = 0) -> None:
        httpx.post(
            f"{self.url}/mode", json={"mode": mode, "delayMs": delay_ms}, timeout=10
        ).raise_for_status()

    def reset(self, mode: str = "settled", delay_ms: int = 0) -> None:
        httpx.delete(f"{self.url}/events", timeout=10).raise_for_status()
        self.set_mode(mode, delay_ms)


class MockAlerts:
    def __init__(self, command: Command) -> None:
        self.command = command
        self.url = command.url

    def events(self) -> list[dict[str, Any]]:
        return httpx.get(f"{self.url}/events", timeout=10).raise_for_status().json()["events"]


class Worker:
    def __init__(self, command: Command) -> None:
        self.command = command
        self.url = command.url

    def metrics(self) -> dict[str, float]:
        response = httpx.get(f"{self.url}/metrics", timeout=10).raise_for_status()
        return parse_metrics(response.text)

    def metric(self, name: str) -> float:
        return self.metrics()[f"promotion_agent_worker_{name}"]

    def health(self) -> httpx.Response:
        return httpx.get(f"{self.url}/healthz", timeout=10)


class Processes:
    """Starts the commands of one test and stops them all at its end (newest first)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.started: list[Command] = []
        self._count = 0

    def _launch(self, args: list[str], name: str, env: Mapping[str, str]) -> Command:
        self._count += 1
        command = launch_command(args, self.workdir, f"{self._count:02d}-{name}", env)
        self.started.append(command)
        return command

    def mock_billing(self, **env: str) -> MockBilling:
        return MockBilling(wait_ready(self._launch(["mock", "billing", "--port", "0"], "mock-billing", env)))

    def mock_alerts(self, *args: str, **env: str) -> MockAlerts:
        return MockAlerts(
            wait_ready(self._launch(["mock", "alerts", "--port", "0", *args], "mock-alerts", env))
        )

    def workers(
        self, count: int, database_url: str, billing_url: str | None = None, **env: str
    ) -> list[Worker]:
        """Start ``count`` workers at the same moment, then wait for each to serve its metrics."""
        settings = {
            "DATABASE_URL": database_url,
            "SETTLEMENT_WORKER_METRICS_PORT": "0",
            "SETTLEMENT_WORKER_INTERVAL_MS": "200",
            "SETTLEMENT_WORKER_LEADER_LEASE_MS": "1500",
            **({"BILLING_ADAPTER_URL": billing_url} if billing_url else {}),
            **env,
        }
        launched = [self._launch(["worker"], "worker", settings) for _ in range(count)]
        return [Worker(wait_ready(command)) for command in launched]

    def worker(self, database_url: str, billing_url: str | None = None, **env: str) -> Worker:
        return self.workers(1, database_url, billing_url, **env)[0]

    def output(self) -> str:
        return "\n".join(command.output() for command in self.started)

    def stop_all(self) -> None:
        for command in reversed(self.started):
            if command.alive():
                command.process.send_signal(signal.SIGTERM)
        for command in reversed(self.started):
            try:
                command.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                command.process.kill()
                command.process.wait(timeout=10)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    group = Processes(tmp_path / "processes")
    yield group
    group.stop_all()
    print(group.output())  # captured: pytest shows it only when the test failed
