"""The settlement state machine, the retry rules and the dead-letter queue (spec §7)."""

from __future__ import annotations

from datetime import timedelta
from itertools import product

import pytest

from server.domain.errors import Conflict, ValidationFailed
from server.domain.models import DeadLetterEntry
from server.domain.settlement import (
    DLQ_REASON_MAX_ATTEMPTS,
    SETTLEMENT_TRANSITIONS,
    GatewayResult,
    apply_attempt_start,
    apply_gateway_result,
    backoff_seconds,
    can_dispute,
    cancel_job,
    is_due,
    open_dead_letter,
    replay,
    resolve,
    simulated_outcome,
    transition,
)

from .factories import SEED_CLOCK, replace, retry_job, settlement

STATUSES = ["pending", "processing", "retry_scheduled", "settled", "disputed", "failed"]
# Written out from the spec, independently of the module's table.
ALLOWED = {
    ("pending", "processing"),
    ("pending", "disputed"),
    ("processing", "settled"),
    ("processing", "retry_scheduled"),
    ("processing", "failed"),
    ("processing", "disputed"),
    ("retry_scheduled", "processing"),
    ("retry_scheduled", "failed"),
    ("retry_scheduled", "disputed"),
}
LATER = SEED_CLOCK + timedelta(minutes=5)

RETRY = GatewayResult(
    ok=False, retryable=True, provider_state="retry", code="RATE_LIMITED", message="Slow down."
)
FAILED = GatewayResult(
    ok=False, retryable=False, provider_state="failed", code="INVALID_PAYLOAD", message="Bad."
)


# ---------------------------------------------------------------------------
# Transitions
# ---------------------------------------------------------------------------


def test_the_table_is_exactly_the_spec():
    table = {(a, b) for a, targets in SETTLEMENT_TRANSITIONS.items() for b in targets}
    assert table == ALLOWED
    assert set(SETTLEMENT_TRANSITIONS) == set(STATUSES)


@pytest.mark.parametrize(("src", "dst"), sorted(ALLOWED))
def test_every_allowed_transition(src, dst):
    s = transition(settlement(status=src), dst, LATER)
    assert s.status == dst and s.updated_at == LATER


@pytest.mark.parametrize(("src", "dst"), sorted(set(product(STATUSES, STATUSES)) - ALLOWED))
def test_every_other_transition_is_refused(src, dst):
    with pytest.raises(Conflict) as err:
        transition(settlement(status=src), dst, LATER)
    assert src in err.value.message and dst in err.value.message
    assert err.value.status_code == 409


def test_terminal_states_have_no_way_out():
    for status in ("settled", "disputed", "failed"):
        assert SETTLEMENT_TRANSITIONS[status] == frozenset()


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("pending", True),
        ("processing", True),
        ("retry_scheduled", True),
        ("settled", False),
        ("disputed", False),
        ("failed", False),
    ],
)
def test_can_dispute(status, expected):
    assert can_dispute(status) is expected


# ---------------------------------------------------------------------------
# Backoff and due jobs
# ---------------------------------------------------------------------------


def test_backoff_schedule():
    assert [backoff_seconds(n) for n in range(1, 9)] == [15, 30, 60, 120, 240, 300, 300, 300]
    assert backoff_seconds(0) == 15  # never less than the base delay


def test_is_due():
    assert is_due(retry_job(status="queued", next_run_at=SEED_CLOCK), SEED_CLOCK)
    assert is_due(
        retry_job(status="retry_scheduled", next_run_at=SEED_CLOCK - timedelta(seconds=1)), SEED_CLOCK
    )
    assert not is_due(
        retry_job(status="retry_scheduled", next_run_at=SEED_CLOCK + timedelta(seconds=1)), SEED_CLOCK
    )
    for status in ("processing", "completed", "failed", "cancelled"):
        assert not is_due(retry_job(status=status), SEED_CLOCK)


# ---------------------------------------------------------------------------
# One attempt
# ---------------------------------------------------------------------------


def test_attempt_start():
    job, s = apply_attempt_start(retry_job(), settlement(), LATER)
    assert (job.status, job.attempts, job.last_attempt_at, job.updated_at) == ("processing", 1, LATER, LATER)
    assert s.status == "processing" and s.updated_at == LATER


def test_attempt_start_from_retry_scheduled():
    job, s = apply_attempt_start(
        retry_job(status="retry_scheduled", attempts=1), settlement(status="retry_scheduled"), LATER
    )
    assert (job.status, job.attempts, s.status) == ("processing", 2, "processing")


def test_attempt_start_after_a_crash_picks_up_a_processing_job():
    job, s = apply_attempt_start(
        retry_job(status="processing", attempts=1), settlement(status="processing"), LATER
    )
    assert (job.status, job.attempts, s.status) == ("processing", 2, "processing")


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled"])
def test_attempt_start_refuses_a_closed_job(status):
    with pytest.raises(Conflict):
        apply_attempt_start(retry_job(status=status), settlement(), LATER)


