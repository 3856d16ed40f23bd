"""The market: partners and their reputation, campaigns with their policy checks and committed spend.

Every change that alters what ranking sees moves the market version (one row), so each
process reloads its decoded market only when it moved (``services.exchange.MarketCache``).
Committed spend is the exception: it changes with every billable receipt and is read fresh.

``add_campaign_spend_within`` is the budget's guarantee: one ``UPDATE … WHERE
committed_spend + amount <= budget`` that the database evaluates against the latest
committed row (PostgreSQL re-checks it after waiting for a concurrent writer's lock; SQLite
writers are serial), so concurrent receipts can never take a campaign past its budget,
however many arrive at once.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update

from ...domain.models import Campaign, PartnerAgent, PolicyCheckResult, ReputationRecord
from . import schema as s
from . import statements as st
from .codec import decode, encode
from .dialect import insert_ignoring
from .session import Repository

# Amounts are binary floats: allow for their rounding when a payout exactly fills the budget.
BUDGET_EPSILON = 1e-6


class SqlMarket(Repository):
    # -- partners ----------------------------------------------------------
    async def insert_partner(self, partner: PartnerAgent) -> bool:
        stmt = insert_ignoring(self.kind, s.partners, ["partner_id"]).values(
            partner_id=partner.partner_id,
            status=partner.status,
            provenance=partner.data_provenance,
            doc=encode(partner),
        )
        inserted = (await self._exec(stmt)).rowcount == 1
        if inserted:
            await self.bump_market_version()
        return inserted

    async def update_partner(self, partner: PartnerAgent) -> None:
        await self._exec(
            update(s.partners)
            .where(s.partners.c.partner_id == partner.partner_id)
            .values(status=partner.status, provenance=partner.data_provenance, doc=encode(partner))
        )
        await self.bump_market_version()

    async def get_partner(self, partner_id: str) -> PartnerAgent | None:
        return await self._doc_by("partners", "partner_id", partner_id, PartnerAgent)

    async def list_partners(self, provenances: Sequence[str] = ()) -> list[tuple[PartnerAgent, int]]:
        """Partners in creation order with their number of disputed settlements."""
        t = s.partners
        stmt = select(t.c.doc, t.c.disputed_count).order_by(t.c.seq)
        if provenances:
            stmt = stmt.where(t.c.provenance.in_(list(provenances)))
        return [(decode(doc, PartnerAgent), int(n)) for doc, n in await self._exec(stmt)]

    async def add_partner_dispute(self, partner_id: str, delta: int) -> None:
        await self._exec(
            update(s.partners)
            .where(s.partners.c.partner_id == partner_id)
            .values(disputed_count=s.partners.c.disputed_count + delta)
        )
        await self.bump_market_version()

    # -- reputation --------------------------------------------------------
    async def insert_reputation(self, record: ReputationRecord) -> bool:
        stmt = insert_ignoring(self.kind, s.reputation_records, ["record_id"]).values(
            record_id=record.record_id, partner_id=record.partner_id, doc=encode(record)
        )
        inserted = (await self._exec(stmt)).rowcount == 1
        if inserted:
            await self.bump_market_version()
        return inserted

    async def list_reputation(self) -> list[ReputationRecord]:
        t = s.reputation_records
        return await self._docs(select(t.c.doc).order_by(t.c.seq), ReputationRecord)

    # -- campaigns and policy checks ---------------------------------------
    async def insert_campaign(self, campaign: Campaign) -> bool:
        stmt = insert_ignoring(self.kind, s.campaigns, ["campaign_id"]).values(
            campaign_id=campaign.campaign_id,
            offer_id=campaign.offer.offer_id,
            status=campaign.status,
            provenance=campaign.data_provenance,
            workspace_id=campaign.workspace_id,
            doc=encode(campaign),
        )
        inserted = (await self._exec(stmt)).rowcount == 1
        if inserted:
            await self.bump_market_version()
        return inserted

    async def update_campaign(self, campaign: Campaign) -> None:
        await self._exec(
            update(s.campaigns)
            .where(s.campaigns.c.campaign_id == campaign.campaign_id)
            .values(status=campaign.status, doc=encode(campaign))
        )
        await self.bump_market_version()

    async def get_campaign(self, campaign_id: str) -> Campaign | None:
        return await self._doc_by("campaigns", "campaign_id", campaign_id, Campaign)

    async def list_campaigns(self, provenances: Sequence[str] = ()) -> list[Campaign]:
        t = s.campaigns
        stmt = select(t.c.doc).order_by(t.c.seq)
        if provenances:
            stmt = stmt.where(t.c.provenance.in_(list(provenances)))
        return await self._docs(stmt, Campaign)

    async def insert_policy_check(self, check: PolicyCheckResult) -> None:
        await self._exec(
            s.policy_checks.insert().values(
                policy_check_id=check.policy_check_id, campaign_id=check.campaign_id, doc=encode(check)
            )
        )

    async def latest_policy_check(self, campaign_id: str) -> PolicyCheckResult | None:
        t = s.policy_checks
        stmt = select(t.c.doc).where(t.c.campaign_id == campaign_id).order_by(t.c.seq.desc()).limit(1)
        return await self._doc(stmt, PolicyCheckResult)

    # -- committed spend -----------------------------------------------------
    async def add_campaign_spend(self, campaign_id: str, delta: float) -> None:
        await self._exec(st.add_spend(), {"k": campaign_id, "delta": delta})

    async def add_campaign_spend_within(self, campaign_id: str, amount: float, budget: float) -> bool:
        """Commit ``amount`` of the campaign's budget; False (nothing written) when it would not fit."""
        result = await self._exec(
            st.add_spend_within(),
            {"k": campaign_id, "amount": amount, "budget": budget + BUDGET_EPSILON},
        )
        return result.rowcount == 1

    async def campaign_spend(self) -> dict[str, float]:
        return {cid: float(v) for cid, v in await self._exec(st.campaign_spend())}

    # -- market version ----------------------------------------------------
    async def market_version(self) -> int:
        row = (await self._exec(st.market_version())).first()
        return int(row[0]) if row else 0

    async def bump_market_version(self) -> None:
        t = s.market_version
        await self._exec(update(t).where(t.c.id == 1).values(version=t.c.version + 1))
