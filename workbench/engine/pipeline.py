"""One scenario run end to end: traffic → funnel draws → batch ranking → settlements.

The seeded generators are spawned per concern (``simulate.rngs``) so the same
scenario and seed always give the same numbers, and a variant that only changes
the ranking meets the same traffic and the same funnel luck as its baseline.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from server.domain.ranking_config import RankingConfig
from workbench.engine.batch import BatchResult, Progress, run_batch
from workbench.engine.candidates import long_frame
from workbench.engine.market import MarketTables, market_for
from workbench.engine.scenario import Scenario
from workbench.engine.simulate import Simulation, draw_stages, rngs, simulate
from workbench.engine.traffic import Traffic, build_traffic


@dataclass
class RunResult:
    scenario: Scenario
    cfg: RankingConfig
    market: MarketTables
    traffic: Traffic
    batch: BatchResult
    simulation: Simulation
    stages: np.ndarray  # numpy int8 (requests × positions): the funnel stage drawn for each slot position
    timings: dict[str, float] = field(default_factory=dict)
    # What reports derive from the run and keep (``reports.facts_of``): a run never changes once made.
    memo: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def long_frame(self) -> pl.LazyFrame:
        return long_frame(self.batch, self.traffic.requests)


def run_scenario(
    scenario: Scenario, cfg: RankingConfig | None = None, progress: Progress | None = None
) -> RunResult:
    """Rank and simulate ``scenario`` (with ``cfg`` in place of the scenario's ranking, when given)."""
    cfg = scenario.ranking if cfg is None else cfg
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    gens = rngs(scenario.spec.seed)
    market = market_for(scenario, cfg)
    traffic = build_traffic(scenario, cfg, gens["traffic"])
    stages = draw_stages(scenario.spec.funnel, gens["funnel"], traffic.size, traffic.max_slots)
    t1 = time.perf_counter()
    timings["prepare"] = t1 - t0
    batch = run_batch(cfg, market, traffic, stages, progress, scenario.spec.pricing)
    t2 = time.perf_counter()
    timings["rank"] = t2 - t1
    sim = simulate(
        batch, traffic, market, stages, scenario.spec.billing, gens["billing"], scenario.spec.pricing
    )
    timings["simulate"] = time.perf_counter() - t2
    return RunResult(scenario, cfg, market, traffic, batch, sim, stages, timings)


def rerank(previous: RunResult, cfg: RankingConfig, progress: Progress | None = None) -> RunResult:
    """Rank the same requests again under ``cfg`` (new weights or floors), reusing the traffic and funnel draws.

    This is the workbench's interactive loop: what changes is the ranking, not the
    world. A floor change applies to generated traffic (its floors come from the
    ranking config), so the traffic is rebuilt then.
    """
    scenario = previous.scenario
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    gens = rngs(scenario.spec.seed)
    traffic = previous.traffic
    if cfg.floors != previous.cfg.floors:
        traffic = build_traffic(scenario, cfg, gens["traffic"])
    market = market_for(scenario, cfg)
    t1 = time.perf_counter()
    timings["prepare"] = t1 - t0
    batch = run_batch(cfg, market, traffic, previous.stages, progress, scenario.spec.pricing)
    t2 = time.perf_counter()
    timings["rank"] = t2 - t1
    sim = simulate(
        batch, traffic, market, previous.stages, scenario.spec.billing, gens["billing"], scenario.spec.pricing
    )
    timings["simulate"] = time.perf_counter() - t2
    return RunResult(scenario, cfg, market, traffic, batch, sim, previous.stages, timings)
