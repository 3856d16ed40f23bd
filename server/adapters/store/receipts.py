"""Receipts, stored once by ``receipt_id``, and the shortlist slots they are verified against.

The unique receipt id is the last word on exactly-once intake: ``insert_receipt`` is
``INSERT … ON CONFLICT DO NOTHING`` and says whether this transaction stored it. A served
slot is an (intent, offer, partner) the exchange shortlisted, with its campaign: what
``RECEIPT_VERIFICATION`` checks a receipt against.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import and_, select

from ...domain.models import EventReceipt
from ...domain.receipts import ReceiptOutcome
from . import dialect
from . import schema as s
from . import statements as st
from .codec import decode, encode
from .ports import StoredReceipt
from .session import Repository


class SqlReceipts(Repository):
    async def insert_receipt(
        self, receipt: EventReceipt, settlement_id: str | None, outcome: ReceiptOutcome | None = None
    ) -> bool:
        """Insert a receipt; False when its ``receipt_id`` is already stored (the database decides)."""
        params = {
            "receipt_id": receipt.receipt_id,
            "intent_id": receipt.intent_id,
            "campaign_id": receipt.campaign_id,
            "event_type": receipt.event_type,
            "settlement_id": settlement_id,
            "doc": encode(receipt),
            "outcome": encode(outcome) if outcome is not None else None,
        }
        stmt = dialect.insert_or_ignore(self.kind, "receipts", ("receipt_id",))
        return (await self._exec(stmt, params)).rowcount == 1

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

    # -- served slots --------------------------------------------------------
    async def insert_served_slots(
        self, intent_id: str, slots: Iterable[tuple[str, str, str]], at_ms: int
    ) -> None:
        """Record (offer, partner, campaign) triples the exchange shortlisted for an intent (once each)."""
        rows = [
            {
                "intent_id": intent_id,
                "offer_id": offer,
                "partner_id": partner,
                "campaign_id": campaign,
                "served_at_ms": at_ms,
            }
            for offer, partner, campaign in slots
        ]
        if rows:
            stmt = dialect.insert_or_ignore(
                self.kind, "served_slots", ("intent_id", "offer_id", "partner_id")
            )
            await self._exec(stmt, rows)

    async def served_campaign(self, intent_id: str, offer_id: str, partner_id: str) -> str | None:
        """The campaign of a slot the exchange served, or None when it never shortlisted that offer there."""
        t = s.served_slots
        stmt = select(t.c.campaign_id).where(
            and_(t.c.intent_id == intent_id, t.c.offer_id == offer_id, t.c.partner_id == partner_id)
        )
        row = (await self._exec(stmt)).first()
        return row[0] if row else None
