"""The settlement worker as a separate process, with the server and the mock adapter, as the README runs them.

Receipts go in through the server's HTTP API; the workers share its SQLite file
(``DATABASE_URL``) and, for the multi-worker tests, a real Redis started here.
Short intervals come from the environment; every wait polls with a deadline.
The mock adapter counts submissions per idempotency key and notices two
submissions of one key in flight at the same time.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.backends import redis_server
from tests.support import ServerProcess, expect, receipt
from tests.support.worker_fixtures import Processes, Worker, wait_until

SECRET = "whsec_e2e_5d1c"


@pytest.fixture
def redis() -> Iterator[str]:
    with redis_server() as url:
        yield url


def database_url(server: ServerProcess) -> str:
    """The server's database (the suite runs once on SQLite and once on PostgreSQL); workers share it."""
    return server.env.get("DATABASE_URL") or f"sqlite+aiosqlite:///{server.database_path}"


def post_receipts(api: httpx.Client, count: int) -> list[str]:
    ids = []
    for _ in range(count):
        body = expect(api.post("/events/receipts", json=receipt()), 201)
        assert body["settlement"]["status"] == "pending"
        ids.append(body["settlement"]["settlementId"])
    return ids


def settlements_by_id(api: httpx.Client) -> dict[str, dict]:
    return {s["settlementId"]: s for s in expect(api.get("/settlements"), 200)}


def all_settled(api: httpx.Client, ids: list[str]) -> Callable[[], bool]:
    def probe() -> bool:
        found = settlements_by_id(api)
        return all(found[i]["status"] == "settled" for i in ids)

    return probe


def metric_reaches(worker: Worker, name: str, value: float) -> Callable[[], bool]:
    return lambda: worker.metric(name) >= value


def test_the_worker_settles_queued_jobs_against_the_mock_adapter(
    start_server: Callable[..., ServerProcess], processes: Processes, persistence: str
) -> None:
    server = start_server()
    api = httpx.Client(base_url=server.base_url, timeout=15)
    ids = post_receipts(api, 3)
    mock = processes.mock_billing(BILLING_ADAPTER_HMAC_SECRET=SECRET, BILLING_ADAPTER_API_KEY="key_e2e")
    worker = processes.worker(
        database_url(server),
        mock.settlements_url,
        BILLING_PROVIDER_PROFILE="ledger_api_v2",
        BILLING_ADAPTER_HMAC_SECRET=SECRET,
        BILLING_ADAPTER_API_KEY="key_e2e",
    )
    wait_until(all_settled(api, ids), "the three queued settlements to settle")
    # It keeps polling: a receipt that arrives later is settled too.
    ids += post_receipts(api, 1)
    wait_until(all_settled(api, ids), "the late settlement to settle")

    found = settlements_by_id(api)
    assert [found[i]["providerSettlementId"] for i in ids] == [f"mock_{i}" for i in ids]
    events = mock.events()
    assert events["submissionsByKey"] == dict.fromkeys(ids, 1) and events["overlappingSubmissions"] == 0
    assert {(e["profile"], e["signature"]) for e in events["events"]} == {("ledger_api_v2", "valid")}

    wait_until(
        lambda worker=worker: worker.metric("retry_jobs_open") == 0, "the open-jobs gauge to drop to 0"
    )
    m = worker.metrics()
    p = "promotion_agent_worker_"
    assert m[p + "jobs_processed_total"] == 4 and m[p + "jobs_settled_total"] == 4
    assert m[p + "jobs_failed_total"] == m[p + "jobs_retried_total"] == m[p + "jobs_skipped_total"] == 0
    assert m[p + "is_leader"] == 1 and m[p + "leadership_acquired_total"] == 1
    assert m[p + "leadership_skipped_total"] == 0 and m[p + "runs_total"] >= 2
    assert m[p + "dlq_open_total"] == 0 and m[p + "last_run_timestamp_seconds"] > 0
    assert m[p + "alerts_sent_total"] == m[p + "alerts_suppressed_total"] == 0
    health = worker.health()
    assert health.status_code == 200
    # Without Redis the lease lives with the database: a file lock beside SQLite, an advisory lock in PostgreSQL.
    lease = {"sqlite": "file", "postgres": "postgres-advisory"}[persistence]
    assert {k: health.json()[k] for k in ("status", "role", "lease", "persistence", "billing")} == {
        "status": "ok",
        "role": "leader",
        "lease": lease,
        "persistence": persistence,
        "billing": "http",
    }

    assert worker.command.stop(signal.SIGINT) == 0
    assert "released the leader lease" in worker.command.output()


