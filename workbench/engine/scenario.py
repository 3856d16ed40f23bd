"""Scenario files (``scenarios/*.toml``): typed, validated, reproducible experiments.

A scenario file is TOML decoded with msgspec into ``ScenarioFile``; every table
forbids unknown keys, so a typo is an error rather than a silently ignored
setting. Entities come from a seed file (the API's JSON format, camelCase, the
shape of ``data/seed.json``) and/or inline ``[[entities.campaigns]]`` /
``[[entities.partners]]`` tables in the same API format; an inline entity with
the id of a seed-file entity replaces it in place (that is how a scenario
changes one campaign's budget). Relative paths are relative to the scenario file.

Every problem becomes one ``ScenarioError`` whose text names the file, the field
path and what was expected, e.g.::

    scenarios/x.toml: at ranking.weights.bid: Expected `float`, got `str`

``--set key=value`` overrides (``apply_overrides``) are applied to the raw TOML
table before decoding, so they are validated exactly like the file itself. A
value is read as a TOML value (``0.2``, ``true``, ``[\"UK\"]``,
``2026-03-01T00:00:00Z``) and, when it is not one, as a plain string.

Floors: generated traffic takes its floors from ``[ranking.floors]``. A replayed
request keeps the floors it states explicitly, unless
``ranking.override_request_floors = true``; a replayed request that states no
floor takes the scenario's (whose defaults equal the API's, 0.72 / 0.68).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Literal

import msgspec

from server.domain.errors import ValidationFailed
from server.domain.models import Campaign, EventReceipt, PartnerAgent, ReputationRecord
from server.domain.pricing import PricingRule
from server.domain.ranking_config import RankingConfig
from server.domain.ranking_table import FloorsTable, RankingTable, WeightsTable, config_from_tables
from server.domain.receipts import DEFAULT_CPQR_BILLABLE_EVENT
from workbench.engine.errors import ScenarioError, display_path, validation_message
from workbench.engine.overrides import apply_overrides, ranking_overrides
from workbench.engine.replay_log import ReplayRequest, load_replay

Probability = Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
NonNegative = Annotated[float, msgspec.Meta(ge=0.0)]
Weight = Annotated[float, msgspec.Meta(gt=0.0)]
Slots = Annotated[int, msgspec.Meta(ge=1, le=100)]
AwareDatetime = Annotated[datetime, msgspec.Meta(tz=True)]
Name = Annotated[str, msgspec.Meta(min_length=1)]


class _Table(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A scenario table: snake_case keys, unknown keys refused."""


# The weights and floors tables are the domain's (``server.domain.ranking_table``): the server's
# RANKING_CONFIG_FILE reads the same shape with the same decoder.
WeightsSpec = WeightsTable
FloorsSpec = FloorsTable


class RankingSpec(RankingTable, kw_only=True):
    # When true, every replayed request is ranked with the scenario's floors, whatever it states.
    override_request_floors: bool = False


class EntitiesSpec(_Table, kw_only=True):
    seed_file: str | None = None
    partners: list[PartnerAgent] = []
    campaigns: list[Campaign] = []
    reputation_records: list[ReputationRecord] = []
    # Spend already committed before the scenario starts (campaign id -> amount).
    committed_spend: dict[str, NonNegative] = {}
    # Disputed settlements per partner (they lower governed trust by 0.05 each).
    disputed_settlements: dict[str, Annotated[int, msgspec.Meta(ge=0)]] = {}
    # Workspace credits at the start (workspace id -> credits). A workspace not listed has
    # unlimited credits; one listed is spent by receipts (presented 2, viewed 3, ...).
    credits: dict[str, float] = {}
    # Every campaign's budget is multiplied by this (the lab's "budgets ×"; 1 keeps them as written).
    budget_multiplier: NonNegative = 1.0


class SegmentSpec(_Table, kw_only=True):
    weight: Weight = 1.0
    category: Name
    task_type: Name
    geo: list[str] = []
    sponsored_slots: Slots | None = None
    disclosure_required: bool | None = None
    placement: str = "shortlist"


class TrafficSpec(_Table, kw_only=True):
    requests: Annotated[int, msgspec.Meta(ge=1)] | None = None
    window_hours: Annotated[float, msgspec.Meta(gt=0.0)] = 24.0
    sponsored_slots: Slots = 1
    disclosure_required: bool = True
    segments: list[SegmentSpec] = []
    replay: str | None = None


class FunnelSpec(_Table, kw_only=True):
    """P(presented | shortlisted at rank 1), then each stage given the previous one."""

    presented: Probability = 0.9
    viewed: Probability = 0.4
    interacted: Probability = 0.35
    converted: Probability = 0.2
    # P(presented) at rank k is presented × position_decay^(k−1).
    position_decay: Probability = 0.85


