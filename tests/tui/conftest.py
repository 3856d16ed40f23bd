"""Fixtures for the terminal application's tests (``App.run_test()`` and ``Pilot``).

Offline apps talk to ``OFFLINE_API`` (nothing listens on port 9): they never start a
server, and the header and panes that depend on it read the same on every machine,
which the snapshots need. Tests with a live server start one with
``tests.support.start_server`` (its own SQLite file under the test's temporary folder).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from tests.support import BillingStub, ServerProcess, ServerStartError, start_server
from workbench.app.application import WorkbenchApp

ROOT = Path(__file__).resolve().parents[2]
BASELINE = ROOT / "scenarios" / "baseline.toml"
OFFLINE_API = "http://127.0.0.1:9"
SIZE = (120, 40)
WAIT_S = 30.0


async def wait_for(pilot: Pilot, condition: Callable[[], object], what: str, timeout: float = WAIT_S) -> None:
    """Let the app run until ``condition()`` is true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}", pytrace=False)
        await pilot.pause(0.05)


def screen_lines(app) -> list[str]:
    """What the terminal shows right now, one string per row (the compositor's own rendering)."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def screen_text(app) -> str:
    return "\n".join(screen_lines(app))


def widget_text(app, widget) -> str:
    """The rendered screen cropped to ``widget``'s content (inside its border and padding; by cells: wide
    characters count twice), its lines joined by spaces so that wrapped text reads on."""
    r = widget.content_region
    strips = app.screen._compositor.render_strips()[r.y : r.bottom]
    return " ".join(" ".join(strip.crop(r.x, r.right).text for strip in strips).split())


def offline_app(scenario: Path = BASELINE) -> WorkbenchApp:
    return WorkbenchApp(api_url=OFFLINE_API, scenario_path=scenario, start_server=False)


def scenario_copy(folder: Path, requests: int | None = None, name: str = "baseline") -> Path:
    """The baseline scenario and its seed data copied into ``folder`` (``scenarios/`` and ``data/``).

    A copy lets a test save files next to it; ``requests`` shrinks the traffic (live replays).
    """
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "scenarios").mkdir(exist_ok=True)
    shutil.copy(ROOT / "data" / "seed.json", folder / "data" / "seed.json")
    text = BASELINE.read_text(encoding="utf-8")
    if requests is not None:
        assert "\nrequests = 1000\n" in text
        text = text.replace("\nrequests = 1000\n", f"\nrequests = {requests}\n")
    path = folder / "scenarios" / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A real server (``python -m server serve``) on embedded SQLite."""
    try:
        process = start_server(tmp_path / "server")
    except ServerStartError as exc:
        pytest.fail(f"could not start the server: {exc}", pytrace=False)
    yield process
    process.stop()


@pytest.fixture
def billing_stub() -> Iterator[BillingStub]:
    stub = BillingStub()
    yield stub
    stub.stop()
