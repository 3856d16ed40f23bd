"""Proof 4 at suite counts: provider faults on the wall-clock schedule, and Redis outages.

The faults proof spends most of its ~50 s waiting out the real backoff (15 s,
then 30 s), so it runs in the background while the Redis outage proof runs in
the foreground (each on its own processes). ``python -m tests.chaos.faults
--full`` and ``python -m tests.chaos.redis_outage --full`` run the full counts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from . import faults, redis_outage
from .harness import Background, Stack


@pytest.fixture(scope="module")
def faults_run(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Background]:
    postgres = lambda: request.getfixturevalue("postgres")  # noqa: E731
    stack = Stack(Path(tmp_path_factory.mktemp("faults")), postgres=postgres)
    run = Background(lambda: faults.prove(stack, "sqlite", faults.SUITE))
    try:
        yield run
    finally:
        try:
            run.result(timeout=300)
        except Exception:  # noqa: BLE001  (reported by the test that reads it)
            pass
        output = stack.output()
        stack.close()
        print(output)


@pytest.mark.timeout(180)
def test_redis_stopped_or_hung_answers_a_clear_503_at_once_and_recovers(stack: Stack, faults_run: Background) -> None:
    # ``faults_run``: the provider-fault proof waits out its backoff in the background meanwhile.
    f = redis_outage.prove(stack, redis_outage.SUITE)
    assert f["answered503"] > 0 and f["unclear503"] == 0, f["_firstUnclear"]
    assert (f["answered500"], f["otherStatuses"], f["clientTimeouts"]) == (0, 0, 0), f
    assert not f["passwordShown"]
    assert f["acknowledgedButNotStored"] == 0
    assert f["resentAccepted"] == f["refusedThenResent"]
    assert f["duplicatedSettlements"] == f["receiptsWithMissingSettlement"] == f["settlementsWithoutRetryJob"] == 0


@pytest.mark.timeout(300)
def test_provider_faults_follow_the_schedule_fill_the_dlq_with_the_exhausted_and_replay_settles(
    faults_run: Background,
) -> None:
    f = faults_run.result(timeout=280)
    assert f["scheduleErrors"] == 0, f["_scheduleErrors"]
    assert f["wrongFinalCodes"] == 0, f["_wrongCodes"]
    assert f["dlqIsExactlyTheExhausted"] and f["inDlq"] == f["exhausted"], f
    assert f["retryableSettledBeforeReplay"] == 0
    assert f["controlSettledAtOnce"] == faults.SUITE["per_fault"]
    assert f["replayed"] == f["exhausted"] and f["dlqResolved"] == f["exhausted"]
    assert f["settledAfterReplay"] == f["settlements"] == f["settledAtProvider"]
    assert f["overlappingSubmissions"] == 0 and f["stillProcessing"] == 0
