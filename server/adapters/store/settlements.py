"""Settlements, with the numbers derived from them kept in step in the same transaction.

Committed campaign spend (the budget gate), a partner's disputed-settlement count (governed
trust) and the dashboard's status counters are all derived from the settlements' states.
Every state change goes through ``bill``, ``record_existing`` or ``save_settlement``, inside
the change's transaction, so the derived numbers can never drift from the rows. The retry
jobs and dead letters of a settlement are in ``retry_jobs.py`` and ``dead_letters.py``.

Every change to a settlement and its job locks the settlement first (``lock_settlement``),
so the queue, disputes and replays take their locks in one order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, bindparam, delete, select

from ...domain.errors import Conflict
from ...domain.models import DataProvenance, SettlementReceipt, SettlementStatus
from ...domain.settlement import counts_as_spend
from . import dialect
from . import schema as s
from . import statements as st
from .codec import decode, encode
from .counters import SqlCounters
from .market import SqlMarket
from .paging import keyset_page, unique
from .ports import MAX_SEQ, BillResult, KeysetPage
from .raw_sqlite import prebuilt
from .session import Repository, Session


@prebuilt
def _locked_settlement(kind: str, skip_locked: bool) -> Any:
    t = s.settlements
    stmt = select(t.c.doc).where(t.c.settlement_id == bindparam("k"))
    return dialect.locked(kind, stmt, skip_locked=skip_locked)


class SqlSettlements(Repository):
    def __init__(self, session: Session, market: SqlMarket, counters: SqlCounters) -> None:
        super().__init__(session)
        self.market = market
        self.counters = counters

    # -- the changes, with their derived numbers ------------------------------
    async def bill(self, settlement: SettlementReceipt, budget: float) -> BillResult:
        """Insert a new ``pending`` settlement and commit its amount against the campaign's budget.

        The unique (intent, offer, event) key refuses a twin (``duplicate``); the guarded
        spend update refuses an amount that would take committed spend past ``budget``
        (``budget_exhausted``, and the settlement is taken back). Both are decided by the
        database inside this transaction, never by an earlier read.
        """
        if not await self.insert_settlement(settlement):
            return "duplicate"
        if not await self.market.add_campaign_spend_within(settlement.campaign_id, settlement.amount, budget):
            await self.delete_settlement(settlement.settlement_id)
            return "budget_exhausted"
        await self.counters.bump(f"provenance:settlements:{settlement.data_provenance}")
        await self.counters.bump(f"settlements:{settlement.status}", 1)
        return "created"

    async def record_existing(self, settlement: SettlementReceipt) -> bool:
        """Store a settlement made before this database (the seed) with the numbers derived from it: its
        amount as committed spend unless it is failed or disputed (no budget check: it happened already),
        a disputed one in its partner's dispute count. No retry job: its billing is not this server's
        to do. False (nothing written) when a settlement for its (intent, offer, event) is stored already."""
        if not await self.insert_settlement(settlement):
            return False
        if counts_as_spend(settlement):
            await self.market.add_campaign_spend(settlement.campaign_id, settlement.amount)
        if settlement.dispute_flag:
            await self.market.add_partner_dispute(settlement.partner_id, 1)
        await self.counters.bump(f"provenance:settlements:{settlement.data_provenance}")
        await self.counters.bump(f"settlements:{settlement.status}", 1)
        return True

    async def save_settlement(self, before: SettlementReceipt, after: SettlementReceipt) -> None:
        """Change a settlement, keeping committed spend, dispute counts and status counters in step.

        A change that makes an amount count as spend again (a dead letter replayed) must
        still fit the campaign's budget: otherwise it is refused (409) and nothing changes.
        """
        await self.update_settlement(after)
        spend_delta = (after.amount if counts_as_spend(after) else 0.0) - (
            before.amount if counts_as_spend(before) else 0.0
        )
        if spend_delta > 0:
            campaign = await self.market.get_campaign(after.campaign_id)
            budget = campaign.budget if campaign is not None else 0.0
            if not await self.market.add_campaign_spend_within(after.campaign_id, spend_delta, budget):
                raise Conflict(
                    f"Settlement {after.settlement_id} cannot count against campaign {after.campaign_id} "
                    f"again: its amount would take the campaign past its budget of {budget:g}."
                )
        elif spend_delta < 0:
            await self.market.add_campaign_spend(after.campaign_id, spend_delta)
        if before.status != after.status:
            await self.counters.bump(f"settlements:{before.status}", -1)
            await self.counters.bump(f"settlements:{after.status}", 1)
        if after.dispute_flag and not before.dispute_flag:
            await self.market.add_partner_dispute(after.partner_id, 1)
        elif before.dispute_flag and not after.dispute_flag:
            await self.market.add_partner_dispute(after.partner_id, -1)

    # -- rows ----------------------------------------------------------------
    async def insert_settlement(self, settlement: SettlementReceipt) -> bool:
        """False when a settlement for the same (intent, offer, event type) exists."""
        stmt = dialect.insert_or_ignore(self.kind, "settlements", ("intent_id", "offer_id", "event_type"))
        params = {
            "settlement_id": settlement.settlement_id,
            "intent_id": settlement.intent_id,
            "offer_id": settlement.offer_id,
            "event_type": settlement.event_type,
            "campaign_id": settlement.campaign_id,
            "partner_id": settlement.partner_id,
            "status": settlement.status,
            "provenance": settlement.data_provenance,
            "doc": encode(settlement),
        }
        return (await self._exec(stmt, params)).rowcount == 1

    async def update_settlement(self, settlement: SettlementReceipt) -> None:
        await self._exec(
            st.update_doc("settlements", "settlement_id", ("status", "doc")),
            {"k": settlement.settlement_id, "v_status": settlement.status, "v_doc": encode(settlement)},
        )

    async def delete_settlement(self, settlement_id: str) -> None:
        """Take back a settlement inserted earlier in this same transaction (its budget did not fit)."""
        await self._exec(delete(s.settlements).where(s.settlements.c.settlement_id == settlement_id))

    async def get_settlement(self, settlement_id: str) -> SettlementReceipt | None:
        return await self._doc_by("settlements", "settlement_id", settlement_id, SettlementReceipt)

    async def get_settlement_for(
        self, intent_id: str, offer_id: str, event_type: str
    ) -> SettlementReceipt | None:
        t = s.settlements
        stmt = select(t.c.doc).where(
            and_(t.c.intent_id == intent_id, t.c.offer_id == offer_id, t.c.event_type == event_type)
        )
        return await self._doc(stmt, SettlementReceipt)

    async def lock_settlement(
        self, settlement_id: str, *, skip_locked: bool = False
    ) -> SettlementReceipt | None:
        """The settlement, its row locked for this transaction on PostgreSQL (SQLite writers are serial).

        With ``skip_locked`` a row another transaction holds reads as None (the queue passes it
        by instead of waiting).
        """
        row = (await self._exec(_locked_settlement(self.kind, skip_locked), {"k": settlement_id})).first()
        return None if row is None else decode(row[0], SettlementReceipt)

    # -- listings ------------------------------------------------------------
    @staticmethod
    def _conds(statuses: Sequence[str], campaign_id: str | None, provenances: Sequence[str]) -> list[Any]:
        t = s.settlements
        conds = []
        if statuses:
            conds.append(t.c.status.in_(list(statuses)))
        if campaign_id:
            conds.append(t.c.campaign_id == campaign_id)
        if provenances:
            conds.append(t.c.provenance.in_(list(provenances)))
        return conds

    async def list_settlements(
        self,
        statuses: Sequence[str] = (),
        campaign_id: str | None = None,
        provenances: Sequence[str] = (),
        limit: int = 1000,
    ) -> list[SettlementReceipt]:
        page = await self.page_settlements(statuses, campaign_id, provenances, limit=limit)
        return page.items

    async def page_settlements(
        self,
        statuses: Sequence[str] = (),
        campaign_id: str | None = None,
        provenances: Sequence[str] = (),
        *,
        limit: int = 100,
        before_seq: int = MAX_SEQ,
    ) -> KeysetPage[SettlementReceipt]:
        """Newest first; the total from the status or provenance counters when the filters allow."""
        statuses, provenances = unique(statuses), unique(provenances)
        total: int | None = None
        if not campaign_id and not provenances:
            total = await self.counters.counted("settlements:", SettlementStatus, statuses)
        elif not campaign_id and not statuses:
            total = await self.counters.counted("provenance:settlements:", DataProvenance, provenances)
        conds = self._conds(statuses, campaign_id, provenances)
        t = s.settlements
        return await keyset_page(self.session, t, conds, before_seq, limit, SettlementReceipt, total)
