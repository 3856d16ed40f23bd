"""Proof 4 at suite counts: Redis outages, and provider faults on the wall-clock retry schedule.

``python -m tests.chaos.redis_outage --full`` and ``python -m tests.chaos.faults
--full`` run the full counts. The faults proof runs in the background from the
start of the chaos suite (see ``conftest.py``): its figures are read here.
"""

from __future__ import annotations

import pytest

from . import faults, redis_outage
from .harness import Background, Stack


@pytest.mark.timeout(180)
def test_redis_stopped_or_hung_answers_a_clear_503_at_once_and_recovers(stack: Stack) -> None:
    f = redis_outage.prove(stack, redis_outage.SUITE)
    assert f["answered503"] > 0 and f["unclear503"] == 0, f["_firstUnclear"]
    assert (f["answered500"], f["otherStatuses"], f["clientTimeouts"]) == (0, 0, 0), f
    assert not f["passwordShown"]
    assert f["acknowledgedButNotStored"] == 0
    assert f["resentAccepted"] == f["refusedThenResent"]
    assert (
        f["duplicatedSettlements"]
        == f["receiptsWithMissingSettlement"]
        == f["settlementsWithoutRetryJob"]
        == 0
    )


@pytest.mark.timeout(300)
def test_provider_faults_follow_the_schedule_fill_the_dlq_with_the_exhausted_and_replay_settles(
    faults_in_background: Background,
) -> None:
    f = faults_in_background.result(timeout=280)
    assert f["scheduleErrors"] == 0, f["_scheduleErrors"]
    assert f["wrongFinalCodes"] == 0, f["_wrongCodes"]
    assert f["dlqIsExactlyTheExhausted"] and f["inDlq"] == f["exhausted"], f
    assert f["retryableSettledBeforeReplay"] == 0
    assert f["controlSettledAtOnce"] == faults.SUITE["per_fault"]
    assert f["replayed"] == f["exhausted"] and f["dlqResolved"] == f["exhausted"]
    assert f["settledAfterReplay"] == f["settlements"] == f["settledAtProvider"]
    assert f["overlappingSubmissions"] == 0 and f["stillProcessing"] == 0
