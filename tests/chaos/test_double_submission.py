"""Proof 1 at suite counts (``python -m tests.chaos.double_submission --full`` for the full counts)."""

from __future__ import annotations

import pytest

from . import double_submission
from .harness import Stack


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_three_claimants_without_redis_never_submit_a_settlement_twice_at_once(stack: Stack, backend: str) -> None:
    counts = double_submission.SUITE
    f = double_submission.prove(stack, backend, counts)
    total = counts["settlements"] + counts["drips"]
    assert f["overlappingSubmissions"] == 0, f
    assert f["settlements"] == total
    # Settled exactly once at the provider, and recorded with the provider's one booking.
    assert f["_settledByKey"] == {key: 1 for key in f["_keys"]}
    assert (f["settledInApi"], f["wrongProviderId"], f["stillProcessing"]) == (total, 0, 0), f
    # A settlement answered in time was submitted once; a dripped one twice: the attempt cut at its
    # deadline (the provider had booked it) and the retry, which the provider answered as a duplicate.
    once = [k for k, v in f["_submissionsByKey"].items() if v == 1]
    twice = [k for k, v in f["_submissionsByKey"].items() if v == 2]
    assert (len(once), len(twice)) == (counts["settlements"], counts["drips"]), f["_submissionsByKey"]
    assert f["resubmittedAfterSettled"] == counts["drips"]
    assert f["serverErrors"] == 0 and f["workerAlive"]
