"""The exchange's entities as msgspec Structs: snake_case inside, camelCase on the wire.

These are both the domain types and the wire types (spec/exchange.md §1). Field
constraints that the spec states (0..1 scores, positive amounts, non-empty lists)
are declared with ``msgspec.Meta`` so that decoding bad input fails with a
message naming the field path.

Longer than 400 lines on purpose: the wire contract in the spec's order, read top to bottom
(enumerations and constrained field types, then each entity); split by resource, one
contract would be spread over many files that all import each other's types.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

# ---------------------------------------------------------------------------
# Enumerations
# ---------------------------------------------------------------------------

DataProvenance = Literal[
    "demo_seed",
    "demo_bootstrap",
    "real_discovery",
    "real_partner",
    "real_campaign",
    "real_event",
    "sandbox_settlement",
    "ops_manual",
]
PartnerStatus = Literal["new", "reviewing", "verified", "active", "suspended"]
BillingModel = Literal["CPQR", "CPA"]
CampaignStatus = Literal["draft", "reviewing", "active", "paused", "rejected"]
PolicyDecision = Literal["pass", "fail", "manual_review"]
SettlementStatus = Literal["pending", "processing", "retry_scheduled", "settled", "disputed", "failed"]
RetryJobStatus = Literal["queued", "processing", "retry_scheduled", "completed", "failed", "cancelled"]
DlqStatus = Literal["open", "replayed", "resolved", "ignored"]
ProviderState = Literal["accepted", "settled", "retry", "failed"]
DisputeStatus = Literal["none", "under_review", "resolved", "overturned"]
ProofType = Literal["doc", "faq", "case_study", "certificate", "screenshot"]
AuditEntityType = Literal[
    "campaign", "policy_check", "opportunity", "delivery", "receipt", "settlement", "idempotency", "cache"
]
AuditStatus = Literal["started", "success", "failure", "deduplicated", "cache_hit", "cache_miss", "blocked"]
ActorType = Literal["system", "api", "buyer_agent", "seller_agent", "operator"]
Environment = Literal["prod", "staging", "test"]

CANONICAL_EVENT_TYPES: tuple[str, ...] = (
    "offer.shortlisted",
    "offer.presented",
    "owner.viewed",
    "owner.interacted",
    "conversion.attributed",
)
EXTRA_EVENT_TYPES: tuple[str, ...] = (
    "delivery.sent",
    "delivery.received",
    "delivery.validated",
    "offer.ingested",
    "offer.eligible",
)
# Every event type a receipt may name: the canonical and extra types and the accepted aliases
# (mapped on input by ``domain.receipts.canonical_event_type``).
EventType = Literal[
    "offer.shortlisted",
    "offer.presented",
    "owner.viewed",
    "owner.interacted",
    "conversion.attributed",
    "delivery.sent",
    "delivery.received",
    "delivery.validated",
    "offer.ingested",
    "offer.eligible",
    "shortlisted",
    "presented",
    "shown",
    "viewed",
    "detail_view",
    "interacted",
    "handoff",
    "conversion",
]

UnitInterval = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0.0)]
Positive = Annotated[float, msgspec.Meta(gt=0.0)]
NonEmptyStr = Annotated[str, msgspec.Meta(min_length=1)]
# Patterns are written to mean the same in Python's ``re`` (which msgspec applies) and in the
# ECMA-262 dialect of JSON Schema (which clients and contract fuzzers apply): explicit character
# classes instead of ``\s``/``\S``, whose members differ between the two, and ``$(?!\n)`` for the
# end of text, since Python's ``$`` also matches before a final newline.
END = r"$(?!\n)"
CurrencyCode = Annotated[str, msgspec.Meta(pattern="^[A-Za-z]{3}" + END)]

# Identifiers are stored in indexed columns (varchar(200) on PostgreSQL, which also refuses NUL):
# both limits are part of the contract, so a longer id is a 400 naming the field, never a 500.
ID_MAX_LENGTH = 200
NO_NUL = "^[^\\x00]*$"
Id = Annotated[str, msgspec.Meta(min_length=1, max_length=ID_MAX_LENGTH, pattern=NO_NUL)]
# An optional id that earlier clients may send blank (blank means "not given", spec §1 defaults).
OptionalId = Annotated[str, msgspec.Meta(max_length=ID_MAX_LENGTH, pattern=NO_NUL)]
# Text that must say something: at least one character that ``str.strip()`` keeps (the class lists
# exactly the characters for which ``str.isspace()`` is true).
_WHITE_SPACE = "\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000"
Text = Annotated[str, msgspec.Meta(pattern=f"[^{_WHITE_SPACE}]")]
# An absolute http(s) URL with a host, without spaces or control characters.
HttpUrl = Annotated[str, msgspec.Meta(pattern="^https?://[^\\x00-\\x20\\x7f/?#]+[^\\x00-\\x20\\x7f]*" + END)]
# Money and prices: finite amounts (a bound keeps a float from reaching infinity on the way).
MAX_AMOUNT = 1e12
Amount = Annotated[float, msgspec.Meta(gt=0.0, le=MAX_AMOUNT)]
Price = Annotated[float, msgspec.Meta(ge=0.0, le=MAX_AMOUNT)]


def constrained_list(item: Any, *, min_length: int | None = None) -> Any:
    """``list[item]``, with ``item``'s own constraints also written into the OpenAPI document.

    (Litestar documents the constraints of a field, not those of a list's items, so the
    items' JSON schema, as msgspec states it, is passed along explicitly.)
    """
    return Annotated[
        list[item],
        msgspec.Meta(
            min_length=min_length, extra_json_schema={"extra": {"items": msgspec.json.schema(item)}}
        ),
    ]


# Lists whose items carry constraints (above). To a type checker each is the plain list; at runtime the
# annotation also carries the items' JSON schema for the OpenAPI document (``constrained_list``).
if TYPE_CHECKING:
    TextList = list[str]
    UrlList = list[str]
    NameList = list[str]
    IdList = list[str]
else:
    TextList = constrained_list(Text, min_length=1)
    UrlList = constrained_list(HttpUrl, min_length=1)
    NameList = constrained_list(NonEmptyStr, min_length=1)
    IdList = constrained_list(Id)


class Base(msgspec.Struct, rename="camel", kw_only=True, forbid_unknown_fields=False):
    """Common base: camelCase on the wire, keyword-only construction."""


# ---------------------------------------------------------------------------
# Buyer agents
# ---------------------------------------------------------------------------


class AgentLead(Base, kw_only=True):
    agent_id: str
    data_origin: Literal["seed", "discovered"]
    data_provenance: DataProvenance
    source: str
    source_type: Literal["public_registry", "partner_directory"]
    source_ref: str
    provider_org: str
    card_url: str
    verticals: list[str] = []
    skills: list[str] = []
    geo: list[str] = []
    auth_modes: list[str] = []
    accepts_sponsored: bool = False
    supports_disclosure: bool = False
    supports_delivery_receipt: bool = False
    supports_presentation_receipt: bool = False
    trust_seed: UnitInterval = 0.0
    lead_score: UnitInterval = 0.0
    reach_proxy: float = 0.0
    monetization_readiness: float = 0.0
    discovered_at: datetime
    last_seen_at: datetime
    endpoint_url: str | None = None
    contact_ref: str | None = None
    missing_fields: list[str] = []
    verification_status: PartnerStatus = "new"
    last_verified_at: datetime | None = None
    verification_owner: str | None = None
    evidence_ref: str | None = None
    assigned_owner: str | None = None
    notes: str = ""
    dedupe_key: str = ""
    score_breakdown: dict[str, float] | None = None


class PartnerAgent(Base, kw_only=True):
    partner_id: NonEmptyStr
    agent_lead_id: str | None = None
    data_provenance: DataProvenance
    provider_org: str
    endpoint: str
    status: PartnerStatus
    supported_categories: list[str] = []
    accepts_sponsored: bool = False
    supports_disclosure: bool = False
    supports_delivery_receipt: bool = False
    supports_presentation_receipt: bool = False
    trust_score: UnitInterval
    auth_modes: list[str] = []
    sla_tier: str = "standard"
    last_verified_at: datetime | None = None
    verification_owner: str | None = None
    evidence_ref: str | None = None


class PartnerView(PartnerAgent, kw_only=True):
    """A partner as the API shows it: ``trustScore`` is the governed trust (as the original
    answered), ``baseTrustScore`` the stored one it is derived from."""

    base_trust_score: UnitInterval


# ---------------------------------------------------------------------------
# Offers and campaigns
# ---------------------------------------------------------------------------


class NarrativeVariants(Base, kw_only=True):
    rational: str = ""
    premium: str = ""
    simple: str = ""


class OfferCard(Base, kw_only=True):
    offer_id: NonEmptyStr
    title: str
    description: str = ""
    price: NonNegative
    currency: CurrencyCode
    intended_for: list[str] = []
    constraints: dict[str, Any] = {}
    claims: list[str] = []
    action_endpoints: list[str] = []
    narrative_variants: NarrativeVariants = msgspec.field(default_factory=NarrativeVariants)


class ProofReference(Base, kw_only=True):
    label: NonEmptyStr
    type: ProofType
    url: NonEmptyStr


class ProofReferenceDraft(ProofReference, kw_only=True):
    """A proof reference as a draft submits it: the URL must be an http(s) URL."""

    url: HttpUrl


class ProofBundle(Base, kw_only=True):
    proof_bundle_id: str
    references: list[ProofReference] = []
    updated_at: datetime


class LinkBundle(Base, kw_only=True):
    homepage_url: str | None = None
    product_detail_url: str | None = None
    proof_url: str | None = None
    conversion_url: str | None = None
    contact_url: str | None = None


class Campaign(Base, kw_only=True):
    campaign_id: NonEmptyStr
    data_provenance: DataProvenance
    workspace_id: str = "workspace_default"
    promotion_plan_id: str | None = None
    advertiser: str
    external_ref: str | None = None
    source_document_url: str | None = None
    category: str
    regions: list[str]
    targeting_partner_ids: list[str] = []
    billing_model: BillingModel
    payout_amount: Positive
    currency: CurrencyCode
    budget: Positive
    status: CampaignStatus
    disclosure_text: str = ""
    policy_pass: bool = False
    min_trust: UnitInterval = 0.65
    link_bundle: LinkBundle = msgspec.field(default_factory=LinkBundle)
    offer: OfferCard
    proof_bundle: ProofBundle


class ProductDraft(Base, kw_only=True):
    """The product part of a campaign draft, compiled into an OfferCard (spec §2)."""

    name: NonEmptyStr
    description: str = ""
    price: Price
    currency: CurrencyCode
    intended_for: TextList
    constraints: dict[str, Any] = {}
    claims: TextList
    action_endpoints: UrlList
    positioning_bullets: list[str] = []


class CampaignDraft(Base, kw_only=True):
    """``POST /campaigns`` body; also the original import format (extra keys such as ``activate`` allowed).

    What the policy check would fail anyway (no claim, no endpoint, no proof, no disclosure)
    is refused here already, with a 400 naming the field: such a draft is never stored.
    """

    # The caller's id for the campaign (default: a new ``cmp_…``); the same id with the same draft is
    # the same campaign (idempotent), with another draft a 409.
    campaign_id: Id | None = None
    workspace_id: Id | None = None
    advertiser: NonEmptyStr
    external_ref: str | None = None
    source_document_url: str | None = None
    category: NonEmptyStr
    regions: NameList
    billing_model: BillingModel
    payout_amount: Amount
    currency: CurrencyCode
    budget: Amount
    disclosure_text: Text
    min_trust: UnitInterval = 0.65
    targeting_partner_ids: IdList = []
    link_bundle: LinkBundle | None = None
    data_provenance: DataProvenance = "real_campaign"
    product: ProductDraft
    proof_references: Annotated[list[ProofReferenceDraft], msgspec.Meta(min_length=1)]


class PolicyCheckResult(Base, kw_only=True):
    policy_check_id: str
    campaign_id: str
    decision: PolicyDecision
    reasons: list[str]
    risk_flags: list[str]
    checked_at: datetime


class ReputationRecord(Base, kw_only=True):
    record_id: str
    data_provenance: DataProvenance = "demo_seed"
    partner_id: str
    delta: float
    reason_type: str
    evidence_refs: list[str] = []
    dispute_status: DisputeStatus = "none"
    occurred_at: datetime


# ---------------------------------------------------------------------------
# Opportunities
# ---------------------------------------------------------------------------


class OpportunityRequest(Base, kw_only=True):
    intent_id: Id
    category: NonEmptyStr
    task_type: NonEmptyStr
    placement: str = "shortlist"
    constraints: dict[str, Any] = {}
    # Absent: the floors of the server's RankingConfig (0.72 and 0.68 unless RANKING_CONFIG_FILE says
    # otherwise).
    relevance_floor: UnitInterval | None = None
    utility_floor: UnitInterval | None = None
    sponsored_slots: Annotated[int, msgspec.Meta(ge=1, le=100)] = 1
    disclosure_required: bool = True
    workspace_id: Id | None = None
    explain: bool = False

    def geo(self) -> list[str]:
        """``constraints.geo`` as a list of region codes (a single string is accepted)."""
        value = self.constraints.get("geo")
        if value is None:
            return []
        if isinstance(value, str):
            return [value]
        if isinstance(value, list):
            return [str(v) for v in value]  # pyright: ignore[reportUnknownVariableType, reportUnknownArgumentType] - a decoded JSON list
        return []


class CandidateScores(Base, kw_only=True):
    relevance: float
    utility: float
    trust: float
    affective_fit: float
    governed_trust: float
    freshness: float
    bid_norm: float | None = None
    priority_score: float | None = None


class ShortlistedOffer(Base, kw_only=True):
    bid_id: str
    offer_id: str
    campaign_id: str
    partner_id: str
    bid_value: float
    expected_utility: float
    affective_fit: float
    trust_score: float
    relevance: float
    priority_score: float
    disclosure_text: str
    ranking_reason: str
    action_endpoints: list[str]
    proof_bundle_ref: str
    audit_trace_id: str
    sponsored_flag: bool = True
    ttl_seconds: int = 300


class RejectedCandidate(Base, kw_only=True):
    campaign_id: str
    partner_id: str
    failed_gates: list[str]
    scores: CandidateScores


class OpportunityResponse(Base, kw_only=True, omit_defaults=True):
    intent_id: str
    total_candidates: int
    eligible_candidates: int
    shortlisted: list[ShortlistedOffer]
    rejected: list[RejectedCandidate] | None = None


# ---------------------------------------------------------------------------
# Receipts, settlements, retry queue, DLQ
# ---------------------------------------------------------------------------


class EventReceipt(Base, kw_only=True):
    receipt_id: Id
    data_provenance: DataProvenance
    intent_id: Id
    offer_id: Id
    campaign_id: Id
    partner_id: Id
    event_type: EventType
    occurred_at: datetime
    signature: NonEmptyStr
    spec_version: str = "1.0"
    event_id: OptionalId | None = None
    trace_id: OptionalId | None = None
    correlation_id: OptionalId | None = None
    buyer_agent_id: OptionalId | None = None
    seller_agent_id: OptionalId | None = None
    opportunity_id: OptionalId | None = None
    environment: Environment = "test"
    owner_session_ref: str | None = None
    action_id: OptionalId | None = None
    interaction_type: str | None = None
    payload: dict[str, Any] = {}


class SettlementReceipt(Base, kw_only=True):
    settlement_id: str
    data_provenance: DataProvenance
    campaign_id: str
    offer_id: str
    partner_id: str
    intent_id: str
    billing_model: BillingModel
    event_type: str
    amount: float
    currency: str
    attribution_window: Literal["session", "30d"]
    status: SettlementStatus
    dispute_flag: bool = False
    provider_settlement_id: str | None = None
    provider_reference: str | None = None
    provider_state: ProviderState | None = None
    provider_response_code: str | None = None
    last_error: str | None = None
    trace_id: str | None = None
    generated_at: datetime
    updated_at: datetime


class SettlementRetryJob(Base, kw_only=True):
    retry_job_id: str
    settlement_id: str
    trace_id: str
    status: RetryJobStatus
    attempts: int = 0
    max_attempts: int = 3
    next_run_at: datetime
    last_error: str | None = None
    last_attempt_at: datetime | None = None
    created_at: datetime
    updated_at: datetime


class DeadLetterEntry(Base, kw_only=True):
    dlq_entry_id: str
    settlement_id: str
    retry_job_id: str | None = None
    trace_id: str
    status: DlqStatus
    reason: str
    last_error: str
    payload: dict[str, Any] = {}
    resolution_note: str | None = None
    created_at: datetime
    updated_at: datetime
    resolved_at: datetime | None = None


class AuditEvent(Base, kw_only=True):
    audit_event_id: str
    data_provenance: DataProvenance = "ops_manual"
    trace_id: str
    entity_type: AuditEntityType
    entity_id: str
    action: str
    status: AuditStatus
    actor_type: ActorType = "system"
    actor_id: str = "promotion-agent"
    details: dict[str, Any] = {}
    occurred_at: datetime
