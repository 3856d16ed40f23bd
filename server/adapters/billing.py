"""Billing gateways: the simulated one (default); the HTTP one is selected by BILLING_ADAPTER_URL."""

from __future__ import annotations

from ..domain.models import SettlementReceipt, SettlementRetryJob
from ..domain.billing import GatewayResult, simulated_outcome


class SimulatedGateway:
    """Settles everything but disputed settlements, as spec §8 describes."""

    mode = "simulated"

    async def submit(self, settlement: SettlementReceipt, job: SettlementRetryJob) -> GatewayResult:
        return simulated_outcome(settlement)

    async def close(self) -> None:
        return None
