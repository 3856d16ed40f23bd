"""Loading the default seed (``data/seed.json``, or ``SEED_PATH``) into an empty database.

Besides the market (leads, partners, campaigns, reputation records) a seed may give
workspaces their starting credits: ``"wallets": [{"workspaceId": "...",
"availableCredits": 12.5}]`` creates each listed workspace's wallet with that balance
(a ``seed_grant`` ledger entry) instead of the 100-credit promo grant of first use. A
workspace that already has a wallet keeps it.

A seed may also hold ``settlements`` made before the database existed (API format):
they give campaigns their committed spend and partners their disputed settlements,
exactly as settlements made here do (``uow.settlements.record_existing``). Other keys are
ignored.
"""

from __future__ import annotations

from pathlib import Path

import msgspec

from ..adapters.store.ports import UnitOfWork
from ..domain.models import AgentLead, Base, Campaign, PartnerAgent, ReputationRecord, SettlementReceipt
from .context import Services
from .wallet import SeedWallet, seed_wallets

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class SeedFile(Base, kw_only=True):
    leads: list[AgentLead] = []
    partners: list[PartnerAgent] = []
    campaigns: list[Campaign] = []
    reputation_records: list[ReputationRecord] = []
    wallets: list[SeedWallet] = []
    settlements: list[SettlementReceipt] = []


class SeedError(ValueError):
    pass


def resolve_seed_path(path: str) -> Path:
    candidate = Path(path)
    if not candidate.is_absolute() and not candidate.exists():
        candidate = PROJECT_ROOT / path
    return candidate


def read_seed(path: str) -> SeedFile:
    file = resolve_seed_path(path)
    try:
        seed = msgspec.json.decode(file.read_bytes(), type=SeedFile)
    except FileNotFoundError:
        raise SeedError(f"seed file {file} does not exist") from None
    except msgspec.ValidationError as exc:
        raise SeedError(f"seed file {file}: {exc}") from None
    except msgspec.DecodeError as exc:
        raise SeedError(f"seed file {file} is not valid JSON: {exc}") from None
    seen: set[str] = set()
    for i, wallet in enumerate(seed.wallets):
        if wallet.workspace_id in seen:
            raise SeedError(
                f"seed file {file}: workspace {wallet.workspace_id!r} is listed twice - at `$.wallets[{i}]`"
            )
        seen.add(wallet.workspace_id)
    return seed


async def database_is_empty(svc: Services) -> bool:
    async def work(uow: UnitOfWork) -> bool:
        return not await uow.market.list_partners() and not await uow.market.list_campaigns()

    return await svc.store.read(work)


async def load_seed(svc: Services, seed: SeedFile) -> dict[str, int]:
    """Insert every seed record that is not stored yet (safe to run twice)."""

    async def work(uow: UnitOfWork) -> dict[str, int]:
        counts = {
            "leads": 0,
            "partners": 0,
            "campaigns": 0,
            "reputationRecords": 0,
            "wallets": 0,
            "settlements": 0,
        }
        for lead in seed.leads:
            counts["leads"] += await uow.leads.insert_lead(lead)
        for partner in seed.partners:
            counts["partners"] += await uow.market.insert_partner(partner)
        for campaign in seed.campaigns:
            counts["campaigns"] += await uow.market.insert_campaign(campaign)
        for record in seed.reputation_records:
            counts["reputationRecords"] += await uow.market.insert_reputation(record)
        counts["wallets"] = await seed_wallets(uow, seed.wallets, svc.clock())
        for settlement in seed.settlements:
            counts["settlements"] += await uow.settlements.record_existing(settlement)
        return counts

    return await svc.store.write(work)
