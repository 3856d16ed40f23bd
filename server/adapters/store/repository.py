"""Reads and writes of the exchange's records over one database connection.

A ``Tx`` wraps one connection inside one transaction; ``store.Store`` hands
out write transactions (``store.write(fn)``) and read transactions
(``store.read(fn)``). Writes that must happen together (receipt + settlement
+ retry job + audit events + counters) are done inside one ``fn`` and commit
or roll back as one.
"""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any, Awaitable, Callable, Iterable, NamedTuple, Sequence, TypeVar

import msgspec
from sqlalchemy import and_, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from ...domain.receipts import ReceiptOutcome
from ...domain.models import (
    AgentLead,
    AuditEvent,
    Campaign,
    DeadLetterEntry,
    EventReceipt,
    PartnerAgent,
    PolicyCheckResult,
    ReputationRecord,
    SettlementReceipt,
    SettlementRetryJob,
)
from . import schema as s
from .codec import decode, encode, epoch_ms
from . import statements as st
from .engine import Engines, insert_ignoring
from .billing_guard import BillingGuardQueries
from .discovery import DiscoveryQueries
from .outreach import OutreachQueries
from .paging import ListingQueries
from .queue import RetryQueueQueries
from .wallet import WalletQueries

T = TypeVar("T")

class StoredReceipt(NamedTuple):
    receipt: EventReceipt
    settlement_id: str | None
    outcome: ReceiptOutcome | None  # None for receipts stored before outcomes were recorded


class Page(msgspec.Struct, rename="camel", kw_only=True):
    items: list[Any]
    total: int
    page: int
    page_size: int
    has_next_page: bool
    has_previous_page: bool


