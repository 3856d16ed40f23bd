"""What the services see of the store: the unit of work, its repositories, and the values they return.

Services type their collaborators with these Protocols and never import an implementation;
the one implementation is ``store.SqlStore`` handing out ``unit_of_work.SqlUnitOfWork``s over
SQLite or PostgreSQL. A unit of work is one transaction: ``store.write(fn)`` commits what ``fn``
did through ``uow.receipts``, ``uow.settlements``, … as one, or none of it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from datetime import datetime
from typing import Any, Generic, Literal, NamedTuple, Protocol, TypeVar

import msgspec

from ...domain.discovery import DiscoverySource
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
from ...domain.outreach import OutreachTarget
from ...domain.receipts import ReceiptOutcome
from ...domain.wallet import CreditLedgerEntry, EntryType, Wallet

T = TypeVar("T")

MAX_SEQ = 2**63 - 1  # the largest BIGINT: "before MAX_SEQ" is the first page


# -- values ------------------------------------------------------------------
class StoredReceipt(NamedTuple):
    receipt: EventReceipt
    settlement_id: str | None
    outcome: ReceiptOutcome | None  # None for receipts stored before outcomes were recorded


class Page(msgspec.Struct, rename="camel", kw_only=True):
    """One page by number (the audit trail, dead letters)."""

    items: list[Any]
    total: int
    page: int
    page_size: int
    has_next_page: bool
    has_previous_page: bool


class KeysetPage(msgspec.Struct, Generic[T], kw_only=True):
    """The rows below a ``seq``, newest first (settlements, retry jobs, the credit ledger)."""

    items: list[T]
    total: int
    next_before_seq: int | None  # where the next page starts, None on the last page


class JobRow(NamedTuple):
    """A retry job with the claim columns that are not part of its document."""

    job: SettlementRetryJob
    lease_until_ms: int | None
    claim_token: str | None


class Applied(NamedTuple):
    """A ledger amount that was applied: the entry written and the available millicredits around it."""

    entry: CreditLedgerEntry
    before: int
    after: int


class NoWallet(LookupError):
    """The workspace has no wallet yet (``create_wallet`` first)."""


class WalletTotals(NamedTuple):
    workspaces: int
    out_of_credits: int  # wallets with available credits <= 0
    consumed: int  # millicredits


BillResult = Literal["created", "duplicate", "budget_exhausted"]


# -- repositories --------------------------------------------------------------
class CounterRepository(Protocol):
    async def bump(self, name: str, delta: float = 1) -> None: ...
    async def counter(self, name: str) -> float: ...
    async def counters_with_prefix(self, prefix: str) -> dict[str, float]: ...
    async def mark_intent(self, intent_id: str, column: str) -> bool: ...


class MarketRepository(Protocol):
    async def insert_partner(self, partner: PartnerAgent) -> bool: ...
    async def update_partner(self, partner: PartnerAgent) -> None: ...
    async def get_partner(self, partner_id: str) -> PartnerAgent | None: ...
    async def list_partners(self, provenances: Sequence[str] = ()) -> list[tuple[PartnerAgent, int]]: ...
    async def insert_reputation(self, record: ReputationRecord) -> bool: ...
    async def list_reputation(self) -> list[ReputationRecord]: ...
    async def insert_campaign(self, campaign: Campaign) -> bool: ...
    async def update_campaign(self, campaign: Campaign) -> None: ...
    async def get_campaign(self, campaign_id: str) -> Campaign | None: ...
    async def list_campaigns(self, provenances: Sequence[str] = ()) -> list[Campaign]: ...
    async def campaign_spend(self) -> dict[str, float]: ...
    async def insert_policy_check(self, check: PolicyCheckResult) -> None: ...
    async def latest_policy_check(self, campaign_id: str) -> PolicyCheckResult | None: ...
    async def market_version(self) -> int: ...


class ReceiptRepository(Protocol):
    async def insert_receipt(
        self, receipt: EventReceipt, settlement_id: str | None, outcome: ReceiptOutcome | None = None
    ) -> bool: ...
    async def get_receipt(self, receipt_id: str) -> StoredReceipt | None: ...
    async def set_receipt_settlement(
        self, receipt_id: str, settlement_id: str | None, outcome: ReceiptOutcome | None = None
    ) -> None: ...
    async def insert_served_slots(
        self, intent_id: str, slots: Iterable[tuple[str, str, str]], at_ms: int
    ) -> None: ...
    async def served_campaign(self, intent_id: str, offer_id: str, partner_id: str) -> str | None: ...


class SettlementRepository(Protocol):
    async def bill(self, settlement: SettlementReceipt, budget: float) -> BillResult: ...
    async def record_existing(self, settlement: SettlementReceipt) -> bool: ...
    async def save_settlement(self, before: SettlementReceipt, after: SettlementReceipt) -> None: ...
    async def get_settlement(self, settlement_id: str) -> SettlementReceipt | None: ...
    async def get_settlement_for(
        self, intent_id: str, offer_id: str, event_type: str
    ) -> SettlementReceipt | None: ...
    async def lock_settlement(
        self, settlement_id: str, *, skip_locked: bool = False
    ) -> SettlementReceipt | None: ...
    async def list_settlements(
        self,
        statuses: Sequence[str] = (),
        campaign_id: str | None = None,
        provenances: Sequence[str] = (),
        limit: int = 1000,
    ) -> list[SettlementReceipt]: ...
    async def page_settlements(
        self,
        statuses: Sequence[str] = (),
        campaign_id: str | None = None,
        provenances: Sequence[str] = (),
        *,
        limit: int = 100,
        before_seq: int = MAX_SEQ,
    ) -> KeysetPage[SettlementReceipt]: ...


class RetryJobRepository(Protocol):
    async def save_job(self, before: SettlementRetryJob | None, after: SettlementRetryJob) -> None: ...
    async def claim_job(
        self, seen: JobRow, after: SettlementRetryJob, now_ms: int, token: str, lease_until_ms: int
    ) -> bool: ...
    async def finish_job(self, before: SettlementRetryJob, after: SettlementRetryJob, token: str) -> bool: ...
    async def get_retry_job(self, retry_job_id: str) -> SettlementRetryJob | None: ...
    async def get_retry_job_for(self, settlement_id: str) -> SettlementRetryJob | None: ...
    async def retry_job_row(self, retry_job_id: str) -> JobRow | None: ...
    async def due_retry_jobs(self, now_ms: int, limit: int) -> list[SettlementRetryJob]: ...
    async def list_retry_jobs(
        self,
        statuses: Sequence[str] = (),
        settlement_id: str | None = None,
        trace_id: str | None = None,
        limit: int = 50,
    ) -> list[SettlementRetryJob]: ...
    async def page_retry_jobs(
        self,
        statuses: Sequence[str] = (),
        settlement_id: str | None = None,
        trace_id: str | None = None,
        *,
        limit: int = 50,
        before_seq: int = MAX_SEQ,
    ) -> KeysetPage[SettlementRetryJob]: ...


class DeadLetterRepository(Protocol):
    async def save_dead_letter(self, before: DeadLetterEntry | None, after: DeadLetterEntry) -> None: ...
    async def get_dead_letter(self, dlq_entry_id: str) -> DeadLetterEntry | None: ...
    async def get_dead_letter_for(self, settlement_id: str) -> DeadLetterEntry | None: ...
    async def page_dead_letters(
        self, status: str | None, trace_id: str | None, settlement_id: str | None, page: int, page_size: int
    ) -> Page: ...


class LeadRepository(Protocol):
    async def insert_lead(self, lead: AgentLead) -> bool: ...
    async def update_lead(self, lead: AgentLead) -> None: ...
    async def get_lead(self, agent_id: str) -> AgentLead | None: ...
    async def list_leads(
        self,
        statuses: Sequence[str] = (),
        source_types: Sequence[str] = (),
        origins: Sequence[str] = (),
        provenances: Sequence[str] = (),
    ) -> list[AgentLead]: ...


class OutreachRepository(Protocol):
    async def insert_outreach_target(self, target: OutreachTarget) -> None: ...
    async def get_outreach_target(self, target_id: str) -> tuple[OutreachTarget, datetime | None] | None: ...
    async def list_outreach_targets(
        self, lead_id: str | None = None, statuses: Sequence[str] = (), limit: int = 1000
    ) -> list[OutreachTarget]: ...
    async def claim_outreach_target(
        self, target: OutreachTarget, token: str, now: datetime, lease_until: datetime
    ) -> bool: ...
    async def finish_outreach_target(self, target: OutreachTarget, token: str) -> bool: ...
    async def count_outreach_open(self, target_id: str, at: datetime) -> bool: ...


class DiscoveryRepository(Protocol):
    async def insert_discovery_source(self, source: DiscoverySource) -> bool: ...
    async def list_discovery_sources(self) -> list[DiscoverySource]: ...


class AuditRepository(Protocol):
    async def insert_audit(self, events: Iterable[AuditEvent]) -> None: ...
    async def page_audit(
        self,
        trace_id: str | None,
        entity_id: str | None,
        entity_type: str | None,
        provenances: Sequence[str],
        page: int,
        page_size: int,
    ) -> Page: ...
    async def recent_audit(self, limit: int) -> list[AuditEvent]: ...


class WalletRepository(Protocol):
    async def create_wallet(
        self,
        workspace_id: str,
        *,
        available: int,
        entry_type: EntryType,
        source: str,
        entry_id: str,
        at: datetime,
    ) -> CreditLedgerEntry | None: ...
    async def apply_to_wallet(
        self,
        workspace_id: str,
        amount: int,
        *,
        entry_type: EntryType,
        source: str,
        entry_id: str,
        at: datetime,
        campaign_id: str | None = None,
    ) -> Applied | None: ...
    async def get_wallet(self, workspace_id: str) -> Wallet | None: ...
    async def ledger_entry_for(self, source: str) -> CreditLedgerEntry | None: ...
    async def page_ledger(
        self, workspace_id: str, *, limit: int = 50, before_seq: int = MAX_SEQ
    ) -> KeysetPage[CreditLedgerEntry]: ...
    async def campaign_gates(self) -> dict[str, tuple[float, int | None]]: ...
    async def wallet_totals(self) -> WalletTotals: ...


# -- the unit of work and the store ----------------------------------------------
class UnitOfWork(Protocol):
    """One transaction, with a repository per aggregate (all over the same connection)."""

    @property
    def receipts(self) -> ReceiptRepository: ...
    @property
    def settlements(self) -> SettlementRepository: ...
    @property
    def retry_jobs(self) -> RetryJobRepository: ...
    @property
    def dead_letters(self) -> DeadLetterRepository: ...
    @property
    def market(self) -> MarketRepository: ...
    @property
    def leads(self) -> LeadRepository: ...
    @property
    def discovery(self) -> DiscoveryRepository: ...
    @property
    def audit(self) -> AuditRepository: ...
    @property
    def counters(self) -> CounterRepository: ...
    @property
    def wallets(self) -> WalletRepository: ...
    @property
    def outreach(self) -> OutreachRepository: ...


class Store(Protocol):
    """Hands out units of work: ``write`` commits ``fn``'s changes as one (or none), ``read`` reads."""

    kind: str  # "sqlite" | "postgres"

    async def write(self, fn: Callable[[UnitOfWork], Awaitable[T]], *, retries: int = 3) -> T: ...
    async def append_audit(self, events: list[AuditEvent]) -> None: ...
    async def read(self, fn: Callable[[UnitOfWork], Awaitable[T]]) -> T: ...
    async def close(self) -> None: ...
