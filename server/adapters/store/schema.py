"""The database schema (SQLAlchemy Core), shared by SQLite and PostgreSQL.

Each entity is stored as its wire document (``doc``, msgspec JSON) plus the
columns that lookups filter or order on, each with an index, so no request
scans a whole table. Unique constraints carry the exactly-once guarantees:
one receipt per ``receipt_id``; one settlement per (intent, offer, event type);
one retry job and one dead-letter entry per settlement; one credit-ledger entry per
source (one charge per receipt, one promo grant per workspace, one credit per Stripe session).

Times that queries compare are stored as epoch milliseconds (``*_ms``).
The schema itself is created by the Alembic migrations in ``server/migrations``.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

_ID = 200  # identifiers are short strings; a generous bound keeps PostgreSQL's varchar honest


def _seq() -> Column:
    # Creation order (campaign-major enumeration in ranking, newest-first pages).
    return Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)


agent_leads = Table(
    "agent_leads",
    metadata,
    _seq(),
    Column("agent_id", String(_ID), nullable=False, unique=True),
    Column("status", String(32), nullable=False),
    Column("source_type", String(64), nullable=False),
    Column("data_origin", String(32), nullable=False),
    Column("provenance", String(32), nullable=False),
    Column("doc", Text, nullable=False),
)

partners = Table(
    "partners",
    metadata,
    _seq(),
    Column("partner_id", String(_ID), nullable=False, unique=True),
    Column("status", String(32), nullable=False),
    Column("provenance", String(32), nullable=False),
    Column("disputed_count", Integer, nullable=False, server_default="0"),
    Column("doc", Text, nullable=False),
)

campaigns = Table(
    "campaigns",
    metadata,
    _seq(),
    Column("campaign_id", String(_ID), nullable=False, unique=True),
    Column("offer_id", String(_ID), nullable=False, unique=True),
    Column("status", String(32), nullable=False),
    Column("provenance", String(32), nullable=False),
    Column("workspace_id", String(_ID), nullable=False),
    # Sum of the campaign's settlement amounts that are neither failed nor disputed (budget gate).
    Column("committed_spend", Float, nullable=False, server_default="0"),
    Column("doc", Text, nullable=False),
)

policy_checks = Table(
    "policy_checks",
    metadata,
    _seq(),
    Column("policy_check_id", String(_ID), nullable=False, unique=True),
    Column("campaign_id", String(_ID), nullable=False),
    Column("doc", Text, nullable=False),
    Index("ix_policy_checks_campaign", "campaign_id", "seq"),
)

reputation_records = Table(
    "reputation_records",
    metadata,
    _seq(),
    Column("record_id", String(_ID), nullable=False, unique=True),
    Column("partner_id", String(_ID), nullable=False, index=True),
    Column("doc", Text, nullable=False),
)

receipts = Table(
    "receipts",
    metadata,
    _seq(),
    Column("receipt_id", String(_ID), nullable=False, unique=True),
    Column("intent_id", String(_ID), nullable=False, index=True),
    Column("campaign_id", String(_ID), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("settlement_id", String(_ID), nullable=True),
    Column("doc", Text, nullable=False),
    # What the exchange decided (billable or why not, verification), a JSON document.
    Column("outcome", Text, nullable=True),
)

settlements = Table(
    "settlements",
    metadata,
    _seq(),
    Column("settlement_id", String(_ID), nullable=False, unique=True),
    Column("intent_id", String(_ID), nullable=False),
    Column("offer_id", String(_ID), nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("campaign_id", String(_ID), nullable=False),
    Column("partner_id", String(_ID), nullable=False),
    Column("status", String(32), nullable=False),
    Column("provenance", String(32), nullable=False),
    Column("doc", Text, nullable=False),
    UniqueConstraint("intent_id", "offer_id", "event_type", name="uq_settlements_intent_offer_event"),
    Index("ix_settlements_status", "status", "seq"),
    Index("ix_settlements_campaign", "campaign_id", "seq"),
    Index("ix_settlements_provenance", "provenance", "seq"),
)

retry_jobs = Table(
    "retry_jobs",
    metadata,
    _seq(),
    Column("retry_job_id", String(_ID), nullable=False, unique=True),
    Column("settlement_id", String(_ID), nullable=False, unique=True),
    Column("trace_id", String(_ID), nullable=False),
    Column("status", String(32), nullable=False),
    Column("next_run_at_ms", BigInteger, nullable=False),
    # While processing: the claim's lease; a crashed claim is taken again after it.
    Column("lease_until_ms", BigInteger, nullable=True),
    # The token of the claim holding the job in processing: claims and outcomes compare-and-set on it.
    Column("claim_token", String(64), nullable=True),
    Column("doc", Text, nullable=False),
    Index("ix_retry_jobs_due", "status", "next_run_at_ms", "seq"),
    Index("ix_retry_jobs_trace", "trace_id", "seq"),
)

dlq_entries = Table(
    "dlq_entries",
    metadata,
    _seq(),
    Column("dlq_entry_id", String(_ID), nullable=False, unique=True),
    Column("settlement_id", String(_ID), nullable=False, unique=True),
    Column("trace_id", String(_ID), nullable=False),
    Column("status", String(32), nullable=False),
    Column("doc", Text, nullable=False),
    Index("ix_dlq_status", "status", "seq"),
    Index("ix_dlq_trace", "trace_id", "seq"),
)

audit_events = Table(
    "audit_events",
    metadata,
    _seq(),
    Column("audit_event_id", String(_ID), nullable=False, unique=True),
    Column("trace_id", String(_ID), nullable=False),
    Column("entity_type", String(32), nullable=False),
    Column("entity_id", String(_ID), nullable=False),
    Column("provenance", String(32), nullable=False),
    Column("doc", Text, nullable=False),
    Index("ix_audit_trace", "trace_id", "seq"),
    Index("ix_audit_entity", "entity_id", "seq"),
    Index("ix_audit_entity_type", "entity_type", "seq"),
    Index("ix_audit_provenance", "provenance", "seq"),
)

# Every (intent, offer, partner) the exchange shortlisted: what receipt verification checks against.
served_slots = Table(
    "served_slots",
    metadata,
    Column("intent_id", String(_ID), primary_key=True),
    Column("offer_id", String(_ID), primary_key=True),
    Column("partner_id", String(_ID), primary_key=True),
    Column("campaign_id", String(_ID), nullable=False),
    Column("served_at_ms", BigInteger, nullable=False),
)

# Distinct intents, for the per-opportunity KPIs (evaluated / presented at least once).
intents = Table(
    "intents",
    metadata,
    Column("intent_id", String(_ID), primary_key=True),
    Column("evaluated", Integer, nullable=False, server_default="0"),
    Column("presented", Integer, nullable=False, server_default="0"),
)

# Sharded counters (name, shard) -> value: the dashboard reads sums instead of counting rows,
# and writers spread over shards so a hot counter is not one contended row.
counters = Table(
    "counters",
    metadata,
    Column("name", String(128), primary_key=True),
    Column("shard", Integer, primary_key=True),
    Column("value", Float, nullable=False),
)

# A single-row version of the market (campaigns, partners, reputation, spend): bumped by every
# write that changes what ranking sees, so processes can cache the decoded market safely.
market_version = Table(
    "market_version",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", BigInteger, nullable=False),
)


# A workspace's credits, in integer millicredits (thousandths of a credit) so that sums are exact.
# ``available_mc`` may go below zero (owed): receipts are never refused for lack of credits.
wallets = Table(
    "wallets",
    metadata,
    Column("workspace_id", String(_ID), primary_key=True),
    Column("available_mc", BigInteger, nullable=False),
    Column("reserved_mc", BigInteger, nullable=False, server_default="0"),
    Column("consumed_mc", BigInteger, nullable=False, server_default="0"),
    Column("expired_mc", BigInteger, nullable=False, server_default="0"),
    Column("updated_at_ms", BigInteger, nullable=False),
)

# The append-only credit ledger. ``source`` names what caused an entry (``receipt:{receiptId}``,
# ``promo_grant:{workspaceId}``, ``stripe.checkout:{sessionId}``…); its unique constraint is what
# makes each charge and credit happen exactly once.
credit_ledger = Table(
    "credit_ledger",
    metadata,
    _seq(),
    Column("entry_id", String(_ID), nullable=False, unique=True),
    Column("workspace_id", String(_ID), nullable=False),
    Column("entry_type", String(32), nullable=False),
    Column("source", String(2 * _ID), nullable=False),
    Column("amount_mc", BigInteger, nullable=False),
    Column("balance_after_mc", BigInteger, nullable=False),
    Column("doc", Text, nullable=False),
    UniqueConstraint("source", name="uq_credit_ledger_source"),
    Index("ix_credit_ledger_workspace", "workspace_id", "seq"),
)

# The approved discovery sources (registries and directories leads are found in); the only seed
# data a real_test database gets.
discovery_sources = Table(
    "discovery_sources",
    metadata,
    _seq(),
    Column("source_id", String(_ID), nullable=False, unique=True),
    Column("doc", Text, nullable=False),
)

# Partner outreach (``outreach.py``): one row per target. ``status`` is what sends compare-and-set
# on (a send claims the row with ``claim_token`` until ``lease_until_ms``); the opens are counted in
# their own columns by one atomic update each, outside the document.
outreach_targets = Table(
    "outreach_targets",
    metadata,
    _seq(),
    Column("target_id", String(_ID), nullable=False, unique=True),
    Column("lead_id", String(_ID), nullable=False),
    Column("status", String(32), nullable=False),
    Column("claim_token", String(64), nullable=True),
    Column("lease_until_ms", BigInteger, nullable=True),
    Column("open_count", Integer, nullable=False, server_default="0"),
    Column("first_opened_at_ms", BigInteger, nullable=True),
    Column("last_opened_at_ms", BigInteger, nullable=True),
    Column("doc", Text, nullable=False),
    Index("ix_outreach_targets_lead", "lead_id", "seq"),
    Index("ix_outreach_targets_status", "status", "seq"),
)
