"""Proof 1 at suite counts (``python -m tests.chaos.double_submission --full`` for the full counts).

The proof waits about 15 s on the wall clock for the dripped settlements' retry
to come due, so the SQLite and PostgreSQL runs go side by side (each on its own
processes) and each test reads its run's figures.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends import PostgresServer

from . import double_submission
from .harness import Background, Stack, with_output

BACKENDS = ("sqlite", "postgres")


@pytest.fixture(scope="module")
def runs(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresServer
) -> Iterator[dict[str, Background]]:
    stacks = {
        b: Stack(Path(tmp_path_factory.mktemp(f"double-{b}")), postgres=lambda: postgres) for b in BACKENDS
    }

    def proof(backend: str):
        stack = stacks[backend]
        return lambda: with_output(
            stack, lambda: double_submission.prove(stack, backend, double_submission.SUITE)
        )

    started = {b: Background(proof(b)) for b in BACKENDS}
    try:
        yield started
    finally:
        for backend, run in started.items():
            with contextlib.suppress(BaseException):
                run.result(timeout=300)
            stacks[backend].close()


@pytest.mark.timeout(300)
@pytest.mark.parametrize("backend", BACKENDS)
def test_three_claimants_without_redis_never_submit_a_settlement_twice_at_once(
    runs: dict[str, Background], backend: str
) -> None:
    counts = double_submission.SUITE
    f = runs[backend].result(timeout=280)
    total = counts["settlements"] + counts["drips"]
    assert f["overlappingSubmissions"] == 0, f
    assert f["settlements"] == total
    # Settled exactly once at the provider, and recorded with the provider's one booking.
    assert f["_settledByKey"] == dict.fromkeys(f["_keys"], 1)
    assert (f["settledInDb"], f["wrongProviderId"], f["stillProcessing"]) == (total, 0, 0), f
    # A settlement answered in time was submitted once; a dripped one twice: the attempt cut at its
    # deadline (the provider had booked it) and the retry, which the provider answered as a duplicate.
    once = [k for k, v in f["_submissionsByKey"].items() if v == 1]
    twice = [k for k, v in f["_submissionsByKey"].items() if v == 2]
    assert (len(once), len(twice)) == (counts["settlements"], counts["drips"]), f["_submissionsByKey"]
    assert f["resubmittedAfterSettled"] == counts["drips"]
    assert f["serverErrors"] == 0 and f["workerAlive"]
    # A claimant frozen past its lease: its late answer is discarded and audited, never applied.
    rounds = counts["pauses"]
    assert f["pausedLateAnswersDiscarded"] == f["pausedDiscardsAudited"] == rounds, f
    assert (
        f["pausedSettledOnce"]
        == f["pausedRecordedWithProviderId"]
        == f["pausedBookedOnceAtProvider"]
        == rounds
    )
    assert f["overlappingSubmissionsAfterPauses"] == 0