class BillingSpec(_Table, kw_only=True):
    """Per attempt at the billing gateway: terminal failure, retryable failure, else settled."""

    retryable_failure_rate: Probability = 0.0
    terminal_failure_rate: Probability = 0.0


class PricingSpec(_Table, kw_only=True):
    """What a billable event is billed (``server.domain.pricing``): a simulation, the exchange bills the payout."""

    rule: PricingRule = "fixed"
    # Under first and second price, a candidate whose payout is below the reserve does not compete,
    # and no second price falls below it; ``fixed`` ignores it.
    reserve: NonNegative = 0.0


class ScenarioFile(_Table, kw_only=True):
    name: Name
    description: str = ""
    seed: Annotated[int, msgspec.Meta(ge=0)] = 0
    as_of: AwareDatetime
    cpqr_billable_event: Literal["offer.shortlisted", "offer.presented"] = DEFAULT_CPQR_BILLABLE_EVENT  # type: ignore[assignment] - a str constant, one of the two
    ranking: RankingSpec = msgspec.field(default_factory=RankingSpec)
    entities: EntitiesSpec = msgspec.field(default_factory=EntitiesSpec)
    traffic: TrafficSpec
    funnel: FunnelSpec = msgspec.field(default_factory=FunnelSpec)
    billing: BillingSpec = msgspec.field(default_factory=BillingSpec)
    pricing: PricingSpec = msgspec.field(default_factory=PricingSpec)


class SeedFile(msgspec.Struct, rename="camel", kw_only=True):
    """An entity file in the API's format (``data/seed.json``); other keys (leads, ...) are ignored."""

    partners: list[PartnerAgent] = []
    campaigns: list[Campaign] = []
    reputation_records: list[ReputationRecord] = []


@dataclass(frozen=True)
class Scenario:
    """A validated scenario with everything resolved (entities loaded, replay decoded)."""

    path: Path
    spec: ScenarioFile
    ranking: RankingConfig
    campaigns: tuple[Campaign, ...]
    partners: tuple[PartnerAgent, ...]
    reputation_records: tuple[ReputationRecord, ...]
    replay_requests: tuple[ReplayRequest, ...] | None = None
    replay_receipts: tuple[EventReceipt, ...] = ()
    overrides: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        return self.spec.name


# ---------------------------------------------------------------------------
# --set overrides (parsing and applying them: ``overrides``)
# ---------------------------------------------------------------------------


def effective_overrides(scenario: Scenario, cfg: RankingConfig) -> list[str]:
    """Every override a run used: the scenario's own, then the ranking settings it ran with instead.

    ``workbench run FILE --set …`` with these reproduces the run; an override of the file that a
    later ranking setting replaces is left out.
    """
    later = ranking_overrides(scenario.ranking, cfg)
    keys = {text.partition("=")[0] for text in later}
    return [o for o in scenario.overrides if o.partition("=")[0].strip() not in keys] + later


REQUESTS_KEY, BUDGET_KEY = "traffic.requests", "entities.budget_multiplier"


def traffic_requests(scenario: Scenario) -> int:
    """How many requests the scenario ranks (generated, or the replayed log's)."""
    if scenario.replay_requests is not None:
        return len(scenario.replay_requests)
    return int(scenario.spec.traffic.requests or 0)


def rescaled(
    scenario: Scenario, requests: int | None = None, budget_multiplier: float | None = None
) -> Scenario:
    """``scenario`` with another traffic size and/or budget multiplier, as ``--set`` overrides of its file.

    Validated like the file itself (ScenarioError naming the field), and recorded in ``overrides``
    so that exports say what was run.
    """
    changes = {}
    if requests is not None:
        changes[REQUESTS_KEY] = str(requests)
    if budget_multiplier is not None:
        changes[BUDGET_KEY] = repr(round(float(budget_multiplier), 6) + 0.0)
    kept = [o for o in scenario.overrides if o.partition("=")[0].strip() not in changes]
    return load_scenario(scenario.path, kept + [f"{key}={value}" for key, value in changes.items()])


# ---------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------


