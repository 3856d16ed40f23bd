"""The lab's chart in the terminal (textual-plotext): priority-score distribution or slot share."""

from __future__ import annotations

from textual.reactive import reactive
from textual_plotext import PlotextPlot

from workbench.engine.tuning import LabOutcome

MODES = ("scores", "share")
SHARE_TOP = 8


class LabChart(PlotextPlot):
    """Baseline against current settings, in one of two views (``mode``)."""

    mode: reactive[str] = reactive("scores")
    """``scores``: the eligible candidates' priority-score distribution; ``share``: slot share per campaign."""

    def __init__(self, id: str | None = None) -> None:
        super().__init__(id=id)
        self.outcome: LabOutcome | None = None

    def show(self, outcome: LabOutcome) -> None:
        self.outcome = outcome
        self.replot()

    def toggle(self) -> str:
        self.mode = MODES[(MODES.index(self.mode) + 1) % len(MODES)]
        return self.mode

    def watch_mode(self) -> None:
        self.replot()

    @property
    def title(self) -> str:
        return "Priority scores (eligible)" if self.mode == "scores" else "Slot share per campaign, %"

    def replot(self) -> None:
        plt = self.plt
        plt.clear_figure()
        if self.outcome is not None:
            if self.mode == "scores":
                self._scores(self.outcome)
            else:
                self._share(self.outcome)
        self.refresh()

    def _scores(self, outcome: LabOutcome) -> None:
        plt, h = self.plt, outcome.scores
        x = h.centers
        plt.plot(x, [float(v) for v in h.baseline], label="baseline", marker="braille", color="gray")
        plt.plot(x, [float(v) for v in h.current], label="current", marker="braille", color="cyan")

    def _share(self, outcome: LabOutcome) -> None:
        # Horizontal bars: the campaign names fit, and (unlike plotext's vertical bar labels)
        # the picture does not depend on the interpreter's hash seed, so snapshots are stable.
        share = outcome.comparison.slot_share.sort(["slots_variant", "campaign_id"], descending=[True, False])
        top = share.head(SHARE_TOP).reverse()  # plotext draws the first bar at the bottom
        names = [c.removeprefix("cmp_")[:12] for c in top["campaign_id"].to_list()]
        base = [round(100 * v, 1) for v in top["share_baseline"].to_list()]
        cur = [round(100 * v, 1) for v in top["share_variant"].to_list()]
        # plotext's multiple_bar takes labels (the legend); textual-plotext's typed wrapper leaves it out
        self.plt.multiple_bar(
            names,
            [base, cur],
            labels=["baseline", "current"],  # pyright: ignore[reportCallIssue]
            color=["gray", "cyan"],
            orientation="horizontal",
        )
