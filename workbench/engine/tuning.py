"""The ranking lab's model: validating a typed setting, one lab evaluation, saving tuned settings.

No Textual here, so the lab's numbers and the saved files are tested without a
terminal. ``evaluate`` is what the lab runs in a thread worker on every change:
re-rank the pinned baseline's requests under the new settings (``pipeline.rerank``:
same traffic, same funnel luck) and compare the two runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from server.domain.ranking_config import RankingConfig, ranking_config_problems
from workbench.engine.batch import Progress
from workbench.engine.compare import Comparison, compare_runs
from workbench.engine.exports import gate_breakdown
from workbench.engine.limits import CapTies
from workbench.engine.pipeline import RunResult, rerank
from workbench.engine.ranking_report import ranking_report
from workbench.engine.scenario_edit import fmt_value, save_edited_scenario, set_keys, set_name
from workbench.engine.segments import BYS

C = pl.col

WEIGHTS = ("relevance", "utility", "trust", "affective_fit", "bid")
FLOORS = ("relevance", "utility")
# Every setting the lab edits: (table, key).
SETTINGS: tuple[tuple[str, str], ...] = tuple(("weights", k) for k in WEIGHTS) + tuple(
    ("floors", k) for k in FLOORS
)
STEPS = {"weights": 0.05, "floors": 0.01}
SHORTLIST_SAMPLE = 20
SCORE_BINS = 20
SCORE_COLUMNS = ("relevance", "utility", "trust", "affective_fit", "bid_norm", "priority_score")


def label(table: str, key: str) -> str:
    """How the lab names a setting: ``bid weight``, ``relevance floor``."""
    return f"{key.replace('_', ' ')} {'weight' if table == 'weights' else 'floor'}"


def parse_setting(table: str, key: str, text: str, cfg: RankingConfig | None = None) -> float:
    """The value typed for a setting; ValueError with a message for a person.

    Only the text is read here; whether the value is allowed (a weight ≥ 0, a floor in
    0..1) is the domain's ``ranking_config_problems``, the same check scenario files
    and ``--set`` go through.
    """
    name = label(table, key)
    raw = text.strip()
    if not raw:
        raise ValueError(f"{name}: enter a number")
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name}: {raw!r} is not a number") from None
    path = f"ranking.{table}.{key}"
    for field_path, message in ranking_config_problems(
        with_setting(cfg or RankingConfig(), table, key, value)
    ):
        if field_path == path:
            raise ValueError(f"{name}: {message.removeprefix(path + ': ')}")
    return value


def setting(cfg: RankingConfig, table: str, key: str) -> float:
    return float(getattr(cfg.weights if table == "weights" else cfg.floors, key))


def with_setting(cfg: RankingConfig, table: str, key: str, value: float) -> RankingConfig:
    return cfg.with_weights(**{key: value}) if table == "weights" else cfg.with_floors(**{key: value})


def fmt_setting(value: float) -> str:
    """A setting as the lab shows and saves it (``0.1``, ``0.72``, ``0.0``): rounded to 6 places, a TOML float."""
    return fmt_value(value)


def describe_settings(cfg: RankingConfig) -> str:
    w, f = cfg.weights, cfg.floors
    return (
        f"weights {fmt_setting(w.relevance)}/{fmt_setting(w.utility)}/{fmt_setting(w.trust)}/"
        f"{fmt_setting(w.affective_fit)}/{fmt_setting(w.bid)} · floors {fmt_setting(f.relevance)}/"
        f"{fmt_setting(f.utility)}"
    )


def settings_diff(base: RankingConfig, cfg: RankingConfig) -> list[str]:
    """The settings ``cfg`` changes against ``base``: ``["bid weight 0.1→0.2", ...]``."""
    return [
        f"{label(t, k)} {fmt_setting(setting(base, t, k))}→{fmt_setting(setting(cfg, t, k))}"
        for t, k in SETTINGS
        if setting(base, t, k) != setting(cfg, t, k)
    ]


# ---------------------------------------------------------------------------
# One lab evaluation
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ScoreHistogram:
    """Priority scores of the eligible candidate evaluations (request × candidate), baseline and current."""

    edges: np.ndarray
    baseline: np.ndarray
    current: np.ndarray

    @property
    def centers(self) -> list[float]:
        return [float(x) for x in (self.edges[:-1] + self.edges[1:]) / 2]


@dataclass(frozen=True)
class LabOutcome:
    """What the lab shows for one setting: the run, the pinned baseline and everything compared."""

    baseline: RunResult
    run: RunResult
    comparison: Comparison
    gates: pl.DataFrame  # gate, baseline, current, delta
    shortlist: pl.DataFrame  # the first shortlisted slots with every score
    scores: ScoreHistogram

    @property
    def tables(self) -> dict[str, Any]:
        """The current run's outcome tables and KPIs (``exports.run_tables``)."""
        return self.comparison.tables[1]

    @property
    def cap_ties(self) -> CapTies:
        """The current run's slots at and tied at the priority score's 1.0 cap (``limits.cap_ties``)."""
        k = self.tables["_kpis"]
        return CapTies(
            k["weight_sum"], k["shortlisted"], k["slots_at_priority_cap"], k["slots_tied_at_priority_cap"]
        )

    @property
    def gainers(self) -> pl.DataFrame:
        return self.comparison.slot_share.filter(C("slots_delta") > 0)

    @property
    def losers(self) -> pl.DataFrame:
        return self.comparison.slot_share.filter(C("slots_delta") < 0).sort("slots_delta")


