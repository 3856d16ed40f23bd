"""The mock provider's fault modes, read by the real HTTP gateway (the README's "Billing provider answers").

One ``promotion-agent mock billing`` process for the module; each test sets a
mode (``POST /mode``) and submits through ``HttpGateway`` with a 1 s deadline.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.worker_fixtures import MockBilling, Processes

from .test_billing_http import a_job, a_settlement, expect, gateway


@pytest.fixture(scope="module")
def fault_mock(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockBilling]:
    group = Processes(tmp_path_factory.mktemp("fault-mock"))
    yield group.mock_billing(BILLING_ADAPTER_DRIP_MS="20", BILLING_ADAPTER_RETRY_AFTER_S="20")
    group.stop_all()


@pytest.fixture
def mock(fault_mock: MockBilling) -> MockBilling:
    fault_mock.reset()
    return fault_mock


def set_mode(mock: MockBilling, **body) -> dict:
    return httpx.post(f"{mock.url}/mode", json=body, timeout=10).raise_for_status().json()


async def submit(mock: MockBilling, settlement_id: str = "set_1a2b3c4d", timeout_ms: int = 1000):
    gw = gateway(mock.settlements_url, timeout_ms=timeout_ms)
    try:
        return await gw.submit(a_settlement(settlement_id=settlement_id), a_job(settlement_id))
    finally:
        await gw.close()


@pytest.mark.parametrize(
    ("mode", "state", "code"),
    [
        ("slow", "retry", "NETWORK_ERROR"),  # 3 s > the 1 s deadline
        ("drip", "retry", "NETWORK_ERROR"),  # a valid answer, one byte every 20 ms: past the deadline
        ("garbage", "retry", "INVALID_RESPONSE"),  # 200 with HTML: never settled
        ("weird", "failed", "WEIRD"),  # 200 {"status": "failed", "code": "WEIRD"}: the status decides
        ("ratelimit", "retry", "RATE_LIMITED"),
        ("reset", "retry", "NETWORK_ERROR"),
        ("retry", "retry", "RETRY"),
        ("fail", "failed", "FAILED"),
    ],
)
async def test_each_fault_mode_reads_as_the_table_says(
    mock: MockBilling, mode: str, state: str, code: str
) -> None:
    set_mode(mock, mode=mode)
    key = f"set_{mode}"  # its own key: a slow answer the client gave up on is still in flight at the provider
    started = time.monotonic()
    result = await submit(mock, key)
    expect(result, state, code)
    assert time.monotonic() - started < 2.5  # the total deadline held (1 s, and the client's own time)
    if mode == "ratelimit":
        assert result.retry_after_seconds == 20
    summary = mock.events()
    assert summary["submissionsByKey"] == {key: 1} and summary["overlappingSubmissions"] == 0


async def test_a_dripped_answer_is_booked_so_the_retry_is_a_duplicate(mock: MockBilling) -> None:
    set_mode(mock, mode="drip")
    expect(await submit(mock, "set_drip0001"), "retry", "NETWORK_ERROR")
    set_mode(mock, mode="settled")
    again = await submit(mock, "set_drip0001")
    expect(again, "settled", "SETTLED")
    assert again.provider_settlement_id == "mock_set_drip0001"
    events = mock.events()
    # Only this key: the mock is shared, and an earlier test's slow submission may still land after the reset.
    assert events["settledByKey"].get("set_drip0001") == 1
    assert events["duplicatesByKey"].get("set_drip0001") == 1
    assert events["overlappingSubmissions"] == 0  # the hung-up drip stopped when the client went


async def test_modes_per_key_or_intent_and_a_seeded_flaky_mix(mock: MockBilling) -> None:
    set_mode(mock, mode="settled", byKey={"set_garbage1": "garbage", "int_http_1": "weird"})
    expect(await submit(mock, "set_garbage1"), "retry", "INVALID_RESPONSE")  # its key's own mode
    expect(await submit(mock, "set_other01"), "failed", "WEIRD")  # a_settlement's intent is int_http_1
    set_mode(mock, mode="flaky", seed=42, byKey={"set_garbage1": None, "int_http_1": None})
    first = [(await submit(mock, f"set_f{i:07d}")).code for i in range(12)]
    mock.reset()
    set_mode(mock, mode="flaky", seed=42)
    again = [(await submit(mock, f"set_f{i:07d}")).code for i in range(12)]
    assert first == again and len(set(first)) > 1
    assert set(first) <= {"SETTLED", "RETRY", "INVALID_RESPONSE", "RATE_LIMITED", "NETWORK_ERROR"}


def test_a_bad_mode_is_refused_with_a_message(mock: MockBilling) -> None:
    answer = httpx.post(f"{mock.url}/mode", json={"mode": "sideways"}, timeout=10)
    assert answer.status_code == 400 and "must be one of settled, fail, retry" in answer.json()["message"]
    answer = httpx.post(f"{mock.url}/mode", json={"byKey": {"set_x": "sideways"}, "dripMs": -1}, timeout=10)
    assert answer.status_code == 400
