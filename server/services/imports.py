"""Imports of receipts, campaigns and partners from files, through the same services as the API.

A file is the original JSON format (an array, or an object holding the array under
``receipts`` / ``campaigns`` / ``partners``, extra fields ignored) or JSON Lines (one item
per line). The whole file is validated first, every bad item reported with its index
(0-based; for JSON Lines the line number minus one) and field. A file with a bad item
imports nothing unless ``skip_invalid``, which imports the rest and reports what it skipped.

Re-importing a file is idempotent: receipts by ``receiptId`` (the receipt service's exactly-
once path), partners by ``partnerId`` and campaigns by ``campaignId`` (given, or derived from
the workspace and ``externalRef``, else from the item's content), all held by unique
constraints. In real_test every imported record carries the real provenance.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from typing import Any, Literal, TypeVar

import msgspec

from ..adapters.store.ports import UnitOfWork
from ..domain import policy
from ..domain import receipts as receipt_rules
from ..domain.discovery import on_registry_host, registry_hosts
from ..domain.errors import Conflict, DomainError
from ..domain.leads import promotion_blockers
from ..domain.models import (
    AgentLead,
    Base,
    CampaignDraft,
    DataProvenance,
    EventReceipt,
    Id,
    PartnerAgent,
)
from . import campaigns as campaign_service
from . import lanes
from . import partners as partner_service
from . import receipts as receipt_service
from .context import Services

Kind = Literal["receipts", "campaigns", "partners"]
_S = TypeVar("_S", bound=msgspec.Struct)
KINDS: tuple[Kind, ...] = ("receipts", "campaigns", "partners")
RECEIPT_CONCURRENCY = 32  # receipts in flight at once: the store commits concurrent writes together
REAL_PROVENANCE = {"receipts": "real_event", "campaigns": "real_campaign", "partners": "real_partner"}


class ImportFileError(ValueError):
    """The file cannot be read as JSON or JSON Lines at all (exit 2)."""


class ItemError(Base, kw_only=True):
    index: int
    field: str | None = None
    message: str


class ImportSummary(Base, kw_only=True):
    kind: str
    imported_count: int = 0
    skipped_count: int = 0
    duplicate_count: int = 0
    errors: list[ItemError] = []
    activated_count: int | None = None


# --- what an item may say, per kind (the API's types, with the import's defaults) -------------------


class ReceiptItem(EventReceipt, kw_only=True):
    data_provenance: DataProvenance = "real_event"


class CampaignItem(CampaignDraft, kw_only=True):
    campaign_id: Id | None = None
    offer_id: Id | None = None
    activate: bool = False


class PartnerItem(PartnerAgent, kw_only=True):
    data_provenance: DataProvenance = "real_partner"


class _OccurredAtText(Base, kw_only=True):
    occurred_at: Any = None


_ITEM_TYPES: dict[str, type[Base]] = {
    "receipts": ReceiptItem,
    "campaigns": CampaignItem,
    "partners": PartnerItem,
}


class _Wrapped(Base, kw_only=True):
    receipts: list[msgspec.Raw] | None = None
    campaigns: list[msgspec.Raw] | None = None
    partners: list[msgspec.Raw] | None = None


# --- reading -----------------------------------------------------------------------------------------


def split_items(data: bytes, kind: Kind) -> list[msgspec.Raw | ItemError]:
    """The file's items, undecoded; a JSON Lines line that is not JSON becomes an ``ItemError``."""
    text = data.lstrip()
    if not text:
        raise ImportFileError("the file is empty: expected a JSON array or JSON Lines")
    if text[:1] == b"[":
        try:
            array: list[msgspec.Raw | ItemError] = list(msgspec.json.decode(data, type=list[msgspec.Raw]))
        except msgspec.DecodeError as exc:
            raise ImportFileError(f"the file is not a valid JSON array: {exc}") from None
        if not array:
            raise ImportFileError("the file holds an empty array: nothing to import")
        return array
    if text[:1] == b"{":
        try:
            wrapped = msgspec.json.decode(data, type=_Wrapped)
        except (msgspec.DecodeError, msgspec.ValidationError):
            wrapped = None  # several lines of JSON: JSON Lines
        else:
            found: list[msgspec.Raw] | None = getattr(wrapped, kind)
            if found is not None:
                return list(found)
            if data.strip().count(b"\n") == 0:
                return [msgspec.Raw(data.strip())]  # one item on one line
    items: list[msgspec.Raw | ItemError] = []
    for index, line in enumerate(data.splitlines()):
        if not line.strip():
            continue
        try:
            msgspec.json.decode(line)
        except msgspec.DecodeError as exc:
            items.append(ItemError(index=index, message=f"line {index + 1} is not valid JSON: {exc}"))
            continue
        items.append(msgspec.Raw(line))
    if not items:
        raise ImportFileError("the file holds no items: expected a JSON array or JSON Lines")
    return items