def _eligible_scores(run: RunResult) -> tuple[np.ndarray, np.ndarray]:
    """Priority scores of eligible (group, candidate) rows and how many requests each stands for."""
    b = run.batch
    per_group = np.bincount(b.group_of_request, minlength=b.shortlist.shape[0])
    eligible = b.groups.filter(C("eligible"))
    return eligible["priority_score"].to_numpy(), per_group[eligible["group"].to_numpy()].astype(np.float64)


def score_histogram(baseline: RunResult, current: RunResult, bins: int = SCORE_BINS) -> ScoreHistogram:
    sb, wb = _eligible_scores(baseline)
    sc, wc = _eligible_scores(current)
    top = max([1.0, *(float(s.max()) for s in (sb, sc) if s.size)])
    edges = np.linspace(0.0, top, bins + 1)
    return ScoreHistogram(
        edges, np.histogram(sb, edges, weights=wb)[0], np.histogram(sc, edges, weights=wc)[0]
    )


def gate_comparison(baseline: RunResult, current: RunResult) -> pl.DataFrame:
    base = gate_breakdown(baseline).rename({"failed": "baseline"})
    cur = gate_breakdown(current).rename({"failed": "current"})
    return (
        base.join(cur, on="gate", how="full", coalesce=True, maintain_order="left")
        .with_columns(C("baseline", "current").fill_null(0))
        .with_columns(delta=C("current") - C("baseline"))
    )


def shortlist_sample(run: RunResult, rows: int = SHORTLIST_SAMPLE) -> pl.DataFrame:
    report = ranking_report(run).filter(C("position").is_not_null()).head(rows)
    return report.select("intent_id", "position", "campaign_id", "partner_id", *SCORE_COLUMNS)


def evaluate(baseline: RunResult, cfg: RankingConfig, progress: Progress | None = None) -> LabOutcome:
    """Rank the baseline's requests under ``cfg`` and compare (``cfg`` equal to the baseline's: itself),
    with every segment breakdown (the lab names the segment that moved most)."""
    run = baseline if cfg == baseline.cfg else rerank(baseline, cfg, progress)
    return LabOutcome(
        baseline=baseline,
        run=run,
        comparison=compare_runs(baseline, run, BYS),
        gates=gate_comparison(baseline, run),
        shortlist=shortlist_sample(run),
        scores=score_histogram(baseline, run),
    )


# ---------------------------------------------------------------------------
# Saving the settings into a scenario file
# ---------------------------------------------------------------------------


def tuned_name(path: Path) -> str:
    """The file name the lab proposes: ``baseline.toml`` → ``baseline-tuned.toml``."""
    return f"{path.stem}-tuned.toml"


def tuned_text(
    original: str, cfg: RankingConfig, name: str, source: str, origin: str = "the workbench's lab"
) -> str:
    """The original scenario text with the ranking weights and floors (and ``name``) replaced."""
    lines = original.splitlines()
    w, f = cfg.weights, cfg.floors
    lines = set_name(lines, name)
    lines = set_keys(lines, "ranking.weights", {k: fmt_setting(getattr(w, k)) for k in WEIGHTS})
    lines = set_keys(lines, "ranking.floors", {k: fmt_setting(getattr(f, k)) for k in FLOORS})
    note = f"# Ranking weights and floors tuned in {origin} (from {source})."
    return "\n".join([note, *lines]) + "\n"


def _expected(original: dict[str, Any], cfg: RankingConfig, name: str) -> dict[str, Any]:
    data = dict(original, name=name)
    ranking = dict(data.get("ranking", {}))
    ranking["weights"] = {
        **ranking.get("weights", {}),
        **{k: round(getattr(cfg.weights, k), 6) for k in WEIGHTS},
    }
    ranking["floors"] = {**ranking.get("floors", {}), **{k: round(getattr(cfg.floors, k), 6) for k in FLOORS}}
    data["ranking"] = ranking
    return data


def save_tuned_scenario(
    source: Path, cfg: RankingConfig, file_name: str, origin: str = "the workbench's lab"
) -> Path:
    """Write ``source`` with ``cfg``'s weights and floors as ``file_name`` in the same folder; its path.

    Same folder, so the relative paths of the file (seed file, replay log) still resolve.
    Everything else of the file is kept as written, comments included. The new file is
    checked (it must read back as the original with only the ranking and name changed, and
    load as a scenario) before it replaces anything; ScenarioError says what went wrong.
    """
    return save_edited_scenario(
        source,
        file_name,
        lambda text, name: tuned_text(text, cfg, name, source.name, origin),
        lambda original, name: _expected(original, cfg, name),
        "[ranking] tables",
    )