@pytest.mark.parametrize("status", ["settled", "disputed", "failed"])
def test_attempt_start_refuses_a_terminal_settlement(status):
    with pytest.raises(Conflict):
        apply_attempt_start(retry_job(), settlement(status=status), LATER)


def started(attempts=0):
    return apply_attempt_start(retry_job(attempts=attempts), settlement(), SEED_CLOCK)


def test_ok_settles_and_completes():
    job, s = started()
    job, s, outcome = apply_gateway_result(job, s, simulated_outcome(s), LATER)
    assert outcome == "settled"
    assert job.status == "completed" and job.updated_at == LATER
    assert s.status == "settled"
    assert s.provider_state == "settled" and s.provider_response_code == "OK"
    assert s.provider_settlement_id == "sim_set_0000abcd" and s.provider_reference == "intent_1"
    assert s.last_error is None


def test_accepted_counts_as_ok():
    job, s = started()
    accepted = GatewayResult(ok=True, retryable=False, provider_state="accepted", code="ACCEPTED_NO_BODY")
    job, s, outcome = apply_gateway_result(job, s, accepted, LATER)
    assert outcome == "settled" and s.status == "settled" and s.provider_state == "accepted"


@pytest.mark.parametrize(("attempts_before", "delay"), [(0, 15), (1, 30)])
def test_retryable_failure_is_rescheduled_with_backoff(attempts_before, delay):
    job, s = started(attempts_before)
    job, s, outcome = apply_gateway_result(job, s, RETRY, LATER)
    assert outcome == "rescheduled"
    assert job.status == "retry_scheduled" and s.status == "retry_scheduled"
    assert job.next_run_at == LATER + timedelta(seconds=delay)
    assert job.last_error == s.last_error == "Slow down."
    assert s.provider_state == "retry" and s.provider_response_code == "RATE_LIMITED"


@pytest.mark.parametrize(
    ("attempts_before", "retry_after", "delay"), [(0, 120.0, 120), (0, 5.0, 15), (1, 45.0, 45)]
)
def test_a_retry_after_later_than_the_backoff_is_honoured(attempts_before, retry_after, delay):
    job, s = started(attempts_before)
    limited = GatewayResult(
        ok=False, retryable=True, provider_state="retry", code="429", retry_after_seconds=retry_after
    )
    job, s, outcome = apply_gateway_result(job, s, limited, LATER)
    assert outcome == "rescheduled"
    assert job.next_run_at == LATER + timedelta(seconds=delay)


def test_retryable_failure_on_the_last_attempt_fails():
    job, s = started(2)  # this is attempt 3 of 3
    job, s, outcome = apply_gateway_result(job, s, RETRY, LATER)
    assert outcome == "failed"
    assert job.status == "failed" and s.status == "failed"


def test_non_retryable_failure_fails_at_once():
    job, s = started()
    job, s, outcome = apply_gateway_result(job, s, FAILED, LATER)
    assert outcome == "failed" and job.attempts == 1
    assert s.status == "failed" and s.last_error == "Bad." and s.provider_response_code == "INVALID_PAYLOAD"


def test_a_gateway_that_always_asks_for_retry():
    """Three attempts: rescheduled after 15 s, after 30 s, then failed."""
    job, s = retry_job(), settlement()
    clock, outcomes, delays = SEED_CLOCK, [], []
    for _ in range(3):
        job, s = apply_attempt_start(job, s, clock)
        job, s, outcome = apply_gateway_result(job, s, RETRY, clock)
        outcomes.append(outcome)
        if outcome == "rescheduled":
            delays.append((job.next_run_at - clock).total_seconds())
            clock = job.next_run_at
    assert outcomes == ["rescheduled", "rescheduled", "failed"]
    assert delays == [15, 30]
    assert job.attempts == 3


def test_a_result_for_a_disputed_settlement_is_refused():
    job, s = started()
    disputed = transition(s, "disputed", LATER)
    with pytest.raises(Conflict):
        apply_gateway_result(job, disputed, simulated_outcome(s), LATER)


def test_message_falls_back_to_the_code():
    job, s = started()
    job, s, _ = apply_gateway_result(
        job,
        s,
        GatewayResult(ok=False, retryable=False, provider_state="failed", code="POLICY_BLOCKED"),
        LATER,
    )
    assert s.last_error == "POLICY_BLOCKED"


# ---------------------------------------------------------------------------
# Dead-letter queue
# ---------------------------------------------------------------------------


def dead(clock=SEED_CLOCK, existing=None, job=None):
    s = settlement(status="failed", last_error="Bad.")
    j = job if job is not None else retry_job(status="failed", attempts=3)
    return open_dead_letter(existing, s, j, DLQ_REASON_MAX_ATTEMPTS, "Bad.", "dlq_0000abcd", clock)


