"""One run of the ranking lab: what it was asked for (to tell a stale result from a current one) and how a
cancelled run stops inside the engine."""

from __future__ import annotations

from dataclasses import dataclass

from server.domain.ranking_config import RankingConfig
from workbench.engine.pipeline import RunResult
from workbench.engine.scenario import Scenario


class RunCancelled(Exception):
    """Raised inside the engine's progress callback when the worker was cancelled."""


@dataclass(frozen=True, eq=False)
class LabRequest:
    """What one run was asked for: a scenario, a pinned baseline (None: run it too) and the settings."""

    scenario: Scenario
    baseline: RunResult | None
    cfg: RankingConfig

    def same(self, other: LabRequest | None) -> bool:
        return (
            other is not None
            and self.scenario is other.scenario
            and self.baseline is other.baseline
            and self.cfg == other.cfg
        )
