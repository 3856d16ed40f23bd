"""The mock provider's probabilistic mode: a scenario's ``[billing]`` rates, seeded and reproducible.

``promotion-agent mock billing --mode probabilistic`` (flags, environment, then ``POST /mode``),
submissions through the real HTTP gateway. Each answer is fixed by (seed, key, n-th submission of
the key): the counts are exactly those the seed gives, the same seed gives the same answers after a
reset (in any order), and a key once settled answers settled whatever the next draw.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import httpx
import pytest

from server.mocks.billing_state import unit_draw
from tests.support import REPO_ROOT
from tests.support.worker_fixtures import MockBilling, Processes

from .test_billing_http import a_job, a_settlement, gateway

SEED, RETRYABLE, TERMINAL = 11, 0.3, 0.2


@pytest.fixture(scope="module")
def rates_mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockBilling]:
    group = Processes(tmp_path_factory.mktemp("rates-mock"))
    yield group.mock_billing(
        BILLING_ADAPTER_RETRYABLE_RATE=str(RETRYABLE), BILLING_ADAPTER_MODE="probabilistic"
    )
    group.stop_all()


@pytest.fixture
def mock(rates_mock: MockBilling) -> MockBilling:
    httpx.delete(f"{rates_mock.url}/events", timeout=10).raise_for_status()
    set_mode(rates_mock, mode="probabilistic", seed=SEED, retryableRate=RETRYABLE, terminalRate=TERMINAL)
    return rates_mock


def set_mode(mock: MockBilling, **body) -> httpx.Response:
    return httpx.post(f"{mock.url}/mode", json=body, timeout=10)


def expected(key: str, n: int, seed: int = SEED) -> str:
    u = unit_draw(seed, key, n)
    return "failed" if u < TERMINAL else "retry" if u < TERMINAL + RETRYABLE else "settled"


async def submit_all(mock: MockBilling, keys: list[str]) -> dict[str, str]:
    gw = gateway(mock.settlements_url)
    try:
        return {
            key: (await gw.submit(a_settlement(settlement_id=key), a_job(key))).provider_state for key in keys
        }
    finally:
        await gw.close()


def test_the_start_up_settings_are_the_modes(rates_mock: MockBilling) -> None:
    assert "mode=probabilistic, retryableRate=0.3, terminalRate=0, seed=1" in rates_mock.command.output()


async def test_answers_follow_the_rates_and_the_seed(mock: MockBilling) -> None:
    keys = [f"set_{i:05d}" for i in range(300)]
    got = await submit_all(mock, keys)
    assert got == {key: expected(key, 0) for key in keys}
    counts = {state: list(got.values()).count(state) for state in ("failed", "retry", "settled")}
    assert counts == {"failed": 61, "retry": 95, "settled": 144}  # what seed 11 draws for these keys
    assert mock.events()["answers"] == {"fail": 61, "retry": 95, "settled": 144}

    # The same seed again, the keys in the opposite order: every key gets the same answer.
    httpx.delete(f"{mock.url}/events", timeout=10).raise_for_status()
    assert await submit_all(mock, keys[::-1]) == got


async def test_a_retried_key_draws_again_and_a_settled_key_stays_settled(mock: MockBilling) -> None:
    keys = [f"set_again_{i:03d}" for i in range(60)]
    first = await submit_all(mock, keys)
    second = await submit_all(mock, keys)
    for key in keys:
        if first[key] == "settled":
            assert second[key] == "settled"  # whatever the second draw says
        else:
            assert second[key] == expected(key, 1)
    settled = {k for k in keys if first[k] == "settled"}
    assert set(mock.events()["duplicatesByKey"]) == settled and len(settled) == 30


async def test_another_seed_gives_other_answers(mock: MockBilling) -> None:
    keys = [f"set_seed_{i:03d}" for i in range(100)]
    assert set_mode(mock, seed=12).status_code == 200
    got = await submit_all(mock, keys)
    assert got == {key: expected(key, 0, seed=12) for key in keys}
    assert got != {key: expected(key, 0) for key in keys}


@pytest.mark.parametrize(
    "body",
    [
        {"retryableRate": 1.2},
        {"terminalRate": -0.1},
        {"retryableRate": 0.7, "terminalRate": 0.4},
        {"terminalRate": "half"},
    ],
)
def test_rates_that_cannot_be_probabilities_are_refused(mock: MockBilling, body: dict) -> None:
    response = set_mode(mock, **body)
    assert response.status_code == 400
    assert response.json()["message"].startswith("retryableRate, terminalRate: ")
    assert set_mode(mock).json()["retryableRate"] == RETRYABLE  # unchanged


def test_a_bad_rate_on_the_command_line_is_one_line() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "server",
            "mock",
            "billing",
            "--port",
            "0",
            "--mode",
            "probabilistic",
            "--retryable-rate",
            "0.8",
            "--terminal-rate",
            "0.3",
        ],
        cwd=REPO_ROOT,
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "promotion-agent: --retryable-rate / --terminal-rate (BILLING_ADAPTER_RETRYABLE_RATE, "
        "BILLING_ADAPTER_TERMINAL_RATE): the retryable and terminal rates add up to more than 1 (0.8 + 0.3)"
    ]
