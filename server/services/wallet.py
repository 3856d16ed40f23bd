"""Workspace wallets: first use, receipt charges, credits, the ledger (rules in ``domain.wallet``).

Every change of a balance is one ledger entry written in the same transaction as the
change, exactly once per source (the ledger's unique ``source``). A change that opens or
closes a workspace's ``credits`` gate moves the response cache's generation once it is
committed (``exchange.invalidate_responses``), so the next evaluation sees the gate.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Annotated

import msgspec

from ..adapters.store.ports import Applied, NoWallet, UnitOfWork
from ..domain import wallet as rules
from ..domain.errors import ValidationFailed
from ..domain.lifecycle import DEFAULT_WORKSPACE_ID
from ..domain.models import Base, Campaign, EventReceipt, Id
from ..domain.receipts import Verification
from ..domain.wallet import CreditLedgerEntry, EntryType, Wallet
from . import exchange
from .context import Services, new_id
from .pages import CursorPage, check_limit, decode_cursor, encode_cursor

LEDGER_DEFAULT_LIMIT = 50


class SeedWallet(Base, kw_only=True):
    """A starting balance in a seed file: ``{"workspaceId": "...", "availableCredits": 12.5}``."""

    workspace_id: Id
    available_credits: Annotated[float, msgspec.Meta(ge=-rules.MAX_CREDITS, le=rules.MAX_CREDITS)]


def new_entry_id() -> str:
    return new_id("led_", 16)


async def ensure_wallet(uow: UnitOfWork, workspace_id: str, at: datetime) -> bool:
    """Create the workspace's wallet on first use, with the promo grant; True when it was created now."""
    created = await uow.wallets.create_wallet(
        workspace_id,
        available=rules.PROMO_GRANT_CREDITS * rules.MILLI,
        entry_type="promo_grant",
        source=rules.promo_grant_source(workspace_id),
        entry_id=new_entry_id(),
        at=at,
    )
    return created is not None


async def charge_receipt(
    uow: UnitOfWork, receipt: EventReceipt, campaign: Campaign, verification: Verification, at: datetime
) -> Applied | None:
    """Consume the receipt's credits from its campaign's workspace (once per receipt id; never refused).

    None when the receipt costs nothing (shortlisted, other free types, failed verification).
    """
    cost = rules.receipt_charge(receipt.event_type, verification.status)
    if cost == 0:
        return None
    return await _apply(
        uow,
        campaign.workspace_id,
        -cost,
        entry_type="receipt_charge",
        source=rules.receipt_source(receipt.receipt_id),
        at=at,
        campaign_id=campaign.campaign_id,
    )


async def _apply(
    uow: UnitOfWork,
    workspace_id: str,
    amount: int,
    *,
    entry_type: EntryType,
    source: str,
    at: datetime,
    campaign_id: str | None = None,
) -> Applied | None:
    """Apply a ledger amount once per source, creating the wallet first on the workspace's first use."""
    for _ in range(2):
        try:
            return await uow.wallets.apply_to_wallet(
                workspace_id,
                amount,
                entry_type=entry_type,
                source=source,
                entry_id=new_entry_id(),
                at=at,
                campaign_id=campaign_id,
            )
        except NoWallet:  # first use (rare): one statement fewer for every charge after it
            await ensure_wallet(uow, workspace_id, at)
    raise AssertionError("unreachable: the wallet was created above")


def gate_moved(applied: Applied | None) -> bool:
    """Whether an applied entry opened or closed its workspace's ``credits`` gate."""
    if applied is None:
        return False
    return rules.gate_changed(applied.before, applied.after)


async def get_wallet(svc: Services, workspace_id: str | None) -> Wallet:
    """The workspace's wallet, created on first use with the promo grant."""
    workspace_id = workspace_id or DEFAULT_WORKSPACE_ID
    wallet = await svc.store.read(lambda uow: uow.wallets.get_wallet(workspace_id))
    return wallet if wallet is not None else await _first_use(svc, workspace_id)


async def _first_use(svc: Services, workspace_id: str) -> Wallet:
    # A read found no wallet: create it (a concurrent first use may win; either way there is one).
    async def work(uow: UnitOfWork) -> Wallet:
        await ensure_wallet(uow, workspace_id, svc.clock())
        wallet = await uow.wallets.get_wallet(workspace_id)
        assert wallet is not None  # created above, in this transaction, if it was not there
        return wallet

    return await svc.store.write(work)


async def page_ledger(
    svc: Services, workspace_id: str | None, limit: int = LEDGER_DEFAULT_LIMIT, cursor: str | None = None
) -> CursorPage[CreditLedgerEntry]:
    """The workspace's ledger entries, newest first (the wallet is created on first use here too)."""
    workspace_id = workspace_id or DEFAULT_WORKSPACE_ID
    check_limit(limit)
    before = decode_cursor(cursor)

    async def work(uow: UnitOfWork):
        if await uow.wallets.get_wallet(workspace_id) is None:
            return None
        return await uow.wallets.page_ledger(workspace_id, limit=limit, before_seq=before)

    page = await svc.store.read(work)
    if page is None:
        await _first_use(svc, workspace_id)
        page = await svc.store.read(work)
        assert page is not None  # the wallet exists now
    next_cursor = encode_cursor(page.next_before_seq) if page.next_before_seq is not None else None
    return CursorPage(items=page.items, total=page.total, next_cursor=next_cursor)


async def credit(
    svc: Services, workspace_id: str, credits: float, *, source: str, entry_type: EntryType = "top_up"
) -> tuple[Wallet, CreditLedgerEntry | None]:
    """Add credits to a workspace once per ``source`` (a top-up's exactly-once path).

    Returns the wallet and the entry written, or None as the entry when ``source`` had been
    credited before (nothing changed). A credit that brings a workspace back above zero
    reopens its campaigns' ``credits`` gate at once.
    """
    amount = rules.to_milli(credits)
    if amount <= 0:
        raise ValidationFailed(f"credits must be more than 0, got {credits!r}.", field="credits")
    now = svc.clock()

    async def work(uow: UnitOfWork) -> tuple[Wallet, Applied | None]:
        applied = await _apply(uow, workspace_id, amount, entry_type=entry_type, source=source, at=now)
        wallet = await uow.wallets.get_wallet(workspace_id)
        assert wallet is not None
        return wallet, applied

    wallet, applied = await svc.store.write(work)
    if gate_moved(applied):
        await exchange.invalidate_responses(svc)
    return wallet, applied.entry if applied else None


async def seed_wallets(uow: UnitOfWork, wallets: Iterable[SeedWallet], at: datetime) -> int:
    """Give each listed workspace its starting balance, if it has no wallet yet (safe to run twice)."""
    created = 0
    for seeded in wallets:
        entry = await uow.wallets.create_wallet(
            seeded.workspace_id,
            available=rules.to_milli(seeded.available_credits, "availableCredits"),
            entry_type="seed_grant",
            source=rules.seed_grant_source(seeded.workspace_id),
            entry_id=new_entry_id(),
            at=at,
        )
        created += entry is not None
    return created
