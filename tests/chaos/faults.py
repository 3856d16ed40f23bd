"""Proof 4a: every provider fault follows the retry schedule, the DLQ gets exactly the exhausted, replay recovers.

One provider (the mock, one mode per intent) answers each group of settlements
with one fault, on the wall clock, while a worker process settles them:
no answer within the 1 s deadline (``slow``, ``drip``), 429 with
``Retry-After: 20``, 503, a 200 with HTML (``garbage``), a reset connection, a
200 saying ``failed`` with an unknown code (``weird``: failed at once), and a
control group answered ``settled``. The proof records every job's
``nextRunAt`` after each attempt and every submission's arrival at the provider:
retries wait 15 s then 30 s (the 429s at least their ``Retry-After``), the
third attempt opens the dead letter, nothing retryable is settled on the way,
and after the provider is switched back to ``settled`` a replay of each entry
settles it exactly once.

    python -m tests.chaos.faults [--full] [--where sqlite|postgres]
"""

from __future__ import annotations

import sys
import threading
import time
from datetime import datetime
from typing import Any

import httpx

from tests.support import uid

from .harness import (
    Db,
    Stack,
    active_campaign,
    billable_receipt,
    post_receipts,
    summary,
    wait_for,
)

SUITE = {"per_fault": 2}
FULL = {"per_fault": 10}
RETRY_AFTER_S = 20
# fault -> (the code the settlement ends with, whether the gateway retries it)
FAULTS: dict[str, tuple[str, bool]] = {
    "slow": ("NETWORK_ERROR", True),
    "drip": ("NETWORK_ERROR", True),
    "ratelimit": ("RATE_LIMITED", True),
    "retry": ("RETRY", True),
    "garbage": ("INVALID_RESPONSE", True),
    "reset": ("NETWORK_ERROR", True),
    "weird": ("WEIRD", False),
    "settled": ("SETTLED", False),
}
SETTINGS = {"BILLING_ADAPTER_TIMEOUT_MS": "1000"}


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class JobWatch:
    """Polls the retry jobs from a thread and keeps each job's (attempts, lastAttemptAt, nextRunAt) steps."""

    def __init__(self, api: str) -> None:
        self.api = api
        self.steps: dict[
            str, dict[int, tuple[str, str, str]]
        ] = {}  # settlementId -> attempts -> (status, last, next)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> JobWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        with httpx.Client(base_url=self.api, timeout=10) as client:
            while not self._stop.is_set():
                try:
                    jobs = client.get("/settlements/retry-jobs", params={"limit": 100}).json()
                except (httpx.HTTPError, ValueError):
                    jobs = []
                for job in jobs:
                    if job["status"] in ("retry_scheduled", "failed", "completed") and job["lastAttemptAt"]:
                        seen = self.steps.setdefault(job["settlementId"], {})
                        seen.setdefault(
                            job["attempts"], (job["status"], job["lastAttemptAt"], job["nextRunAt"])
                        )
                self._stop.wait(0.3)


