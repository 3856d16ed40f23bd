"""Buyer-agent leads, stored once by ``agent_id`` and filtered by indexed columns."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update

from ...domain.models import AgentLead
from . import schema as s
from .codec import encode
from .dialect import insert_ignoring
from .session import Repository


class SqlLeads(Repository):
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
        t = s.agent_leads
        return await self._doc(select(t.c.doc).where(t.c.agent_id == agent_id), AgentLead)

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
