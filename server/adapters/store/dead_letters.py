"""Dead letters: one entry per settlement that failed for good, reused if it fails again after a replay.

Every change goes through ``save_dead_letter``, which moves the ``dlq:<status>`` counters
in the same transaction.
"""

from __future__ import annotations

from sqlalchemy import update

from ...domain.models import DeadLetterEntry
from . import schema as s
from .codec import encode
from .counters import SqlCounters
from .paging import numbered_page
from .ports import Page
from .session import Repository, Session


class SqlDeadLetters(Repository):
    def __init__(self, session: Session, counters: SqlCounters) -> None:
        super().__init__(session)
        self.counters = counters

    async def save_dead_letter(self, before: DeadLetterEntry | None, after: DeadLetterEntry) -> None:
        """Insert (``before`` None) or change an entry, with its status counters."""
        await self._write(after, is_new=before is None)
        if before is None or before.status != after.status:
            if before is not None:
                await self.counters.bump(f"dlq:{before.status}", -1)
            await self.counters.bump(f"dlq:{after.status}", 1)

    async def _write(self, entry: DeadLetterEntry, is_new: bool) -> None:
        values = {"status": entry.status, "trace_id": entry.trace_id, "doc": encode(entry)}
        if is_new:
            await self._exec(
                s.dlq_entries.insert().values(
                    dlq_entry_id=entry.dlq_entry_id, settlement_id=entry.settlement_id, **values
                )
            )
        else:
            t = s.dlq_entries
            await self._exec(update(t).where(t.c.dlq_entry_id == entry.dlq_entry_id).values(**values))

    async def get_dead_letter(self, dlq_entry_id: str) -> DeadLetterEntry | None:
        return await self._doc_by("dlq_entries", "dlq_entry_id", dlq_entry_id, DeadLetterEntry)

    async def get_dead_letter_for(self, settlement_id: str) -> DeadLetterEntry | None:
        return await self._doc_by("dlq_entries", "settlement_id", settlement_id, DeadLetterEntry)

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
        return await numbered_page(self.session, t, conds, page, page_size, DeadLetterEntry)
