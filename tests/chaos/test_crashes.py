"""Proof 3 at suite counts (``python -m tests.chaos.crashes --full`` for 100 worker and 20 server kills).

Every kill costs a process start (seconds of CPU on a small machine), so the
suite kills workers on PostgreSQL and servers on SQLite; the full script runs
both proofs on both backends.
"""

from __future__ import annotations

import pytest

from . import crashes
from .harness import Stack


@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", ["postgres"])
def test_sigkilled_workers_lose_nothing_settle_nothing_twice_and_leave_nothing_processing(
    stack: Stack, backend: str
) -> None:
    f = crashes.prove_worker_kills(stack, backend, crashes.SUITE["worker_kills"])
    assert f["crashesInjected"] == crashes.SUITE["worker_kills"]
    assert f["stuckProcessing"] == 0, f
    assert f["notSettledOrDlq"] == 0 and f["settlementsLost"] == 0, f
    assert f["settlements"] == f["settlementsIssued"]
    assert f["settledTwiceAtProvider"] == 0 and f["overlappingSubmissions"] == 0
    assert f["wrongProviderId"] == 0
    # Only a job in hand at a kill is ever submitted again (after its claim expired).
    assert f["resubmissions"] <= f["leadersKilled"], f
    assert f["dashboardMatchesDb"], f


@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_sigkilled_server_keeps_every_acknowledged_receipt_with_its_settlement(
    stack: Stack, backend: str
) -> None:
    f = crashes.prove_server_kills(stack, backend, crashes.SUITE["server_kills"])
    assert f["serverErrors"] == 0, f
    assert f["acknowledgedButNotStored"] == 0, f
    assert f["receiptsWithMissingSettlement"] == f["settlementsWithoutRetryJob"] == 0, f
    assert f["billableReceiptsWithoutSettlement"] == 0 and f["duplicatedSettlements"] == 0
    assert f["resentAnswered201"] + f["resentAnswered200"] == f["notAnswered"]
    assert f["sentButNotStored"] == 0
