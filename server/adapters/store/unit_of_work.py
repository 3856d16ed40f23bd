"""The unit of work: one transaction, with a repository per aggregate over its one connection.

``store.SqlStore`` opens the transaction, hands a ``SqlUnitOfWork`` to the caller's function,
and calls ``flush`` just before it commits. The repositories that keep derived numbers share
the unit of work's one ``counters``, whose bumps ``flush`` writes as one statement. (Making
all of them up front costs less than making the ones a receipt uses on first use: ~7 µs.)
"""

from __future__ import annotations

from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection

from .audit import SqlAudit
from .counters import SqlCounters
from .dead_letters import SqlDeadLetters
from .discovery import SqlDiscovery
from .leads import SqlLeads
from .market import SqlMarket
from .outreach import SqlOutreach
from .receipts import SqlReceipts
from .retry_jobs import SqlRetryJobs
from .session import Session
from .settlements import SqlSettlements
from .wallet import SqlWallets


class SqlUnitOfWork:
    """Implements ``ports.UnitOfWork``."""

    def __init__(self, conn: AsyncConnection | Connection, kind: str) -> None:
        session = Session(conn, kind)
        self.counters = SqlCounters(session)
        self.market = SqlMarket(session)
        self.receipts = SqlReceipts(session)
        self.settlements = SqlSettlements(session, self.market, self.counters)
        self.retry_jobs = SqlRetryJobs(session, self.counters)
        self.dead_letters = SqlDeadLetters(session, self.counters)
        self.leads = SqlLeads(session)
        self.discovery = SqlDiscovery(session)
        self.audit = SqlAudit(session, self.counters)
        self.wallets = SqlWallets(session)
        self.outreach = SqlOutreach(session)

    async def flush(self) -> None:
        """Write what the repositories kept for the commit (the counters' bumps)."""
        await self.counters.flush()
