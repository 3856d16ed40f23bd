"""The optimiser: search ranking weights and floors for the best objective under KPI constraints (Optuna).

Each trial proposes five raw weights in [0, 1] and two floors in [0, 1] (steps of 0.01); the weights
are scaled to sum to 1 (``normalised_weights``, 6 decimals, as a saved scenario writes them), so a
trial's setting is exactly what the saved winner runs with. A trial re-ranks the baseline's traffic
with the same funnel and billing draws (``pipeline.rerank``) and reads the figures of a sweep row
(``sweep.variant_row``). The sampler is Optuna's TPE, seeded, one trial at a time: the same scenario,
seed and trial count give the same trials and the same winner. The scenario's own setting (weights
normalised) is the first trial, so the winner is never worse than the baseline when that is feasible.

Objectives (maximised): ``revenue`` (the settlements' amounts, what advertisers were billed),
``fill_rate``, ``qualified_recommendation_rate``, ``mean_relevance`` (of what was shown:
``mean_relevance_shown``) and ``advertiser_surplus``: the value the shown offers brought the advertisers
(each conversion at its offer's list price, ``offer.price``) minus what they paid (``spend``).
Constraints: ``KPI>=X``, ``KPI<=X``, ``KPI>X``, ``KPI<X`` on any figure of a sweep row; a trial that
breaks one is infeasible (``Trial.set_constraint``: the amount by which each is broken).
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from server.domain.ranking_config import FLOOR_NAMES, WEIGHT_NAMES, RankingConfig, normalised_weights
from workbench.engine.errors import ScenarioError
from workbench.engine.pipeline import RunResult, rerank, run_scenario
from workbench.engine.scenario import Scenario
from workbench.engine.sweep import variant_row

OBJECTIVES = {
    "revenue": "revenue",
    "fill_rate": "fill_rate",
    "qualified_recommendation_rate": "qualified_recommendation_rate",
    "mean_relevance": "mean_relevance_shown",
    "mean_relevance_shown": "mean_relevance_shown",
    "advertiser_surplus": "advertiser_surplus",
}
ALIASES = {"mean_relevance": "mean_relevance_shown", "mean_utility": "mean_utility_shown"}
_CONSTRAINT = re.compile(r"^\s*(?P<name>[A-Za-z_][A-Za-z0-9_:.-]*)\s*(?P<op>>=|<=|>|<)\s*(?P<value>\S+)\s*$")
STRICT_MARGIN = 1e-12
FLOOR_STEP = 0.01


def _key(name: str) -> str:
    return name.strip().lower().replace("-", "_").replace(" ", "_")


def parse_objective(text: str) -> str:
    """``"revenue"`` (or ``fill-rate``, ``mean relevance`` …) → the sweep row's column; ScenarioError if unknown."""
    key = _key(text)
    if key not in OBJECTIVES:
        raise ScenarioError(
            f"--objective {text!r}: expected one of revenue, fill_rate, "
            "qualified_recommendation_rate, mean_relevance, advertiser_surplus"
        )
    return OBJECTIVES[key]


@dataclass(frozen=True)
class Constraint:
    text: str
    column: str
    op: str
    bound: float

    def violation(self, value: float) -> float:
        """How far ``value`` breaks the constraint (≤ 0 when it holds), as Optuna's constraints want it."""
        gap = self.bound - value if self.op in (">=", ">") else value - self.bound
        if self.op in (">", "<") and gap == 0:
            return STRICT_MARGIN
        return gap

    def holds(self, value: float) -> bool:
        return self.violation(value) <= 0


def parse_constraint(text: str, columns: list[str]) -> Constraint:
    """``"mean_relevance>=0.9"`` → Constraint; ScenarioError (one line, naming the constraint) otherwise."""
    m = _CONSTRAINT.match(text)
    if not m:
        raise ScenarioError(f"--constraint {text!r}: expected KPI>=NUMBER (or <=, >, <), e.g. fill_rate>=0.5")
    name = _key(m["name"])
    column = ALIASES.get(name, name)
    if column not in columns:
        known = ", ".join(c for c in columns if not c.startswith("spend:"))
        raise ScenarioError(
            f"--constraint {text!r}: no KPI {m['name']!r}; one of {known} or spend:<campaign id>"
        )
    try:
        bound = float(m["value"])
    except ValueError:
        raise ScenarioError(f"--constraint {text!r}: {m['value']!r} is not a number") from None
    if not math.isfinite(bound):
        raise ScenarioError(f"--constraint {text!r}: the bound must be a finite number")
    return Constraint(text.strip(), column, m["op"], bound)