def prove(stack: Stack, backend: str, counts: dict[str, int]) -> dict[str, Any]:
    per = counts["per_fault"]
    database_url = stack.database_url(backend)
    db = Db(database_url)
    mock = stack.mock_billing(BILLING_ADAPTER_DRIP_MS="30", BILLING_ADAPTER_RETRY_AFTER_S=str(RETRY_AFTER_S))
    (server,) = stack.servers(1, database_url, BILLING_ADAPTER_URL=mock.settlements_url, **SETTINGS)
    api = server.base_url
    campaign = active_campaign(api)
    intents = {fault: [uid(f"int_{fault}") for _ in range(per)] for fault in FAULTS}
    by_intent = {i: fault for fault, ids in intents.items() for i in ids}
    httpx.post(
        f"{mock.url}/mode", json={"mode": "settled", "byKey": by_intent}, timeout=10
    ).raise_for_status()
    answers = post_receipts(api, [billable_receipt(campaign, intentId=i) for i in by_intent])
    fault_of = {
        a.body["settlement"]["settlementId"]: by_intent[a.body["receipt"]["intentId"]] for a in answers
    }
    exhausted = {sid for sid, fault in fault_of.items() if fault != "settled"}
    started = time.monotonic()

    with JobWatch(api) as watch:
        stack.worker(database_url, mock.settlements_url, **SETTINGS)

        def all_decided() -> bool:
            jobs = db.job_statuses()
            return jobs.get("failed", 0) == len(exhausted) and jobs.get("completed", 0) == per

        wait_for(all_decided, "every fault to exhaust its attempts (15 s, then 30 s)", 180 + 20 * per, 0.5)
        time.sleep(0.6)  # the watch's last look
    schedule_seconds = time.monotonic() - started
    events = mock.events()
    dlq = httpx.get(f"{api}/settlements/dlq", params={"status": "open", "pageSize": 100}, timeout=30).json()
    in_dlq = {e["settlementId"] for e in dlq["items"]}
    before_replay = dict(db.rows("SELECT settlement_id, status FROM settlements"))
    found = {s["settlementId"]: s for s in httpx.get(f"{api}/settlements", timeout=30).json()}

    schedule_errors: list[str] = []
    for sid, fault in fault_of.items():
        schedule_errors += _check_schedule(sid, fault, watch.steps.get(sid, {}), events["events"])
    wrong_codes = sorted(
        {
            (fault_of[s], found[s]["providerResponseCode"])
            for s in fault_of
            if found[s]["providerResponseCode"] != FAULTS[fault_of[s]][0]
        }
    )

    # Replay every dead letter with the provider back to settled; the worker settles each once.
    httpx.post(
        f"{mock.url}/mode", json={"mode": "settled", "byKey": dict.fromkeys(by_intent)}, timeout=10
    ).raise_for_status()
    replayed = 0
    for entry in dlq["items"]:
        answer = httpx.post(
            f"{api}/settlements/dlq/{entry['dlqEntryId']}/replay", json={"note": "provider back"}, timeout=30
        )
        replayed += answer.status_code == 200
    wait_for(
        lambda: db.job_statuses().get("completed", 0) == len(fault_of),
        "the replayed settlements to settle",
        90 + 5 * per,
        0.5,
    )
    after = httpx.get(f"{api}/settlements/dlq", params={"pageSize": 100}, timeout=30).json()["items"]
    final = summary(mock)
    return {
        "backend": backend,
        "faults": ",".join(f for f in FAULTS if f != "settled"),
        "settlements": len(fault_of),
        "submissions": sum(events["submissionsByKey"].values()),
        "scheduleErrors": len(schedule_errors),
        "wrongFinalCodes": len(wrong_codes),
        "exhausted": len(exhausted),
        "inDlq": len(in_dlq),
        "dlqIsExactlyTheExhausted": in_dlq == exhausted,
        "retryableSettledBeforeReplay": sum(1 for s in exhausted if before_replay[s] == "settled"),
        "controlSettledAtOnce": sum(
            1 for s, f in fault_of.items() if f == "settled" and before_replay[s] == "settled"
        ),
        "replayed": replayed,
        "settledAfterReplay": db.settlement_statuses().get("settled", 0),
        "dlqResolved": sum(1 for e in after if e["status"] == "resolved"),
        "settledTwiceAtProvider": sum(1 for v in final["settledByKey"].values() if v > 1),
        "settledAtProvider": len(final["settledByKey"]),
        "overlappingSubmissions": final["overlappingSubmissions"],
        "stillProcessing": db.settlement_statuses().get("processing", 0),
        "scheduleSeconds": round(schedule_seconds, 1),
        "_scheduleErrors": schedule_errors[:10],
        "_wrongCodes": wrong_codes,
    }


def _check_schedule(
    sid: str, fault: str, steps: dict[int, tuple[str, str, str]], events: list[dict]
) -> list[str]:
    """The spec's schedule for one settlement, from its job's steps and its arrivals at the provider."""
    _code, retryable = FAULTS[fault]
    arrivals = [_ts(e["receivedAt"]) for e in events if e["idempotencyKey"] == sid]
    errors: list[str] = []
    expected_attempts = 3 if retryable else 1
    if len(arrivals) != expected_attempts:
        errors.append(f"{fault} {sid}: {len(arrivals)} submissions, expected {expected_attempts}")
    if not retryable:
        return errors
    for attempt, backoff in ((1, 15), (2, 30)):
        step = steps.get(attempt)
        if step is None:
            errors.append(f"{fault} {sid}: attempt {attempt} never seen rescheduled")
            continue
        status, last, nxt = step
        wait = max(backoff, RETRY_AFTER_S) if fault == "ratelimit" else backoff
        delay = (_ts(nxt) - _ts(last)).total_seconds()
        # Due no sooner than the wait after the attempt began (it is counted from the recorded outcome).
        if status != "retry_scheduled" or not wait <= delay <= wait + 5:
            errors.append(
                f"{fault} {sid}: after attempt {attempt} {status} due in {delay:.1f} s, expected {wait} s"
            )
        if (
            len(arrivals) > attempt
            and (arrivals[attempt] - arrivals[attempt - 1]).total_seconds() < wait - 0.5
        ):
            errors.append(
                f"{fault} {sid}: attempt {attempt + 1} came {arrivals[attempt] - arrivals[attempt - 1]} "
                f"after attempt {attempt}, before its {wait} s"
            )
    if steps.get(3, ("?",))[0] != "failed":
        errors.append(f"{fault} {sid}: not failed after its third attempt ({steps.get(3)})")
    return errors


def main(argv: list[str] | None = None) -> int:
    from .run_all import main as run_all

    return run_all(["--only", "provider faults", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
