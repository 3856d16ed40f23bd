"""Before a replay against someone else's server: compare its ranking, provision the scenario's market.

``config_differences`` says, one sentence each, where the server's weights, default
floors and evaluation clock (``GET /system/ranking-config``) differ from the scenario's.
``provision`` creates the scenario's partners and campaigns through the API, idempotent
by id: ``POST /partners`` upserts each partner; each campaign is ``POST /campaigns``
with its own ``campaignId`` (the same draft again is the same campaign), then, when
the scenario has it active, activated (approved first when its review asks for an
operator). Both need an operator key on a server with API keys.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec

from server.domain.models import Campaign
from server.domain.ranking_config import FLOOR_NAMES, WEIGHT_NAMES
from workbench.app.client import ApiClient, ApiError
from workbench.engine.scenario import Scenario

Say = Callable[[str], None]
APPROVAL_NOTE = "Provisioned from a workbench scenario, where this campaign is active."


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _when(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (AttributeError, ValueError):
        return None


def scenario_clock(scenario: Scenario) -> str:
    return "fixed:" + scenario.spec.as_of.isoformat().replace("+00:00", "Z")


def config_differences(scenario: Scenario, config: dict[str, Any]) -> list[str]:
    """Where the server's ranking (its ``GET /system/ranking-config``) differs from the scenario's."""
    out: list[str] = []
    cfg = scenario.ranking
    for table, names in (("weights", WEIGHT_NAMES), ("floors", FLOOR_NAMES)):
        for name in names:
            mine = getattr(getattr(cfg, table), name)
            theirs = config.get(table, {}).get(_camel(name))
            if theirs != mine:
                out.append(f"{table}.{name}: the server uses {theirs!r}, the scenario {mine:g}")
    want, clock = scenario_clock(scenario), config.get("clock")
    kind, _, text = str(clock).partition(":")
    if not (kind == "fixed" and _when(text) == scenario.spec.as_of):
        at = config.get("evaluatedAt", "?")
        if clock == "wall":
            out.append(
                f"clock: the server ranks at the wall clock (now {at}), the scenario at {want[6:]}: "
                "proof freshness, and so trust and utility, differ"
            )
        else:
            out.append(
                f"clock: the server's is {clock} (now {at}), the scenario ranks everything at {want[6:]}"
            )
    return out


def campaign_draft(campaign: Campaign) -> dict[str, Any]:
    """The ``POST /campaigns`` draft of a scenario campaign, with its own ``campaignId``.

    The server compiles the offer from it (title, narrative variants) and dates the proof bundle
    when it creates the campaign, so those can differ from the scenario's."""
    c, offer = campaign, campaign.offer
    draft = {
        "campaignId": c.campaign_id,
        "workspaceId": c.workspace_id,
        "advertiser": c.advertiser,
        "externalRef": c.external_ref,
        "sourceDocumentUrl": c.source_document_url,
        "category": c.category,
        "regions": list(c.regions),
        "billingModel": c.billing_model,
        "payoutAmount": c.payout_amount,
        "currency": c.currency,
        "budget": c.budget,
        "disclosureText": c.disclosure_text,
        "minTrust": c.min_trust,
        "targetingPartnerIds": list(c.targeting_partner_ids),
        "linkBundle": msgspec.to_builtins(c.link_bundle),
        "dataProvenance": c.data_provenance,
        "product": {
            "name": offer.title,
            "description": offer.description,
            "price": offer.price,
            "currency": offer.currency,
            "intendedFor": list(offer.intended_for),
            "constraints": dict(offer.constraints),
            "claims": list(offer.claims),
            "actionEndpoints": list(offer.action_endpoints),
        },
        "proofReferences": msgspec.to_builtins(list(c.proof_bundle.references)),
    }
    return {k: v for k, v in draft.items() if v is not None}


def _same_campaign(stored: dict[str, Any] | None, campaign: Campaign) -> bool:
    """Whether the server's campaign is the scenario's, but for its status (the seed's campaigns are)."""
    if stored is None:
        return False
    life = ("status", "policyPass")
    mine = {k: v for k, v in msgspec.to_builtins(campaign).items() if k not in life}
    return {k: v for k, v in stored.items() if k not in life} == mine