def trial_config(base: RankingConfig, raw: dict[str, float]) -> RankingConfig:
    """The setting of a trial: its raw weights scaled to sum to 1 (6 decimals) and its floors."""
    weights = base.weights.__class__(**{n: raw[f"w_{n}"] for n in WEIGHT_NAMES})
    try:
        scaled = normalised_weights(weights)
    except ValueError:  # all five 0: no direction; take equal weights
        scaled = {n: round(1 / len(WEIGHT_NAMES), 6) for n in WEIGHT_NAMES}
        scaled[WEIGHT_NAMES[0]] = round(1 - sum(scaled[n] for n in WEIGHT_NAMES[1:]), 6)
    return base.with_weights(**scaled).with_floors(**{n: raw[f"f_{n}"] for n in FLOOR_NAMES})


def baseline_params(cfg: RankingConfig) -> dict[str, float]:
    try:
        scaled = normalised_weights(cfg.weights)
    except ValueError:
        scaled = dict.fromkeys(WEIGHT_NAMES, 1.0)
    params = {f"w_{n}": scaled[n] for n in WEIGHT_NAMES}
    params.update(
        {f"f_{n}": round(round(getattr(cfg.floors, n) / FLOOR_STEP) * FLOOR_STEP, 2) for n in FLOOR_NAMES}
    )
    return params


@dataclass
class Optimisation:
    objective: str
    constraints: list[Constraint]
    baseline: dict[str, Any]  # the scenario's own setting's row
    best: dict[str, Any] | None  # the best feasible trial's row (None when no trial was feasible)
    best_cfg: RankingConfig | None
    trials: pl.DataFrame  # one row per trial: number, weights, floors, objective, feasible, constraint values
    seed: int


def optimise(
    scenario: Scenario,
    objective: str,
    constraint_texts: list[str],
    trials: int,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
) -> Optimisation:
    import optuna

    column = parse_objective(objective)
    base_run = run_scenario(scenario)
    baseline = variant_row(base_run)
    constraints = [parse_constraint(t, list(baseline)) for t in constraint_texts]
    rows: dict[int, dict[str, Any]] = {}
    configs: dict[int, RankingConfig] = {}

    def evaluate(trial: optuna.Trial) -> float:
        raw = {f"w_{n}": trial.suggest_float(f"w_{n}", 0.0, 1.0) for n in WEIGHT_NAMES}
        raw.update({f"f_{n}": trial.suggest_float(f"f_{n}", 0.0, 1.0, step=FLOOR_STEP) for n in FLOOR_NAMES})
        cfg = trial_config(scenario.ranking, raw)
        row = run_row(base_run, cfg)
        rows[trial.number], configs[trial.number] = row, cfg
        violations = [c.violation(float(row[c.column])) for c in constraints]
        for i, v in enumerate(violations):
            trial.set_constraint(f"c{i}", v)  # TPE samples away from infeasible settings
        trial.set_user_attr("violations", violations)
        if progress:
            progress(trial.number + 1, trials)
        return float(row[column])

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(seed=seed)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        study.enqueue_trial(baseline_params(scenario.ranking))
        study.optimize(evaluate, n_trials=trials, n_jobs=1)
    table = []
    for t in study.trials:
        row, cfg = rows[t.number], configs[t.number]
        feasible = all(v <= 0 for v in t.user_attrs["violations"])
        table.append(
            {
                "trial": t.number,
                **{f"w_{n}": getattr(cfg.weights, n) for n in WEIGHT_NAMES},
                **{f"floor_{n}": getattr(cfg.floors, n) for n in FLOOR_NAMES},
                column: row[column],
                "feasible": feasible,
                **{c.text: row[c.column] for c in constraints},
            }
        )
    frame = pl.DataFrame(table)
    feasible = frame.filter(pl.col("feasible"))
    best = best_cfg = None
    if feasible.height:
        number = feasible.sort([column, "trial"], descending=[True, False])["trial"][0]
        best, best_cfg = rows[number], configs[number]
    return Optimisation(column, constraints, baseline, best, best_cfg, frame, seed)


def run_row(base_run: RunResult, cfg: RankingConfig) -> dict[str, Any]:
    return variant_row(rerank(base_run, cfg))


def winner_path(scenario: Scenario, out: Path | None) -> Path:
    """Where the winner goes: next to the source (its seed and replay paths are relative to it); ``out`` is a
    bare file name or a path in that folder."""
    from workbench.engine.scenario_edit import beside

    return beside(scenario.path, out, f"{scenario.path.stem}-optimised.toml", "the winner")


def save_winner(scenario: Scenario, cfg: RankingConfig, out: Path | None, origin: str) -> Path:
    """The winner as a scenario file (``winner_path``), written as the lab saves a tuned scenario."""
    from workbench.engine.tuning import save_tuned_scenario

    return save_tuned_scenario(scenario.path, cfg, winner_path(scenario, out).name, origin)