def _field_of(message: str) -> str | None:
    from ..api.errors import field_from  # the API's reading of msgspec's messages: the same field names

    return field_from(message, None)


class Validated(Base, kw_only=True):
    index: int
    item: Any
    occurred_at_text: str | None = None


def decode_items(raws: list[msgspec.Raw | ItemError], kind: Kind) -> tuple[list[Validated], list[ItemError]]:
    """Decode every item strictly (as the API decodes a body); errors per item with index and field."""
    item_type = _ITEM_TYPES[kind]
    decoder = msgspec.json.Decoder(item_type)
    good: list[Validated] = []
    errors: list[ItemError] = []
    for index, raw in enumerate(raws):
        if isinstance(raw, ItemError):
            errors.append(raw)
            continue
        try:
            item = decoder.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            errors.append(ItemError(index=index, field=_field_of(str(exc)), message=str(exc)))
            continue
        text = None
        if kind == "receipts":
            seen = msgspec.json.decode(raw, type=_OccurredAtText).occurred_at
            text = seen if isinstance(seen, str) else None
        good.append(Validated(index=index, item=item, occurred_at_text=text))
    return good, errors


# --- checking against the exchange's rules and records ------------------------------------------------


def _as(struct_type: type[_S], item: Any, **changes: Any) -> _S:
    fields = {f: getattr(item, f) for f in struct_type.__struct_fields__}
    fields.update(changes)
    return struct_type(**fields)


async def check_items(
    svc: Services, kind: Kind, items: list[Validated]
) -> tuple[list[Validated], list[ItemError]]:
    """The rules the services would apply, checked up front so that a bad item stops the whole file."""
    real = svc.settings.real_data_only
    errors: list[ItemError] = []
    ok: list[Validated] = []
    if kind == "receipts":
        known = await svc.store.read(_references)
        for v in items:
            receipt = _as(EventReceipt, v.item, **({"data_provenance": "real_event"} if real else {}))
            problem = _receipt_problem(receipt, known, svc)
            if problem:
                errors.append(ItemError(index=v.index, field=problem[0], message=problem[1]))
            else:
                ok.append(Validated(index=v.index, item=receipt, occurred_at_text=v.occurred_at_text))
    elif kind == "campaigns":
        for v in items:
            item: CampaignItem = v.item
            if real:
                item = msgspec.structs.replace(item, data_provenance="real_campaign")
            found = policy.find_placeholder(item)
            if found is not None:
                errors.append(
                    ItemError(
                        index=v.index,
                        field=found[0],
                        message=f"{found[0]} looks like placeholder data ({found[1]!r}); "
                        "a real value is needed.",
                    )
                )
            elif real and item.data_provenance.startswith("demo_"):
                errors.append(
                    ItemError(index=v.index, field="dataProvenance", message="demo data in real_test")
                )
            else:
                ok.append(Validated(index=v.index, item=item))
    else:
        for v in items:
            partner = _as(PartnerAgent, v.item, **({"data_provenance": "real_partner"} if real else {}))
            ok.append(Validated(index=v.index, item=partner))
    return ok, errors


async def _references(uow: UnitOfWork) -> tuple[dict[str, str], set[str]]:
    offers = {c.campaign_id: c.offer.offer_id for c in await uow.market.list_campaigns()}
    partners = {p.partner_id for p, _ in await uow.market.list_partners()}
    return offers, partners


