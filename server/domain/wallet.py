"""Workspace wallets and the credit ledger (spec §1 "Wallet", §5 ``credits_ok``, §6 "Credits").

The rules, without storage or clock:

- A workspace's wallet is created on first use with ``PROMO_GRANT_CREDITS`` (100), written
  to the ledger as a ``promo_grant`` entry. A seed may give a workspace another starting
  balance instead (a ``seed_grant`` entry).
- A receipt consumes credits from its campaign's workspace: presented 2, viewed 3,
  interacted 5, conversion 10, shortlisted 0 (``receipts.CREDIT_COSTS``). A receipt is a
  fact and is never refused for lack of credits: the charge is always recorded and the
  balance may go below zero (what is below zero is *owed*). A receipt that failed
  verification is not counted as a placement that happened, and costs nothing.
- ``credits_ok``: a workspace's campaigns pass the ranking's ``credits`` gate only while
  its available credits are > 0.
- Every ledger entry has a ``source`` that names what caused it, unique over the whole
  ledger: that is what makes a charge or a credit happen exactly once (one per receipt,
  one promo grant per workspace, one credit per Stripe Checkout Session).

Amounts are kept as integer thousandths of a credit (*millicredits*) wherever they are
added up, so balances are exact; the wire shows credits as decimal numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from .errors import ValidationFailed
from .models import Base
from .receipts import credit_cost

PROMO_GRANT_CREDITS = 100
MILLI = 1000  # millicredits per credit
# The largest balance or amount a wallet accepts (as ``models.MAX_AMOUNT``): far inside a BIGINT.
MAX_CREDITS = 1e12

EntryType = Literal["promo_grant", "seed_grant", "receipt_charge", "top_up"]


class Wallet(Base, kw_only=True):
    """A workspace's credits. ``owedCredits`` is what the balance is below zero (0 when it is not)."""

    workspace_id: str
    available_credits: float
    reserved_credits: float = 0.0
    consumed_credits: float = 0.0
    expired_credits: float = 0.0
    owed_credits: float = 0.0
    updated_at: datetime


class CreditLedgerEntry(Base, kw_only=True):
    """One signed change of a wallet: credits added (> 0) or consumed (< 0), and the balance after it."""

    entry_id: str
    workspace_id: str
    entry_type: EntryType
    amount: float
    balance_after: float
    source: str
    campaign_id: str | None = None
    occurred_at: datetime


@dataclass(frozen=True, slots=True)
class WalletBalance:
    """A wallet's numbers in millicredits (what the store keeps)."""

    available: int
    consumed: int = 0
    reserved: int = 0
    expired: int = 0

    def apply(self, amount: int) -> WalletBalance:
        """The balance after a ledger amount: a charge (< 0) is never refused and counts as consumed."""
        return WalletBalance(
            available=self.available + amount,
            consumed=self.consumed + max(0, -amount),
            reserved=self.reserved,
            expired=self.expired,
        )


def to_milli(credits: object, field: str = "credits") -> int:
    """Credits as millicredits (rounded to the nearest thousandth); a clear error for what is not a number."""
    if isinstance(credits, bool) or not isinstance(credits, (int, float)) or not math.isfinite(credits):
        raise ValidationFailed(f"{field} must be a finite number of credits, got {credits!r}.", field=field)
    if abs(credits) > MAX_CREDITS:
        raise ValidationFailed(
            f"{field} must be between -{MAX_CREDITS:g} and {MAX_CREDITS:g}, got {credits!r}.", field=field
        )
    return round(credits * MILLI)


def from_milli(milli: int) -> float:
    return milli / MILLI


def credits_ok(available_milli: int | None) -> bool:
    """The ranking's ``credits`` gate: available credits > 0. No wallet yet means the promo grant."""
    return available_milli is None or available_milli > 0


def gate_changed(before_milli: int, after_milli: int) -> bool:
    """Whether a change of balance opened or closed the workspace's ``credits`` gate."""
    return credits_ok(before_milli) != credits_ok(after_milli)


def receipt_charge(event_type: str, verification_status: str) -> int:
    """Millicredits a receipt consumes (0 for shortlisted and other free types, and if verification failed)."""
    if verification_status == "failed":
        return 0
    return credit_cost(event_type) * MILLI


def promo_grant_source(workspace_id: str) -> str:
    return f"promo_grant:{workspace_id}"


def seed_grant_source(workspace_id: str) -> str:
    return f"seed:{workspace_id}"


def receipt_source(receipt_id: str) -> str:
    return f"receipt:{receipt_id}"


def wallet_view(workspace_id: str, balance: WalletBalance, updated_at: datetime) -> Wallet:
    return Wallet(
        workspace_id=workspace_id,
        available_credits=from_milli(balance.available),
        reserved_credits=from_milli(balance.reserved),
        consumed_credits=from_milli(balance.consumed),
        expired_credits=from_milli(balance.expired),
        owed_credits=from_milli(max(0, -balance.available)),
        updated_at=updated_at,
    )


def ledger_entry(
    *,
    entry_id: str,
    workspace_id: str,
    entry_type: EntryType,
    amount: int,
    balance_after: int,
    source: str,
    campaign_id: str | None,
    occurred_at: datetime,
) -> CreditLedgerEntry:
    return CreditLedgerEntry(
        entry_id=entry_id,
        workspace_id=workspace_id,
        entry_type=entry_type,
        amount=from_milli(amount),
        balance_after=from_milli(balance_after),
        source=source,
        campaign_id=campaign_id,
        occurred_at=occurred_at,
    )