def test_failures_go_to_the_dlq_and_alert_once_per_window(
    start_server: Callable[..., ServerProcess], processes: Processes
) -> None:
    server = start_server()
    api = httpx.Client(base_url=server.base_url, timeout=15)
    ids = post_receipts(api, 2)
    mock = processes.mock_billing(BILLING_ADAPTER_MODE="fail")
    alerts = processes.mock_alerts()
    worker = processes.worker(
        database_url(server),
        mock.settlements_url,
        ALERT_WEBHOOK_URL=f"{alerts.url}/ops",
        ALERT_WEBHOOK_API_KEY="alert_key",
        SLACK_WEBHOOK_URL=f"{alerts.url}/slack",
    )
    wait_until(metric_reaches(worker, "alerts_sent_total", 2), "the alert to reach both sinks")
    assert worker.metric("jobs_failed_total") == 2
    wait_until(lambda: worker.metric("dlq_open_total") == 2, "the DLQ gauge to show 2")
    dlq = expect(api.get("/settlements/dlq"), 200)
    assert dlq["total"] == 2 and {e["settlementId"] for e in dlq["items"]} == set(ids)
    assert {e["reason"] for e in dlq["items"]} == {"worker_failed_max_attempts"}

    received = {e["path"]: e for e in alerts.events()}
    assert set(received) == {"/ops", "/slack"}
    hook = received["/ops"]
    assert hook["headers"]["authorization"] == "Bearer alert_key"
    assert {k: hook["body"][k] for k in ("severity", "title", "message")} == {
        "severity": "critical",
        "title": "Settlement worker failure",
        "message": "Failed settlements: 2",
    }
    assert sorted(hook["body"]["settlementIds"]) == sorted(ids)
    assert received["/slack"]["body"]["text"] == "[CRITICAL] Settlement worker failure"
    assert received["/slack"]["body"]["attachments"][0]["color"] == "#B94334"

    post_receipts(api, 1)  # fails the same way within the window: suppressed
    wait_until(metric_reaches(worker, "alerts_suppressed_total", 1), "the repeated alert to be suppressed")
    assert worker.metric("jobs_failed_total") == 3 and worker.metric("alerts_sent_total") == 2
    assert len(alerts.events()) == 2


@pytest.mark.parametrize("lease_store", ["redis", "database"])
def test_two_workers_at_once_one_leader_each_job_once(
    start_server: Callable[..., ServerProcess],
    processes: Processes,
    lease_store: str,
    request: pytest.FixtureRequest,
) -> None:
    server = start_server()
    api = httpx.Client(base_url=server.base_url, timeout=15)
    ids = post_receipts(api, 30)
    mock = processes.mock_billing(BILLING_ADAPTER_DELAY_MS="50")
    shared = {"REDIS_URL": request.getfixturevalue("redis")} if lease_store == "redis" else {}
    workers = processes.workers(
        2,
        database_url(server),
        mock.settlements_url,
        SETTLEMENT_WORKER_LEADER_LEASE_MS="5000",
        SETTLEMENT_WORKER_BATCH_SIZE="5",
        **shared,
    )
    wait_until(all_settled(api, ids), "the 30 settlements to settle")
    for worker in workers:
        wait_until(
            lambda worker=worker: worker.metric("retry_jobs_open") == 0, "both workers' gauges to catch up"
        )
    leader, standby = sorted(workers, key=lambda w: -w.metric("leadership_acquired_total"))
    wait_until(metric_reaches(standby, "leadership_skipped_total", 3), "the standby to keep standing by")

    assert (leader.metric("leadership_acquired_total"), standby.metric("leadership_acquired_total")) == (1, 0)
    assert (leader.metric("is_leader"), standby.metric("is_leader")) == (1, 0)
    assert (leader.metric("jobs_processed_total"), standby.metric("jobs_processed_total")) == (30, 0)
    assert leader.metric("runs_total") >= 6  # batches of 5
    assert standby.health().json()["role"] == "standby" and standby.health().status_code == 200
    events = mock.events()
    assert events["submissionsByKey"] == dict.fromkeys(ids, 1)
    assert events["overlappingSubmissions"] == 0


