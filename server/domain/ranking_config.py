"""The ranking configuration: weights, floors and factor constants (spec/exchange.md §5), and its one
validation (weights >= 0, floors in [0, 1], named errors) that every entry point uses: scenario files,
``--set``, the lab, the server's ``RANKING_CONFIG_FILE``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import ValidationFailed


@dataclass(frozen=True, slots=True)
class Weights:
    """Priority-score weights (spec §5): they are published, and the workbench tunes them."""

    relevance: float = 0.35
    utility: float = 0.25
    trust: float = 0.15
    affective_fit: float = 0.15
    bid: float = 0.10


@dataclass(frozen=True, slots=True)
class Floors:
    """Default floors of an OpportunityRequest that does not give its own."""

    relevance: float = 0.72
    utility: float = 0.68


@dataclass(frozen=True, slots=True)
class FactorConstants:
    """The factor constants of spec §5 (values used when a factor does not match)."""

    category_mismatch: float = 0.42
    task_mismatch: float = 0.7
    region_mismatch: float = 0.35
    targeting_mismatch: float = 0.5
    # Freshness tiers: (max age in days, value); older than the last tier -> freshness_stale.
    freshness_tiers: tuple[tuple[float, float], ...] = ((30.0, 1.0), (90.0, 0.85), (180.0, 0.7))
    freshness_stale: float = 0.55
    # relevance = clamp(.55 cat + .2 task + .15 region + .1 targeting)
    relevance_mix: tuple[float, float, float, float] = (0.55, 0.2, 0.15, 0.1)
    # utility = clamp(.45 relevance + .2 region + .2 freshness + .15 task)
    utility_mix: tuple[float, float, float, float] = (0.45, 0.2, 0.2, 0.15)
    # affective_fit = clamp(.6 variants/3 + .4 task)
    affective_mix: tuple[float, float] = (0.6, 0.4)
    # governed trust
    reputation_point: float = 0.02
    under_review_factor: float = 0.5
    dispute_penalty: float = 0.05


@dataclass(frozen=True, slots=True)
class RankingConfig:
    """The whole ranking definition's parameters: weights, default floors, factor constants."""

    weights: Weights = field(default_factory=Weights)
    floors: Floors = field(default_factory=Floors)
    factors: FactorConstants = field(default_factory=FactorConstants)

    def with_weights(self, **changes: float) -> RankingConfig:
        return replace(self, weights=replace(self.weights, **changes))

    def with_floors(self, **changes: float) -> RankingConfig:
        return replace(self, floors=replace(self.floors, **changes))


DEFAULT_RANKING = RankingConfig()

WEIGHT_NAMES = ("relevance", "utility", "trust", "affective_fit", "bid")
FLOOR_NAMES = ("relevance", "utility")
# Precision of "the weights sum to 1": settings are written with 6 decimals.
WEIGHT_SUM_TOLERANCE = 1e-6


def weight_sum(weights: Weights) -> float:
    """The weights' total: above 1 the priority score can reach the 1.0 cap before the clamp."""
    return math.fsum(getattr(weights, name) for name in WEIGHT_NAMES)


def weights_sum_to_one(weights: Weights) -> bool:
    return abs(weight_sum(weights) - 1.0) <= WEIGHT_SUM_TOLERANCE


def normalised_weights(weights: Weights, places: int = 6) -> dict[str, float]:
    """The weights scaled to sum to 1, rounded to ``places`` decimals (the largest takes the rounding rest).

    ValueError when they are all 0 (there is no direction to keep).
    """
    total = weight_sum(weights)
    if not total > 0:
        raise ValueError("the weights are all 0: there is nothing to scale to 1")
    scaled = {name: round(getattr(weights, name) / total, places) for name in WEIGHT_NAMES}
    largest = max(WEIGHT_NAMES, key=lambda name: scaled[name])
    scaled[largest] = round(1.0 - math.fsum(v for k, v in scaled.items() if k != largest), places)
    return scaled


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_unit(path: str, value: Any, what: str) -> str | None:
    if not _is_number(value) or not math.isfinite(value):
        return f"{path}: {what} must be a finite number (got {value!r})"
    if not 0.0 <= value <= 1.0:
        return f"{path}: {what} is between 0 and 1 (got {value:g})"
    return None


def ranking_config_problems(cfg: RankingConfig, prefix: str = "ranking") -> list[tuple[str, str]]:
    """Every setting of ``cfg`` that the ranking cannot use, as (field path, message naming it).

    Weights are finite and never negative (a negative weight rewards a worse offer); floors
    and the factor constants are between 0 and 1 (every score they are compared with or
    stand in for is). The one validation of a ``RankingConfig``: scenario files, ``--set``,
    the workbench's lab and the server all go through it. An empty ``prefix`` names the fields
    ``weights.bid``, … (as in ``RANKING_CONFIG_FILE``).
    """
    problems: list[tuple[str, str]] = []
    prefix = f"{prefix}." if prefix else ""
    for name in WEIGHT_NAMES:
        path, value = f"{prefix}weights.{name}", getattr(cfg.weights, name)
        if not _is_number(value) or not math.isfinite(value):
            problems.append((path, f"{path}: a weight must be a finite number (got {value!r})"))
        elif value < 0:
            problems.append((path, f"{path}: a weight cannot be negative (got {value:g})"))
    for name in FLOOR_NAMES:
        path = f"{prefix}floors.{name}"
        if (message := _check_unit(path, getattr(cfg.floors, name), "a floor")) is not None:
            problems.append((path, message))
    f = cfg.factors
    units: list[tuple[str, Any]] = [
        (name, getattr(f, name))
        for name in (
            "category_mismatch",
            "task_mismatch",
            "region_mismatch",
            "targeting_mismatch",
            "freshness_stale",
            "under_review_factor",
            "reputation_point",
            "dispute_penalty",
        )
    ]
    units += [(f"freshness_tiers.{i}", value) for i, (_, value) in enumerate(f.freshness_tiers)]
    for mix in ("relevance_mix", "utility_mix", "affective_mix"):
        units += [(f"{mix}.{i}", value) for i, value in enumerate(getattr(f, mix))]
    for name, value in units:
        path = f"{prefix}factors.{name}"
        if (message := _check_unit(path, value, "a factor constant")) is not None:
            problems.append((path, message))
    ages = [age for age, _ in f.freshness_tiers]
    if any(not _is_number(a) or not math.isfinite(a) for a in ages) or ages != sorted(ages):
        path = f"{prefix}factors.freshness_tiers"
        problems.append((path, f"{path}: the tiers' ages must be finite and ascending (got {ages!r})"))
    return problems


def validate_ranking_config(cfg: RankingConfig, prefix: str = "ranking") -> RankingConfig:
    """``cfg`` itself when the ranking can use it; ``ValidationFailed`` naming the first bad field otherwise."""
    problems = ranking_config_problems(cfg, prefix)
    if problems:
        path, message = problems[0]
        raise ValidationFailed(message, field=path)
    return cfg
