"""Wallets and the credit ledger: exactly-once charges and credits, with no read-then-write.

A wallet is created with ``INSERT … ON CONFLICT DO NOTHING`` (two first uses at once:
one creates it and writes its grant, the other finds it). A ledger amount is applied with
one ``UPDATE wallets SET available = available + :amount … RETURNING`` (PostgreSQL holds
the row lock to the end of the transaction, SQLite writers are serial), then its entry is
inserted ``ON CONFLICT (source) DO NOTHING``: when the source is already in the ledger
(a second confirm of the same Stripe session, say), the update is taken back in the same
transaction and nothing changes. Receipts charge only after their own unique insert
succeeded, so a deduplicated receipt never reaches the ledger at all.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import bindparam, case, func, select, update

from ...domain.wallet import (
    CreditLedgerEntry,
    EntryType,
    Wallet,
    WalletBalance,
    ledger_entry,
    wallet_view,
)
from . import schema as s
from . import statements as st
from .codec import decode, encode, epoch_ms
from .dialect import insert_ignoring
from .paging import keyset_page
from .ports import MAX_SEQ, Applied, KeysetPage, NoWallet, WalletTotals
from .raw_sqlite import prebuilt
from .session import Repository


def _at(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


# The statements of the receipt path, built once per dialect (see ``statements.py`` for why).
@prebuilt
def _create_wallet_stmt(kind: str) -> Any:
    return insert_ignoring(kind, s.wallets, ["workspace_id"])


@prebuilt
def _insert_entry_stmt(kind: str) -> Any:
    return insert_ignoring(kind, s.credit_ledger, ["source"])


@prebuilt
def _add_to_wallet() -> Any:
    t = s.wallets
    return (
        update(t)
        .where(t.c.workspace_id == bindparam("k"))
        .values(
            available_mc=t.c.available_mc + bindparam("amount"),
            consumed_mc=t.c.consumed_mc + bindparam("consumed"),
            updated_at_ms=bindparam("at_ms"),
        )
        .returning(t.c.available_mc)
    )


@prebuilt
def _take_back() -> Any:
    t = s.wallets
    return (
        update(t)
        .where(t.c.workspace_id == bindparam("k"))
        .values(
            available_mc=t.c.available_mc - bindparam("amount"),
            consumed_mc=t.c.consumed_mc - bindparam("consumed"),
        )
    )


class SqlWallets(Repository):
    async def create_wallet(
        self,
        workspace_id: str,
        *,
        available: int,
        entry_type: EntryType,
        source: str,
        entry_id: str,
        at: datetime,
    ) -> CreditLedgerEntry | None:
        """Create a workspace's wallet with its first entry (the grant); None when it exists already."""
        params = {"workspace_id": workspace_id, "available_mc": available, "updated_at_ms": epoch_ms(at)}
        if (await self._exec(_create_wallet_stmt(self.kind), params)).rowcount != 1:
            return None
        entry = ledger_entry(
            entry_id=entry_id,
            workspace_id=workspace_id,
            entry_type=entry_type,
            amount=available,
            balance_after=available,
            source=source,
            campaign_id=None,
            occurred_at=at,
        )
        await self._insert_entry(entry, available, available)
        return entry

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
    ) -> Applied | None:
        """Add ``amount`` millicredits (a charge is negative) once per ``source``; None if it was applied.

        Raises ``NoWallet`` (nothing written) when the workspace has no wallet yet.
        """
        params = {"k": workspace_id, "amount": amount, "consumed": max(0, -amount), "at_ms": epoch_ms(at)}
        row = (await self._exec(_add_to_wallet(), params)).first()
        if row is None:
            raise NoWallet(f"no wallet for workspace {workspace_id!r}: create it first")
        after = int(row[0])
        entry = ledger_entry(
            entry_id=entry_id,
            workspace_id=workspace_id,
            entry_type=entry_type,
            amount=amount,
            balance_after=after,
            source=source,
            campaign_id=campaign_id,
            occurred_at=at,
        )
        if not await self._insert_entry(entry, amount, after):
            # This source is in the ledger already: take the amount back, the wallet stays as it was.
            del params["at_ms"]
            await self._exec(_take_back(), params)
            return None
        return Applied(entry, after - amount, after)

    async def _insert_entry(self, entry: CreditLedgerEntry, amount: int, balance_after: int) -> bool:
        params = {
            "entry_id": entry.entry_id,
            "workspace_id": entry.workspace_id,
            "entry_type": entry.entry_type,
            "source": entry.source,
            "amount_mc": amount,
            "balance_after_mc": balance_after,
            "doc": encode(entry),
        }
        return (await self._exec(_insert_entry_stmt(self.kind), params)).rowcount == 1

    async def get_wallet(self, workspace_id: str) -> Wallet | None:
        t = s.wallets
        columns = (t.c.available_mc, t.c.consumed_mc, t.c.reserved_mc, t.c.expired_mc, t.c.updated_at_ms)
        stmt = select(*columns).where(t.c.workspace_id == workspace_id)
        row = (await self._exec(stmt)).first()
        if row is None:
            return None
        balance = WalletBalance(
            available=int(row[0]), consumed=int(row[1]), reserved=int(row[2]), expired=int(row[3])
        )
        return wallet_view(workspace_id, balance, _at(int(row[4])))

    async def ledger_entry_for(self, source: str) -> CreditLedgerEntry | None:
        t = s.credit_ledger
        row = (await self._exec(select(t.c.doc).where(t.c.source == source))).first()
        return decode(row[0], CreditLedgerEntry) if row else None

    async def page_ledger(
        self, workspace_id: str, *, limit: int = 50, before_seq: int = MAX_SEQ
    ) -> KeysetPage[CreditLedgerEntry]:
        t = s.credit_ledger
        conds = [t.c.workspace_id == workspace_id]
        return await keyset_page(self.session, t, conds, before_seq, limit, CreditLedgerEntry, None)

    async def campaign_gates(self) -> dict[str, tuple[float, int | None]]:
        """Per campaign: committed spend and its workspace's available millicredits (None: no wallet yet)."""
        return {
            cid: (float(spend), None if available is None else int(available))
            for cid, spend, available in await self._exec(st.campaign_gates())
        }

    async def wallet_totals(self) -> WalletTotals:
        t = s.wallets
        stmt = select(
            func.count(),
            func.coalesce(func.sum(case((t.c.available_mc <= 0, 1), else_=0)), 0),
            func.coalesce(func.sum(t.c.consumed_mc), 0),
        ).select_from(t)
        n, out, consumed = (await self._exec(stmt)).one()
        return WalletTotals(int(n), int(out), int(consumed))