def test_sigkill_of_the_leader_mid_batch_the_standby_takes_over(
    start_server: Callable[..., ServerProcess], processes: Processes, redis: str
) -> None:
    server = start_server()
    api = httpx.Client(base_url=server.base_url, timeout=15)
    ids = post_receipts(api, 12)
    mock = processes.mock_billing(BILLING_ADAPTER_DELAY_MS="300")
    db = database_url(server)
    first = processes.worker(db, mock.settlements_url, REDIS_URL=redis)
    wait_until(lambda: first.metric("is_leader") == 1, "the first worker to lead")
    second = processes.worker(db, mock.settlements_url, REDIS_URL=redis)
    wait_until(metric_reaches(second, "leadership_skipped_total", 1), "the second worker to stand by")
    wait_until(lambda: len(mock.events()["events"]) >= 2, "the leader to be in the middle of its batch")

    assert first.command.stop(signal.SIGKILL) == -signal.SIGKILL
    wait_until(lambda: second.metric("is_leader") == 1, "the standby to take the lease once it runs out")
    wait_until(all_settled(api, ids), "every settlement to settle", timeout=90)

    assert second.metric("leadership_acquired_total") == 1
    events = mock.events()
    assert events["settledByKey"] == dict.fromkeys(ids, 1)  # each settled exactly once at the adapter
    submissions = events["submissionsByKey"]
    assert set(submissions) == set(ids) and events["overlappingSubmissions"] == 0
    # Only the job in flight when the leader died can have been sent twice (after its claim expired).
    assert sorted(submissions.values())[:-1] == [1] * (len(ids) - 1) and max(submissions.values()) <= 2
    found = settlements_by_id(api)
    assert {found[i]["providerSettlementId"] for i in ids} == {f"mock_{i}" for i in ids}


def test_sigterm_finishes_the_job_in_hand_releases_the_lease_and_exits_0(
    start_server: Callable[..., ServerProcess], processes: Processes, redis: str
) -> None:
    server = start_server()
    api = httpx.Client(base_url=server.base_url, timeout=15)
    # Enough jobs (1.5 s each) that the leader is still in its batch once the standby has started.
    ids = post_receipts(api, 8)
    mock = processes.mock_billing(BILLING_ADAPTER_DELAY_MS="1500")
    db = database_url(server)
    first = processes.worker(
        db, mock.settlements_url, REDIS_URL=redis, SETTLEMENT_WORKER_LEADER_LEASE_MS="60000"
    )
    wait_until(lambda: first.metric("is_leader") == 1, "the first worker to lead")
    second = processes.worker(
        db, mock.settlements_url, REDIS_URL=redis, SETTLEMENT_WORKER_LEADER_LEASE_MS="60000"
    )
    wait_until(lambda: len(mock.events()["events"]) >= 1, "the leader to be inside a billing call")

    assert first.command.stop(signal.SIGTERM) == 0
    log = first.command.output()
    assert "finishing the job in hand" in log and "released the leader lease" in log
    # With a 60 s lease, only the release lets the standby lead before the test's deadline.
    wait_until(lambda: second.metric("is_leader") == 1, "the standby to take the released lease", timeout=30)
    wait_until(all_settled(api, ids), "the remaining settlements to settle")
    assert mock.events()["submissionsByKey"] == dict.fromkeys(
        ids, 1
    )  # the job in hand was finished, not redone
