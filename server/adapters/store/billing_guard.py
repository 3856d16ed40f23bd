"""The queries behind billing that cannot be gamed: served shortlist slots and the budget guard.

``add_campaign_spend_within`` is the budget's guarantee: one ``UPDATE … WHERE
committed_spend + amount <= budget`` that the database evaluates against the
latest committed row (PostgreSQL re-checks it after waiting for a concurrent
writer's lock; SQLite writers are serial), so concurrent receipts can never take
a campaign past its budget, however many arrive at once.
"""

from __future__ import annotations

from typing import Any, Iterable

from sqlalchemy import and_, bindparam, delete, select, update

from . import schema as s
from .engine import insert_ignoring

# Amounts are binary floats: allow for their rounding when a payout exactly fills the budget.
BUDGET_EPSILON = 1e-6


class BillingGuardQueries:
    """Mixed into ``repository.Tx``; relies on its ``_exec`` and ``kind``."""

    kind: str

    async def _exec(self, stmt: Any, params: Any = None) -> Any: ...  # provided by Tx

    async def insert_served_slots(self, intent_id: str, slots: Iterable[tuple[str, str, str]], at_ms: int) -> None:
        """Record (offer, partner, campaign) triples the exchange shortlisted for an intent (once each)."""
        rows = [
            {"intent_id": intent_id, "offer_id": offer, "partner_id": partner, "campaign_id": campaign,
             "served_at_ms": at_ms}
            for offer, partner, campaign in slots
        ]
        if rows:
            stmt = insert_ignoring(self.kind, s.served_slots, ["intent_id", "offer_id", "partner_id"])
            await self._exec(stmt, rows)

    async def served_campaign(self, intent_id: str, offer_id: str, partner_id: str) -> str | None:
        """The campaign of a slot the exchange served, or None when it never shortlisted that offer there."""
        t = s.served_slots
        stmt = select(t.c.campaign_id).where(
            and_(t.c.intent_id == intent_id, t.c.offer_id == offer_id, t.c.partner_id == partner_id)
        )
        row = (await self._exec(stmt)).first()
        return row[0] if row else None

    async def add_campaign_spend_within(self, campaign_id: str, amount: float, budget: float) -> bool:
        """Commit ``amount`` of the campaign's budget; False (nothing written) when it would not fit."""
        t = s.campaigns
        result = await self._exec(
            update(t)
            .where(
                and_(
                    t.c.campaign_id == bindparam("k"),
                    t.c.committed_spend + bindparam("amount") <= bindparam("budget"),
                )
            )
            .values(committed_spend=t.c.committed_spend + bindparam("amount")),
            {"k": campaign_id, "amount": amount, "budget": budget + BUDGET_EPSILON},
        )
        return result.rowcount == 1

    async def delete_settlement(self, settlement_id: str) -> None:
        """Take back a settlement inserted earlier in this same transaction (its budget did not fit)."""
        await self._exec(delete(s.settlements).where(s.settlements.c.settlement_id == settlement_id))