def load_scenario(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Read, override, decode and resolve a scenario; ScenarioError (one line) on any problem."""
    path = Path(path)
    where = display_path(path)
    if not path.is_file():
        raise ScenarioError(f"{where}: no such scenario file")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"{where}: not valid TOML: {err}") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ScenarioError(f"{where}: cannot be read: {err}") from None
    raw = apply_overrides(raw, overrides)
    label = where if not overrides else f"{where} (with --set {' '.join(overrides)})"
    try:
        spec = msgspec.convert(raw, ScenarioFile)
    except msgspec.ValidationError as err:
        raise ScenarioError(validation_message(label, err)) from None
    _check_spec(label, spec)
    base = path.parent
    campaigns, partners, records = _load_entities(label, base, spec.entities)
    replay_requests, replay_receipts = None, ()
    if spec.traffic.replay:
        replay_requests, replay_receipts = load_replay(base / spec.traffic.replay)
        if not replay_requests:
            raise ScenarioError(
                f"{label}: at traffic.replay: {spec.traffic.replay} holds no OpportunityRequest"
            )
    ranking = ranking_config(label, spec.ranking)
    return Scenario(
        path=path,
        spec=spec,
        ranking=ranking,
        campaigns=campaigns,
        partners=partners,
        reputation_records=records,
        replay_requests=replay_requests,
        replay_receipts=replay_receipts,
        overrides=tuple(overrides),
    )


def ranking_config(label: str, spec: RankingSpec) -> RankingConfig:
    """The scenario's ``RankingConfig``, validated by the domain (ScenarioError naming the field)."""
    try:
        return config_from_tables(spec.weights, spec.floors)
    except ValidationFailed as err:
        raise ScenarioError(f"{label}: at {err.message}") from None


def _check_spec(label: str, spec: ScenarioFile) -> None:
    t = spec.traffic
    if t.replay and (t.segments or t.requests is not None):
        raise ScenarioError(
            f"{label}: at traffic: give either `replay` or `requests` with `segments`, not both"
        )
    if not t.replay:
        if not t.segments:
            raise ScenarioError(
                f"{label}: at traffic.segments: expected at least one segment (or set traffic.replay)"
            )
        if t.requests is None:
            raise ScenarioError(f"{label}: at traffic.requests: expected the number of requests to generate")
    b = spec.billing
    if b.retryable_failure_rate + b.terminal_failure_rate > 1.0:
        raise ScenarioError(
            f"{label}: at billing: retryable_failure_rate + terminal_failure_rate must be at most 1"
        )


def _load_entities(
    label: str, base: Path, ent: EntitiesSpec
) -> tuple[tuple[Campaign, ...], tuple[PartnerAgent, ...], tuple[ReputationRecord, ...]]:
    seed = SeedFile()
    if ent.seed_file:
        seed_path = base / ent.seed_file
        seed_where = display_path(seed_path)
        if not seed_path.is_file():
            raise ScenarioError(f"{label}: at entities.seed_file: no such file {seed_where}")
        try:
            seed = msgspec.json.decode(seed_path.read_bytes(), type=SeedFile)
        except msgspec.ValidationError as err:
            raise ScenarioError(validation_message(seed_where, err)) from None
        except msgspec.DecodeError as err:
            raise ScenarioError(f"{seed_where}: not valid JSON: {err}") from None
    campaigns = _merge(seed.campaigns, ent.campaigns, "campaign_id")
    if ent.budget_multiplier != 1.0:
        campaigns = [msgspec.structs.replace(c, budget=c.budget * ent.budget_multiplier) for c in campaigns]
    partners = _merge(seed.partners, ent.partners, "partner_id")
    records = _merge(seed.reputation_records, ent.reputation_records, "record_id")
    if not campaigns:
        raise ScenarioError(
            f"{label}: at entities: expected at least one campaign (seed_file or [[entities.campaigns]])"
        )
    if not partners:
        raise ScenarioError(
            f"{label}: at entities: expected at least one partner (seed_file or [[entities.partners]])"
        )
    known = {c.campaign_id for c in campaigns}
    for cid in ent.committed_spend:
        if cid not in known:
            raise ScenarioError(f"{label}: at entities.committed_spend.{cid}: no campaign has this id")
    pids = {p.partner_id for p in partners}
    for pid in ent.disputed_settlements:
        if pid not in pids:
            raise ScenarioError(f"{label}: at entities.disputed_settlements.{pid}: no partner has this id")
    return tuple(campaigns), tuple(partners), tuple(records)


def _merge(first: list, second: list, key: str) -> list:
    """Entities in creation order; a later entity with a known id replaces the earlier one in place."""
    out: list = []
    where: dict[str, int] = {}
    for item in [*first, *second]:
        ident = getattr(item, key)
        if ident in where:
            out[where[ident]] = item
        else:
            where[ident] = len(out)
            out.append(item)
    return out


def scenario_workspaces(scenario: Scenario | None) -> tuple[str, ...]:
    """The workspaces of ``scenario``: its campaigns', then those given credits in ``[entities.credits]``."""
    if scenario is None:
        return ()
    ids = [campaign.workspace_id for campaign in scenario.campaigns]
    ids += list(scenario.spec.entities.credits)
    return tuple(dict.fromkeys(ids))