@dataclass
class Provisioned:
    partners: Counter = field(default_factory=Counter)  # created, updated (or unchanged)
    campaigns: Counter = field(default_factory=Counter)  # created, existing, activated, approved, …
    problems: list[str] = field(default_factory=list)

    def describe(self) -> str:
        p, c = self.partners, self.campaigns
        text = (
            f"{p['created'] + p['existing']} partners ({p['created']} created, {p['existing']} "
            f"updated or unchanged), {c['created'] + c['existing']} campaigns ({c['created']} created, "
            f"{c['existing']} already there), {c['activated']} activated"
        )
        if c["approved"]:
            text += f" ({c['approved']} approved after a manual review)"
        if self.problems:
            text += f", {len(self.problems)} refused"
        return text


async def provision(client: ApiClient, scenario: Scenario) -> Provisioned:
    """Create or update the scenario's partners and campaigns on the server (see the module).

    A refusal of one entity (400, 409) is recorded and the others go on; an unreachable server or a
    refused key (401/403) raises ``ApiError``."""
    done = Provisioned()

    def refused(what: str, exc: ApiError) -> None:
        if exc.unreachable or exc.refused_key:
            raise exc
        done.problems.append(f"{what}: {exc.message}")

    for partner in scenario.partners:
        try:
            _, created = await client.upsert_partner(msgspec.to_builtins(partner))
        except ApiError as exc:
            refused(f"partner {partner.partner_id}", exc)
            continue
        done.partners["created" if created else "existing"] += 1
    try:
        stored = {c["campaignId"]: c for c in await client.campaigns()}
    except ApiError as exc:
        refused("GET /campaigns", exc)
        stored = {}
    for campaign in scenario.campaigns:
        cid = campaign.campaign_id
        try:
            if _same_campaign(stored.get(cid), campaign):  # there already as the scenario has it (a seed)
                answer, created = {"campaign": stored[cid], "policyCheck": None}, False
            else:
                answer, created = await client.create_campaign(campaign_draft(campaign))
            done.campaigns["created" if created else "existing"] += 1
            if campaign.status != "active" or answer["campaign"]["status"] == "active":
                continue
            check = answer["policyCheck"] or {}
            if check.get("decision") == "manual_review" and not answer["campaign"]["policyPass"]:
                await client.review_campaign(cid, "approve", APPROVAL_NOTE)
                done.campaigns["approved"] += 1
            await client.activate_campaign(cid)
            done.campaigns["activated"] += 1
        except ApiError as exc:
            refused(f"campaign {cid}", exc)
    return done


async def prepare_server(client: ApiClient, scenario: Scenario, with_provisioning: bool, say: Say) -> None:
    """What ``workbench replay --api`` does before it sends anything: compare, then provision."""
    try:
        config = await client.ranking_config()
    except ApiError as exc:
        if exc.unreachable or exc.refused_key:
            raise
        say(
            f"the server does not report its ranking config ({exc.message}): its weights, floors and clock "
            "cannot be compared with the scenario's"
        )
    else:
        differences = config_differences(scenario, config)
        if differences:
            say(f"the server ranks differently from {scenario.name}:")
            for line in differences:
                say(f"  {line}")
        else:
            say(f"the server ranks with {scenario.name}'s weights, floors and clock ({config.get('clock')})")
    if not with_provisioning:
        say("not provisioning (--no-provision): the server's own partners and campaigns take the traffic")
        return
    try:
        done = await provision(client, scenario)
    except ApiError as exc:
        if exc.status != 403:
            raise
        # an agent key may replay but not provision: say so, and replay against the server's own market
        say(f"not provisioned: {exc.message}")
        return
    say(f"provisioned {done.describe()}")
    for problem in done.problems[:10]:
        say(f"  refused: {problem}")
    if done.campaigns["created"]:
        say(
            "  (campaigns created through the API have the offer text the server compiles and a proof bundle "
            "dated today: their scores can differ from the batch's)"
        )