def _receipt_problem(
    receipt: EventReceipt, known: tuple[dict[str, str], set[str]], svc: Services
) -> tuple[str, str] | None:
    offers, partners = known
    try:
        normal = receipt_rules.normalise_receipt(receipt)
        receipt_rules.check_occurred_at(normal, svc.clock())
    except DomainError as exc:
        return exc.field or "", exc.message
    if receipt.campaign_id not in offers:
        return "campaignId", f"campaignId {receipt.campaign_id!r} is not a known campaign."
    if offers[receipt.campaign_id] != receipt.offer_id:
        return "offerId", (
            f"offerId {receipt.offer_id!r} is not the offer of campaign {receipt.campaign_id!r} "
            f"(expected {offers[receipt.campaign_id]!r})."
        )
    if receipt.partner_id not in partners:
        return "partnerId", f"partnerId {receipt.partner_id!r} is not a known partner."
    return None


# --- importing ---------------------------------------------------------------------------------------


Progress = Callable[[int], None]


async def import_items(
    svc: Services,
    kind: Kind,
    items: list[Validated],
    summary: ImportSummary,
    progress: Progress | None = None,
) -> None:
    """Import checked items through the services; counts new ones and duplicates into ``summary``."""
    if kind == "receipts":
        await _import_receipts(svc, items, summary, progress)
        return
    for v in items:
        if kind == "campaigns":
            await _import_campaign(svc, v.item, summary)
        else:
            new = await partner_service.save_partner(svc, v.item, action="partner.imported")
            _count(summary, new)
        if progress:
            progress(1)


def _count(summary: ImportSummary, new: bool) -> None:
    if new:
        summary.imported_count += 1
    else:
        summary.duplicate_count += 1


async def _import_receipts(
    svc: Services, items: list[Validated], summary: ImportSummary, progress: Progress | None
) -> None:
    gate = asyncio.Semaphore(RECEIPT_CONCURRENCY)

    async def one(v: Validated) -> None:
        async with gate:
            result = await receipt_service.record_receipt(svc, v.item, occurred_at_text=v.occurred_at_text)
        _count(summary, not result.deduplicated)
        if progress:
            progress(1)

    await asyncio.gather(*(one(v) for v in items))


def stable_campaign_ids(item: CampaignItem) -> tuple[str, str]:
    """The campaign and offer ids of an imported campaign: given, or derived so that a re-import finds them."""
    if item.campaign_id:
        return item.campaign_id, item.offer_id or "offer_" + hashlib.sha256(
            item.campaign_id.encode()
        ).hexdigest()[:8]
    if item.external_ref:
        basis = f"{item.workspace_id or ''}\x00{item.external_ref}".encode()
    else:
        basis = msgspec.json.encode(msgspec.structs.replace(item, activate=False), order="sorted")
    digest = hashlib.sha256(basis).hexdigest()
    return "cmp_" + digest[:8], item.offer_id or "offer_" + digest[8:16]


async def _import_campaign(svc: Services, item: CampaignItem, summary: ImportSummary) -> None:
    campaign_id, offer_id = stable_campaign_ids(item)
    draft = _as(CampaignDraft, item)
    try:
        await campaign_service.create_campaign(svc, draft, campaign_id=campaign_id, offer_id=offer_id)
    except Conflict:
        summary.duplicate_count += 1
        return
    summary.imported_count += 1
    if item.activate:
        result = await campaign_service.activate_campaign(svc, campaign_id)
        summary.activated_count = (summary.activated_count or 0) + int(result.activated)


async def promote_discovered_leads(svc: Services, summary: ImportSummary) -> None:
    """``import partners`` without a file: promote every eligible ``real_discovery`` lead."""
    hosts = registry_hosts(await lanes.discovery_sources(svc))
    leads = await partner_service.list_leads(svc, partner_service.LeadFilter(provenances=["real_discovery"]))
    for index, lead in enumerate(leads):
        reason = _not_promotable(lead, hosts)
        if reason:
            summary.skipped_count += 1
            summary.errors.append(
                ItemError(index=index, field=reason[0], message=f"{lead.agent_id}: {reason[1]}")
            )
            continue
        try:
            await partner_service.promote_lead(svc, lead.agent_id, None)
        except Conflict:
            summary.duplicate_count += 1
            continue
        summary.imported_count += 1


def _not_promotable(lead: AgentLead, hosts: set[str]) -> tuple[str, str] | None:
    blockers = promotion_blockers(lead)
    if blockers:
        return blockers[0].split(" ")[0], "; ".join(blockers)
    if on_registry_host(lead.endpoint_url, hosts):
        return "endpointUrl", f"endpointUrl {lead.endpoint_url} is on a registry's own host, not the agent's"
    return None
