"""Discovery sources (the approved registries and directories), stored once by ``source_id``."""

from __future__ import annotations

from sqlalchemy import select

from ...domain.discovery import DiscoverySource
from . import schema as s
from .codec import encode
from .dialect import insert_ignoring
from .session import Repository


class SqlDiscovery(Repository):
    async def insert_discovery_source(self, source: DiscoverySource) -> bool:
        stmt = insert_ignoring(self.kind, s.discovery_sources, ["source_id"]).values(
            source_id=source.source_id, doc=encode(source)
        )
        return (await self._exec(stmt)).rowcount == 1

    async def list_discovery_sources(self) -> list[DiscoverySource]:
        t = s.discovery_sources
        return await self._docs(select(t.c.doc).order_by(t.c.seq), DiscoverySource)