def test_open_a_new_dead_letter():
    entry = dead()
    assert entry.dlq_entry_id == "dlq_0000abcd"
    assert entry.settlement_id == "set_0000abcd" and entry.retry_job_id == "retry_0000abcd"
    assert entry.trace_id == "trace_1"
    assert entry.status == "open"
    assert entry.reason == "worker_failed_max_attempts" and entry.last_error == "Bad."
    assert entry.created_at == entry.updated_at == SEED_CLOCK and entry.resolved_at is None
    # snapshots in wire form
    assert entry.payload["settlement"]["settlementId"] == "set_0000abcd"
    assert entry.payload["settlement"]["status"] == "failed"
    assert entry.payload["retryJob"]["attempts"] == 3


def test_a_dead_letter_without_a_job():
    s = settlement(status="failed")
    entry = open_dead_letter(None, s, None, "manual", "x", "dlq_1", SEED_CLOCK)
    assert entry.retry_job_id is None and entry.payload["retryJob"] is None


def test_the_entry_is_reused_and_reopened():
    first = resolve(dead(), "resolved", "Handled.", SEED_CLOCK)
    again = dead(clock=LATER, existing=first)
    assert again.dlq_entry_id == first.dlq_entry_id  # the new id is not used
    assert again.created_at == SEED_CLOCK and again.updated_at == LATER
    assert again.status == "open" and again.resolved_at is None


def test_an_entry_belongs_to_one_settlement():
    other = DeadLetterEntry(
        dlq_entry_id="dlq_x",
        settlement_id="set_other",
        trace_id="t",
        status="open",
        reason="r",
        last_error="e",
        created_at=SEED_CLOCK,
        updated_at=SEED_CLOCK,
    )
    with pytest.raises(ValueError):
        dead(existing=other)


@pytest.mark.parametrize("settlement_status", ["failed", "disputed"])
def test_replay(settlement_status):
    entry = dead()
    s = settlement(status=settlement_status, dispute_flag=settlement_status == "disputed")
    job = retry_job(status="failed", attempts=3, next_run_at=SEED_CLOCK)
    entry, s, job = replay(entry, s, job, "Key rotated.", LATER)
    assert (
        entry.status == "replayed" and entry.resolution_note == "Key rotated." and entry.updated_at == LATER
    )
    assert s.status == "retry_scheduled" and s.dispute_flag is False and s.updated_at == LATER
    assert (job.status, job.attempts, job.next_run_at) == ("queued", 0, LATER)
    # the replayed settlement can be processed again
    job, s = apply_attempt_start(job, s, LATER)
    assert s.status == "processing" and job.attempts == 1


@pytest.mark.parametrize("entry_status", ["replayed", "resolved", "ignored"])
def test_replay_only_from_an_open_entry(entry_status):
    entry = replace(dead(), status=entry_status)
    with pytest.raises(Conflict) as err:
        replay(entry, settlement(status="failed"), retry_job(status="failed"), None, LATER)
    assert entry_status in err.value.message


@pytest.mark.parametrize("settlement_status", ["pending", "processing", "retry_scheduled", "settled"])
def test_replay_only_a_failed_or_disputed_settlement(settlement_status):
    with pytest.raises(Conflict):
        replay(dead(), settlement(status=settlement_status), retry_job(), None, LATER)


@pytest.mark.parametrize("status", ["resolved", "ignored"])
def test_resolve(status):
    entry = resolve(dead(), status, "Refunded by hand.", LATER)
    assert entry.status == status
    assert entry.resolution_note == "Refunded by hand."
    assert entry.resolved_at == LATER == entry.updated_at


def test_resolve_a_replayed_entry():
    entry = replace(dead(), status="replayed")
    assert resolve(entry, "resolved", "Settlement eventually succeeded.", LATER).status == "resolved"


@pytest.mark.parametrize("status", ["open", "replayed", "closed", ""])
def test_resolve_only_to_resolved_or_ignored(status):
    with pytest.raises(ValidationFailed) as err:
        resolve(dead(), status, None, LATER)
    assert err.value.field == "status" and err.value.status_code == 400


def test_resolving_twice_is_a_no_op_and_switching_is_a_conflict():
    entry = resolve(dead(), "resolved", "x", SEED_CLOCK)
    assert resolve(entry, "resolved", "y", LATER) is entry
    with pytest.raises(Conflict):
        resolve(entry, "ignored", None, LATER)


def test_cancel_job():
    job = cancel_job(retry_job(status="retry_scheduled", attempts=1), "Settlement disputed.", LATER)
    assert (job.status, job.last_error, job.updated_at, job.attempts) == (
        "cancelled",
        "Settlement disputed.",
        LATER,
        1,
    )
    assert not is_due(job, LATER)


def test_dispute_sets_the_flag_and_refuses_final_states():
    from server.domain.settlement import dispute

    disputed = dispute(settlement(), SEED_CLOCK)
    assert (disputed.status, disputed.dispute_flag) == ("disputed", True)
    for final in ("settled", "failed", "disputed"):
        with pytest.raises(Conflict, match=final):
            dispute(replace(settlement(), status=final), SEED_CLOCK)
