"""Fixtures for the operator pages' tests: a real server process and Debian's chromium, headless.

The browser is ``/usr/bin/chromium`` (the ``chromium`` package: ``.ci/run`` installs it when it is missing)
driven by Playwright's Python package; Playwright never downloads a browser of its own here. One browser
per test module, and a fresh context (its own cookies and sessionStorage) per test.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support import BillingStub, ServerProcess, ServerStartError, start_server

CHROMIUM = Path("/usr/bin/chromium")
# Playwright's own waits (for an element, a text, a navigation): the pages answer in milliseconds,
# the margin is for a machine busy with other tests.
WAIT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium)", pytrace=False
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(WAIT_MS)
    expect.set_options(timeout=WAIT_MS)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, f"the page's scripts failed: {errors}"


def serve(folder: Path, env: Mapping[str, str] | None = None) -> ServerProcess:
    """``python -m server serve`` on 127.0.0.1 and a free port, its SQLite file in ``folder``."""
    try:
        return start_server(folder, env)
    except ServerStartError as exc:
        pytest.fail(f"could not start the server: {exc}", pytrace=False)


@pytest.fixture(scope="module")
def failing_billing() -> Iterator[BillingStub]:
    """A billing provider that refuses every settlement: each one processed lands in the DLQ."""
    stub = BillingStub()
    stub.respond(200, {"status": "failed", "code": "FAILED", "message": "Account closed."})
    yield stub
    stub.stop()


def status_text(page: Page) -> str:
    return page.get_by_role("status").inner_text()


def number(text: str) -> float:
    """A figure as the pages write it ("1,234.5", "+25") → 1234.5, 25.0."""
    return float(re.sub(r"[,+\s]", "", text))
