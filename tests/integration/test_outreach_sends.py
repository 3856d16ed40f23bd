"""Sending outreach through the services over real databases: concurrent sends of one target from two
server instances (two stores, two connection pools) on SQLite and on PostgreSQL deliver exactly one
message; the outcome and every status change are stored; real_test without SMTP sends nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest

from server.app import build_services
from server.domain.errors import Conflict, ServiceUnavailable
from server.domain.outreach import OutreachDraft, claimed
from server.services import outreach
from server.services.context import Services
from server.settings import OutreachSettings, Settings
from tests.support.smtp import SmtpServer

DRAFT = OutreachDraft(
    channel="email",
    contact_point="bizdev@procurepilot.ai",
    subject_line="Partnering with {{providerOrg}}",
    message_template="Dear {{providerOrg}},\n\n{{productName}} would like to be on your shortlists.",
    campaign_id="cmp_hubflow",
)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/outreach.sqlite3"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
async def two_servers(database_url: str, smtp: SmtpServer) -> AsyncIterator[tuple[Services, Services]]:
    settings = Settings(database_url=database_url, outreach=OutreachSettings.from_env(smtp.env()))
    first = await build_services(settings)
    second = await build_services(settings, load_seed=False)
    try:
        yield first, second
    finally:
        await second.close()
        await first.close()


async def test_concurrent_sends_of_one_target_deliver_one_message(
    two_servers: tuple[Services, Services], smtp: SmtpServer
) -> None:
    first, second = two_servers
    target = await outreach.create_target(first, "lead_crm_eu", DRAFT)
    smtp.answer(delay_s=0.3)  # the winner's SMTP exchange is still going while the others try
    results = await asyncio.gather(
        *(
            outreach.send_target(svc, target.target_id)
            for svc in (first, second, first, second, first, second)
        ),
        return_exceptions=True,
    )
    sent = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, Conflict)]
    assert len(sent) == 1 and len(refused) == 5, results
    assert len(smtp.messages) == 1
    stored = await outreach.get_target(second, target.target_id)
    assert (stored.status, stored.result_code, stored.attempts) == ("sent", "SMTP_SENT", 1)
    assert stored.message_id == str(smtp.messages[0].message["Message-ID"]).strip()
    # Later sends, from either instance, still send nothing.
    with pytest.raises(Conflict, match="not sent twice"):
        await outreach.send_target(first, target.target_id)
    assert len(smtp.messages) == 1
    page = await first.store.read(lambda uow: uow.audit.page_audit(None, target.target_id, None, [], 1, 20))
    assert sorted(e.action for e in page.items) == [
        "outreach.sending",
        "outreach.sent",
        "outreach.target_created",
    ]


async def test_a_retry_then_a_send_and_opens_counted(
    two_servers: tuple[Services, Services], smtp: SmtpServer
) -> None:
    first, second = two_servers
    target = await outreach.create_target(first, "lead_crm_eu", DRAFT)
    await outreach.record_open(first, target.target_id)  # a draft was never sent: no open to count
    smtp.answer(rcpt="451 4.7.1 Try again later")
    retry = await outreach.send_target(first, target.target_id)
    assert (retry.status, retry.smtp_code, retry.attempts) == ("retry_scheduled", 451, 1)
    assert retry.next_attempt_at is not None
    smtp.answer()
    sent = await outreach.send_target(second, target.target_id)
    assert (sent.status, sent.attempts) == ("sent", 2)
    await asyncio.gather(*(outreach.record_open(svc, target.target_id) for svc in (first, second, first)))
    opened = await outreach.get_target(first, target.target_id)
    assert opened.open_count == 3 and opened.first_opened_at is not None
    assert opened.first_opened_at <= opened.last_opened_at  # type: ignore[operator]


async def test_real_test_without_smtp_sends_nothing(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path}/rt.sqlite3")
    svc = await build_services(settings)
    try:
        target = await outreach.create_target(svc, "lead_crm_eu", DRAFT)
        svc.settings = replace(settings, mode="real_test")
        with pytest.raises(ServiceUnavailable, match="OUTREACH_SENDER_MODE=smtp"):
            await outreach.send_target(svc, target.target_id)
        assert (await outreach.get_target(svc, target.target_id)).status == "draft"
    finally:
        await svc.close()


async def test_a_send_that_crashed_holds_the_target_until_its_lease_runs_out(
    two_servers: tuple[Services, Services], smtp: SmtpServer
) -> None:
    first, second = two_servers
    target = await outreach.create_target(first, "lead_crm_eu", DRAFT)
    now = first.clock()
    crashed = claimed(target, now)  # a process claimed it, then died before its SMTP exchange ended
    lease_until = now + timedelta(seconds=50)
    assert await first.store.write(
        lambda uow: uow.outreach.claim_outreach_target(crashed, "dead-token", now, lease_until)
    )
    with pytest.raises(Conflict, match="being sent right now"):
        await outreach.send_target(second, target.target_id)
    second.clock = lambda: lease_until + timedelta(seconds=1)
    taken_over = await outreach.send_target(second, target.target_id)
    assert (taken_over.status, taken_over.attempts) == ("sent", 2) and len(smtp.messages) == 1
    # The crashed send's outcome, should it still come, is not stored: its claim is gone.
    late = msgspec.structs.replace(crashed, status="bounced")
    assert not await first.store.write(lambda uow: uow.outreach.finish_outreach_target(late, "dead-token"))
    assert (await outreach.get_target(first, target.target_id)).status == "sent"
