"""What every service function works with: the store, hot state, billing gateway, clock and ids."""

from __future__ import annotations

import random
import secrets
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, TypedDict

from ..adapters.hot_state import HotState
from ..adapters.store.ports import Store
from ..domain.billing import GatewayResult
from ..domain.models import (
    ActorType,
    AuditEntityType,
    AuditEvent,
    AuditStatus,
    DataProvenance,
    SettlementReceipt,
    SettlementRetryJob,
)
from ..domain.ranking_config import DEFAULT_RANKING, RankingConfig, validate_ranking_config
from ..settings import ExchangeClock, Settings
from .access import current_caller


def utc_now() -> datetime:
    return datetime.now(UTC)


def evaluation_clock(
    setting: ExchangeClock, wall: Callable[[], datetime] = utc_now
) -> Callable[[], datetime] | None:
    """The clock ranking reads under ``EXCHANGE_CLOCK``; None for ``wall`` (``Services.clock`` then serves).

    ``offset`` starts at its time now (when this is called: at the process's start) and advances with
    ``wall``.
    """
    at = setting.at
    if setting.mode == "wall" or at is None:
        return None
    if setting.mode == "fixed":
        return lambda: at
    started = wall()
    return lambda: at + (wall() - started)


# The provenance of audit events whose writer does not name one (the demo bootstrap sets demo_bootstrap).
audit_provenance: ContextVar[DataProvenance] = ContextVar("audit_provenance", default="ops_manual")
# A seeded source of ids for code that must produce the same ids every time (the demo bootstrap).
seeded_ids: ContextVar[random.Random | None] = ContextVar("seeded_ids", default=None)


def new_id(prefix: str, hex_chars: int = 8) -> str:
    """Ids as the contract spells them: a prefix and random hex (``set_`` + 8 hex, …)."""
    rng = seeded_ids.get()
    if rng is not None:
        return prefix + f"{rng.getrandbits(hex_chars * 4):0{hex_chars}x}"
    return prefix + secrets.token_hex((hex_chars + 1) // 2)[:hex_chars]


class BillingGateway(Protocol):
    mode: str

    async def submit(self, settlement: SettlementReceipt, job: SettlementRetryJob) -> GatewayResult: ...

    async def close(self) -> None: ...


class AuditActor(TypedDict, total=False):
    """Who an audit event names and when it happened, as passed through to ``Services.audit``."""

    actor_type: ActorType
    actor_id: str
    at: datetime | None


@dataclass
class Services:
    """The collaborators of the use cases; built once per process (``server.app``)."""

    store: Store
    hot: HotState
    gateway: BillingGateway
    settings: Settings
    clock: Callable[[], datetime] = utc_now
    ranking: RankingConfig = DEFAULT_RANKING
    # EXCHANGE_CLOCK: what ranking measures proof freshness against (None: ``clock``).
    evaluation_clock: Callable[[], datetime] | None = None
    state: dict[str, Any] = field(default_factory=dict[str, Any])

    def __post_init__(self) -> None:
        # The ranking the exchange serves with passes the same validation as the workbench's
        # scenarios and lab: a bad weight or floor stops the start instead of skewing every shortlist.
        validate_ranking_config(self.ranking)

    def evaluation_now(self) -> datetime:
        """The time an opportunity is ranked at (``EXCHANGE_CLOCK``; the wall clock by default)."""
        return (self.evaluation_clock or self.clock)()

    def audit(
        self,
        *,
        trace_id: str,
        entity_type: AuditEntityType,
        entity_id: str,
        action: str,
        status: AuditStatus,
        actor_type: ActorType = "system",
        actor_id: str = "promotion-agent",
        details: dict[str, Any] | None = None,
        provenance: DataProvenance | None = None,
        at: datetime | None = None,
    ) -> AuditEvent:
        caller = current_caller.get()
        if caller is not None:  # a key authenticated the request: every event it writes names that key
            actor_id = caller.name
        return AuditEvent(
            audit_event_id=new_id("aud_", 16),
            data_provenance=provenance or audit_provenance.get(),
            trace_id=trace_id,
            entity_type=entity_type,
            entity_id=entity_id,
            action=action,
            status=status,
            actor_type=actor_type,
            actor_id=actor_id,
            details=details or {},
            occurred_at=at or self.clock(),
        )

    async def close(self) -> None:
        stripe = self.state.pop("stripe", None)  # the Stripe client, when a top-up made one
        if stripe is not None:
            await stripe.close()
        await self.gateway.close()
        await self.hot.close()
        await self.store.close()
