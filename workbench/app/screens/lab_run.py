"""One run of the ranking lab: what it was asked for (to tell a stale result from a current one), the
engine run in a worker thread, the messages it posts back, and how a cancelled run stops inside it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import work
from textual.message import Message
from textual.worker import get_current_worker

from server.domain.ranking_config import RankingConfig
from workbench.engine.pipeline import RunResult, run_scenario
from workbench.engine.scenario import Scenario
from workbench.engine.tuning import LabOutcome, evaluate


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


class LabRan(Message):
    """A run finished: its outcome (``seq`` tells an answer to an older change)."""

    def __init__(self, seq: int, outcome: LabOutcome) -> None:
        super().__init__()
        self.seq = seq
        self.outcome = outcome


class LabFailed(Message):
    """A run failed: the engine's error in one line."""

    def __init__(self, seq: int, error: str) -> None:
        super().__init__()
        self.seq = seq
        self.error = error


class LabProgressed(Message):
    """How far a run is (requests ranked of the total)."""

    def __init__(self, seq: int, done: int, total: int) -> None:
        super().__init__()
        self.seq = seq
        self.done = done
        self.total = total


if TYPE_CHECKING:
    from workbench.app.screens.base import WorkbenchScreen as _Base
else:
    _Base = object


class LabRunner(_Base):
    """Mixed into ``LabScreen``: runs the engine off the interface thread and posts ``LabRan``,
    ``LabFailed`` and ``LabProgressed`` back (the screen decides what they change)."""

    @work(thread=True, exclusive=True, group="lab-run", exit_on_error=False)
    def run_lab(
        self,
        seq: int,
        scenario: Scenario,
        baseline: RunResult | None,
        baseline_cfg: RankingConfig | None,
        cfg: RankingConfig,
    ) -> None:
        worker = get_current_worker()

        def progress(done: int, total: int) -> None:
            if worker.is_cancelled:
                raise RunCancelled
            self.post_message(LabProgressed(seq, done, total))

        try:
            if baseline is None:
                baseline = run_scenario(scenario, baseline_cfg, progress=progress)
            outcome = evaluate(baseline, cfg, progress)
        except RunCancelled:
            return
        except Exception as exc:  # an engine failure is reported; the last good result stays
            self.post_message(LabFailed(seq, f"{type(exc).__name__}: {exc}"))
            return
        if not worker.is_cancelled:
            self.post_message(LabRan(seq, outcome))
