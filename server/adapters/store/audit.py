"""The audit trail: events written in the transaction of what they record, read newest first.

The number of events is a counter moved with each insert, so the unfiltered trail's total
costs one read instead of a count of every row.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from sqlalchemy import select

from ...domain.models import AuditEvent
from . import schema as s
from . import statements as st
from .codec import encode
from .counters import SqlCounters
from .paging import numbered_page
from .ports import Page
from .session import Repository, Session


class SqlAudit(Repository):
    def __init__(self, session: Session, counters: SqlCounters) -> None:
        super().__init__(session)
        self.counters = counters

    async def insert_audit(self, events: Iterable[AuditEvent]) -> None:
        rows = [
            {
                "audit_event_id": e.audit_event_id,
                "trace_id": e.trace_id,
                "entity_type": e.entity_type,
                "entity_id": e.entity_id,
                "provenance": e.data_provenance,
                "doc": encode(e),
            }
            for e in events
        ]
        if rows:
            await self._exec(st.plain_insert("audit_events"), rows)
            await self.counters.bump("audit_events", len(rows))

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
        known_total = None if conds else int(await self.counters.counter("audit_events"))
        return await numbered_page(self.session, t, conds, page, page_size, AuditEvent, known_total)

    async def recent_audit(self, limit: int) -> list[AuditEvent]:
        t = s.audit_events
        return await self._docs(select(t.c.doc).order_by(t.c.seq.desc()).limit(limit), AuditEvent)