class Tx(
    RetryQueueQueries, BillingGuardQueries, ListingQueries, WalletQueries, DiscoveryQueries, OutreachQueries
):
    """One connection in one transaction, with the exchange's queries (the listings of
    settlements and retry jobs are in ``paging.py``, the retry queue's claims in ``queue.py``,
    served slots and the budget guard in ``billing_guard.py``, wallets and the credit ledger
    in ``wallet.py``)."""

    def __init__(self, conn: AsyncConnection | Connection, kind: str) -> None:
        self.conn = conn
        self.kind = kind
        self._sync = isinstance(conn, Connection)
        self._shards = 1 if kind == "sqlite" else 8
        self._bumps: dict[str, float] = {}

    async def _exec(self, stmt: Any, params: Any = None) -> Any:
        # SQLite runs inline on the event loop's thread: its point queries take microseconds,
        # far less than a hop to a driver thread per statement (measured: ~1.3 ms per
        # transaction through aiosqlite against ~0.05 ms inline). PostgreSQL goes through asyncpg.
        if self._sync:
            return self.conn.execute(stmt, params) if params is not None else self.conn.execute(stmt)
        return await (self.conn.execute(stmt, params) if params is not None else self.conn.execute(stmt))

    async def _docs(self, stmt: Any, type_: type[T]) -> list[T]:
        result = await self._exec(stmt)
        return [decode(row[0], type_) for row in result]

    async def _doc_by(self, table: str, column: str, key: str, type_: type[T]) -> T | None:
        row = (await self._exec(st.doc_by(table, column), {"key": key})).first()
        return decode(row[0], type_) if row else None

    async def _doc(self, stmt: Any, type_: type[T]) -> T | None:
        row = (await self._exec(stmt)).first()
        return decode(row[0], type_) if row else None

    # -- leads -------------------------------------------------------------
    async def insert_lead(self, lead: AgentLead) -> bool:
        stmt = insert_ignoring(self.kind, s.agent_leads, ["agent_id"]).values(
            agent_id=lead.agent_id,
            status=lead.verification_status,
            source_type=lead.source_type,
            data_origin=lead.data_origin,
            provenance=lead.data_provenance,
            doc=encode(lead),
        )
        return (await self._exec(stmt)).rowcount == 1

    async def update_lead(self, lead: AgentLead) -> None:
        await self._exec(
            update(s.agent_leads)
            .where(s.agent_leads.c.agent_id == lead.agent_id)
            .values(status=lead.verification_status, doc=encode(lead))
        )

    async def get_lead(self, agent_id: str) -> AgentLead | None:
        return await self._doc(select(s.agent_leads.c.doc).where(s.agent_leads.c.agent_id == agent_id), AgentLead)

    async def list_leads(
        self,
        statuses: Sequence[str] = (),
        source_types: Sequence[str] = (),
        origins: Sequence[str] = (),
        provenances: Sequence[str] = (),
    ) -> list[AgentLead]:
        t = s.agent_leads
        stmt = select(t.c.doc).order_by(t.c.seq)
        for column, values in (
            (t.c.status, statuses),
            (t.c.source_type, source_types),
            (t.c.data_origin, origins),
            (t.c.provenance, provenances),
        ):
            if values:
                stmt = stmt.where(column.in_(list(values)))
        return await self._docs(stmt, AgentLead)

    # -- partners ----------------------------------------------------------
    async def insert_partner(self, partner: PartnerAgent) -> bool:
        stmt = insert_ignoring(self.kind, s.partners, ["partner_id"]).values(
            partner_id=partner.partner_id,
            status=partner.status,
            provenance=partner.data_provenance,
            doc=encode(partner),
        )
        inserted = (await self._exec(stmt)).rowcount == 1
        if inserted:
            await self.bump_market_version()
        return inserted

    async def update_partner(self, partner: PartnerAgent) -> None:
        await self._exec(
            update(s.partners)
            .where(s.partners.c.partner_id == partner.partner_id)
            .values(status=partner.status, provenance=partner.data_provenance, doc=encode(partner))
        )
        await self.bump_market_version()

    async def get_partner(self, partner_id: str) -> PartnerAgent | None:
        return await self._doc_by("partners", "partner_id", partner_id, PartnerAgent)

    async def list_partners(self, provenances: Sequence[str] = ()) -> list[tuple[PartnerAgent, int]]:
        """Partners in creation order with their number of disputed settlements."""
        t = s.partners
        stmt = select(t.c.doc, t.c.disputed_count).order_by(t.c.seq)
        if provenances:
            stmt = stmt.where(t.c.provenance.in_(list(provenances)))
        return [(decode(doc, PartnerAgent), int(n)) for doc, n in await self._exec(stmt)]

    async def add_partner_dispute(self, partner_id: str, delta: int) -> None:
        await self._exec(
            update(s.partners)
            .where(s.partners.c.partner_id == partner_id)
            .values(disputed_count=s.partners.c.disputed_count + delta)
        )
        await self.bump_market_version()

    # -- reputation --------------------------------------------------------
    async def insert_reputation(self, record: ReputationRecord) -> bool:
        stmt = insert_ignoring(self.kind, s.reputation_records, ["record_id"]).values(
            record_id=record.record_id, partner_id=record.partner_id, doc=encode(record)
        )
        inserted = (await self._exec(stmt)).rowcount == 1
        if inserted:
            await self.bump_market_version()
        return inserted

    async def list_reputation(self) -> list[ReputationRecord]:
        t = s.reputation_records
        return await self._docs(select(t.c.doc).order_by(t.c.seq), ReputationRecord)

    # -- campaigns and policy checks ---------------------------------------
    async def insert_campaign(self, campaign: Campaign) -> bool:
        stmt = insert_ignoring(self.kind, s.campaigns, ["campaign_id"]).values(
            campaign_id=campaign.campaign_id,
            offer_id=campaign.offer.offer_id,
            status=campaign.status,
            provenance=campaign.data_provenance,
            workspace_id=campaign.workspace_id,
            doc=encode(campaign),
        )
        inserted = (await self._exec(stmt)).rowcount == 1
        if inserted:
            await self.bump_market_version()
        return inserted

    async def update_campaign(self, campaign: Campaign) -> None:
        await self._exec(
            update(s.campaigns)
            .where(s.campaigns.c.campaign_id == campaign.campaign_id)
            .values(status=campaign.status, doc=encode(campaign))
        )
        await self.bump_market_version()

    async def get_campaign(self, campaign_id: str) -> Campaign | None:
        return await self._doc_by("campaigns", "campaign_id", campaign_id, Campaign)

    async def list_campaigns(self, provenances: Sequence[str] = ()) -> list[Campaign]:
        t = s.campaigns
        stmt = select(t.c.doc).order_by(t.c.seq)
        if provenances:
            stmt = stmt.where(t.c.provenance.in_(list(provenances)))
        return await self._docs(stmt, Campaign)

    async def add_campaign_spend(self, campaign_id: str, delta: float) -> None:
        await self._exec(st.add_spend(), {"k": campaign_id, "delta": delta})

    async def campaign_spend(self) -> dict[str, float]:
        return {cid: float(v) for cid, v in await self._exec(st.campaign_spend())}

    async def insert_policy_check(self, check: PolicyCheckResult) -> None:
        await self._exec(
            s.policy_checks.insert().values(
                policy_check_id=check.policy_check_id, campaign_id=check.campaign_id, doc=encode(check)
            )
        )

    async def latest_policy_check(self, campaign_id: str) -> PolicyCheckResult | None:
        t = s.policy_checks
        stmt = select(t.c.doc).where(t.c.campaign_id == campaign_id).order_by(t.c.seq.desc()).limit(1)
        return await self._doc(stmt, PolicyCheckResult)

    # -- market version ----------------------------------------------------
    async def market_version(self) -> int:
        row = (await self._exec(st.market_version())).first()
        return int(row[0]) if row else 0

    async def bump_market_version(self) -> None:
        await self._exec(
            update(s.market_version).where(s.market_version.c.id == 1).values(version=s.market_version.c.version + 1)
        )

    # -- receipts ----------------------------------------------------------
    async def insert_receipt(
        self, receipt: EventReceipt, settlement_id: str | None, outcome: ReceiptOutcome | None = None
    ) -> bool:
        """Insert a receipt; False when its ``receipt_id`` is already stored (the database decides)."""
        params = dict(
            receipt_id=receipt.receipt_id,
            intent_id=receipt.intent_id,
            campaign_id=receipt.campaign_id,
            event_type=receipt.event_type,
            settlement_id=settlement_id,
            doc=encode(receipt),
            outcome=encode(outcome) if outcome is not None else None,
        )
        return (await self._exec(st.insert_or_ignore(self.kind, "receipts", ("receipt_id",)), params)).rowcount == 1

    async def get_receipt(self, receipt_id: str) -> StoredReceipt | None:
        t = s.receipts
        stmt = select(t.c.doc, t.c.settlement_id, t.c.outcome).where(t.c.receipt_id == receipt_id)
        row = (await self._exec(stmt)).first()
        if row is None:
            return None
        outcome = decode(row[2], ReceiptOutcome) if row[2] else None
        return StoredReceipt(decode(row[0], EventReceipt), row[1], outcome)

    async def set_receipt_settlement(
        self, receipt_id: str, settlement_id: str | None, outcome: ReceiptOutcome | None = None
    ) -> None:
        await self._exec(
            st.update_doc("receipts", "receipt_id", ("settlement_id", "outcome")),
            {
                "k": receipt_id,
                "v_settlement_id": settlement_id,
                "v_outcome": encode(outcome) if outcome is not None else None,
            },
        )

    # -- settlements -------------------------------------------------------
    async def insert_settlement(self, settlement: SettlementReceipt) -> bool:
        """False when a settlement for the same (intent, offer, event type) exists."""
        stmt = st.insert_or_ignore(self.kind, "settlements", ("intent_id", "offer_id", "event_type"))
        params = dict(
            settlement_id=settlement.settlement_id,
            intent_id=settlement.intent_id,
            offer_id=settlement.offer_id,
            event_type=settlement.event_type,
            campaign_id=settlement.campaign_id,
            partner_id=settlement.partner_id,
            status=settlement.status,
            provenance=settlement.data_provenance,
            doc=encode(settlement),
        )
        return (await self._exec(stmt, params)).rowcount == 1

    async def update_settlement(self, settlement: SettlementReceipt) -> None:
        await self._exec(
            st.update_doc("settlements", "settlement_id", ("status", "doc")),
            {"k": settlement.settlement_id, "v_status": settlement.status, "v_doc": encode(settlement)},
        )

    async def get_settlement(self, settlement_id: str) -> SettlementReceipt | None:
        return await self._doc_by("settlements", "settlement_id", settlement_id, SettlementReceipt)

    async def get_settlement_for(self, intent_id: str, offer_id: str, event_type: str) -> SettlementReceipt | None:
        t = s.settlements
        stmt = select(t.c.doc).where(
            and_(t.c.intent_id == intent_id, t.c.offer_id == offer_id, t.c.event_type == event_type)
        )
        return await self._doc(stmt, SettlementReceipt)

    # -- retry jobs --------------------------------------------------------
    async def insert_retry_job(self, job: SettlementRetryJob) -> None:
        await self._exec(
            st.plain_insert("retry_jobs"),
            dict(
                retry_job_id=job.retry_job_id,
                settlement_id=job.settlement_id,
                trace_id=job.trace_id,
                status=job.status,
                next_run_at_ms=epoch_ms(job.next_run_at),
                doc=encode(job),
            ),
        )

    async def update_retry_job(self, job: SettlementRetryJob) -> None:
        """Change a job outside a claim (dispute, replay, cancel): any claim on it is void from now on."""
        await self._exec(
            st.update_doc(
                "retry_jobs", "retry_job_id", ("status", "next_run_at_ms", "lease_until_ms", "claim_token", "doc")
            ),
            {
                "k": job.retry_job_id,
                "v_status": job.status,
                "v_next_run_at_ms": epoch_ms(job.next_run_at),
                "v_lease_until_ms": None,
                "v_claim_token": None,
                "v_doc": encode(job),
            },
        )

    async def get_retry_job(self, retry_job_id: str) -> SettlementRetryJob | None:
        return await self._doc_by("retry_jobs", "retry_job_id", retry_job_id, SettlementRetryJob)

    async def get_retry_job_for(self, settlement_id: str) -> SettlementRetryJob | None:
        return await self._doc_by("retry_jobs", "settlement_id", settlement_id, SettlementRetryJob)

    # -- dead letters ------------------------------------------------------
    async def save_dead_letter(self, entry: DeadLetterEntry, is_new: bool) -> None:
        values = dict(status=entry.status, trace_id=entry.trace_id, doc=encode(entry))
        if is_new:
            await self._exec(
                s.dlq_entries.insert().values(
                    dlq_entry_id=entry.dlq_entry_id, settlement_id=entry.settlement_id, **values
                )
            )
        else:
            await self._exec(
                update(s.dlq_entries).where(s.dlq_entries.c.dlq_entry_id == entry.dlq_entry_id).values(**values)
            )

    async def get_dead_letter(self, dlq_entry_id: str) -> DeadLetterEntry | None:
        t = s.dlq_entries
        return await self._doc(select(t.c.doc).where(t.c.dlq_entry_id == dlq_entry_id), DeadLetterEntry)

    async def get_dead_letter_for(self, settlement_id: str) -> DeadLetterEntry | None:
        t = s.dlq_entries
        return await self._doc(select(t.c.doc).where(t.c.settlement_id == settlement_id), DeadLetterEntry)

    async def page_dead_letters(
        self, status: str | None, trace_id: str | None, settlement_id: str | None, page: int, page_size: int
    ) -> Page:
        t = s.dlq_entries
        conds = []
        if status:
            conds.append(t.c.status == status)
        if trace_id:
            conds.append(t.c.trace_id == trace_id)
        if settlement_id:
            conds.append(t.c.settlement_id == settlement_id)
        return await self._page(t, conds, page, page_size, DeadLetterEntry)

    # -- audit -------------------------------------------------------------
    async def insert_audit(self, events: Iterable[AuditEvent]) -> None:
        rows = [
            dict(
                audit_event_id=e.audit_event_id,
                trace_id=e.trace_id,
                entity_type=e.entity_type,
                entity_id=e.entity_id,
                provenance=e.data_provenance,
                doc=encode(e),
            )
            for e in events
        ]
        if rows:
            await self._exec(st.plain_insert("audit_events"), rows)
            await self.bump("audit_events", len(rows))

    async def page_audit(
        self,
        trace_id: str | None,
        entity_id: str | None,
        entity_type: str | None,
        provenances: Sequence[str],
        page: int,
        page_size: int,
    ) -> Page:
        t = s.audit_events
        conds = []
        if trace_id:
            conds.append(t.c.trace_id == trace_id)
        if entity_id:
            conds.append(t.c.entity_id == entity_id)
        if entity_type:
            conds.append(t.c.entity_type == entity_type)
        if provenances:
            conds.append(t.c.provenance.in_(list(provenances)))
        # The unfiltered total comes from a counter, not from counting every row.
        known_total = None if conds else int(await self.counter("audit_events"))
        return await self._page(t, conds, page, page_size, AuditEvent, known_total)

    async def recent_audit(self, limit: int) -> list[AuditEvent]:
        t = s.audit_events
        return await self._docs(select(t.c.doc).order_by(t.c.seq.desc()).limit(limit), AuditEvent)

    async def _page(
        self, table: Any, conds: list[Any], page: int, page_size: int, type_: type, known_total: int | None = None
    ) -> Page:
        stmt = select(table.c.doc).order_by(table.c.seq.desc()).limit(page_size).offset((page - 1) * page_size)
        count = select(func.count()).select_from(table)
        if conds:
            stmt = stmt.where(and_(*conds))
            count = count.where(and_(*conds))
        items = await self._docs(stmt, type_)
        total = known_total if known_total is not None else int((await self._exec(count)).scalar_one())
        return Page(
            items=items,
            total=total,
            page=page,
            page_size=page_size,
            has_next_page=page * page_size < total,
            has_previous_page=page > 1,
        )

    # -- intents and counters ----------------------------------------------
    async def mark_intent(self, intent_id: str, column: str) -> bool:
        """Flag an intent as evaluated/presented; True the first time (for distinct-intent KPIs).

        One upsert: a new intent is inserted flagged; an existing one is updated only while
        its flag is still 0, so exactly one transaction ever sees the change.
        """
        if column not in ("evaluated", "presented"):
            raise ValueError(f"unknown intent flag {column!r}")
        result = await self._exec(
            st.mark_intent(column),
            {"intent_id": intent_id, "e": int(column == "evaluated"), "p": int(column == "presented")},
        )
        return result.rowcount == 1

    async def bump(self, name: str, delta: float = 1) -> None:
        """Add to a counter when the transaction commits (all of a transaction's bumps are one upsert)."""
        self._bumps[name] = self._bumps.get(name, 0) + delta

    async def flush(self) -> None:
        """Write the pending counter changes; the store calls this just before commit."""
        pending = {name: delta for name, delta in self._bumps.items() if delta}
        self._bumps.clear()
        if not pending:
            return
        # Sorted names: concurrent transactions lock counter rows in one order (no deadlocks).
        names = sorted(pending)
        params: dict[str, Any] = {"shard": random.randrange(self._shards)}
        for i, name in enumerate(names):
            params[f"n{i}"] = name
            params[f"d{i}"] = pending[name]
        await self._exec(st.counters_upsert(len(names)), params)

    async def counter(self, name: str) -> float:
        stmt = select(func.coalesce(func.sum(s.counters.c.value), 0)).where(s.counters.c.name == name)
        return float((await self._exec(stmt)).scalar_one())

    async def counters_with_prefix(self, prefix: str) -> dict[str, float]:
        t = s.counters
        stmt = select(t.c.name, func.sum(t.c.value)).where(t.c.name.like(prefix + "%")).group_by(t.c.name)
        return {name[len(prefix):]: float(v) for name, v in await self._exec(stmt)}
