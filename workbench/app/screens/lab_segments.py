"""The lab's segments: the KPIs per category, region, partner or task type, baseline against current,
and the one line naming the segment that moved most (``engine.segment_compare``).

``g`` cycles the breakdown shown (category → region → partner → task type → off); the Segments tab
is there only while one is shown. The moved-most line is always shown once a result exists, whatever
the breakdown: it looks over all four. Both follow every new result (the lab re-ranks on each change).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.widgets import Static, TabbedContent

from workbench.app.widgets.frame_table import FrameTable, delta_text
from workbench.engine.segment_compare import SHOWN_METRICS, wide
from workbench.engine.segments import BYS, NOTES
from workbench.engine.tuning import LabOutcome
from workbench.engine.units import RATE, fmt_value, unit_of

SHORT = {
    "slots_won": "slots",
    "spend": "spend",
    "fill_rate": "fill",
    "qualified_recommendation_rate": "qualified",
}
SEGMENT_HEADERS = {
    f"{m}_{side}": f"{prefix}{SHORT[m]}"
    for m in SHOWN_METRICS
    for side, prefix in (("baseline", "base "), ("variant", ""), ("delta", "Δ "))
}
CYCLE: tuple[str | None, ...] = (*BYS, None)


class SegmentTable(FrameTable):
    """The segment comparison: rates as percentages and their deltas in points, as the KPI table."""

    def cell(self, column: str, value: Any, row: dict[str, Any]) -> str | Text:
        if unit_of(column) == RATE and isinstance(value, float):
            if column.endswith("_delta"):
                return delta_text(value, fmt_value(column, value, percent=True, signed=True))
            return Text(fmt_value(column, value, percent=True), justify="right")
        return super().cell(column, value, row)


if TYPE_CHECKING:
    from workbench.app.screens.base import WorkbenchScreen as _Base
else:
    _Base = object


class LabSegments(_Base):
    """Mixed into ``LabScreen``: the Segments tab, the moved-most line and the ``g`` key."""

    segment_by: str | None = None
    outcome: Any

    def _show_segments(self, outcome: LabOutcome | None) -> None:
        comparison = None if outcome is None else outcome.comparison
        line = "" if comparison is None else comparison.moved_line()
        self.query_one("#lab-moved-most", Static).update(line)
        by = self.segment_by
        if comparison is None or by is None:
            return
        table = self.query_one("#lab-segments", SegmentTable)
        table.headers = {**SEGMENT_HEADERS, "segment": by.replace("_", " ")}
        table.show(wide(comparison.segments[by]))  # money without its currency: the note names it
        money = f" Money in {comparison.currency}." if comparison.currency else ""
        self.query_one("#lab-segments-note", Static).update(
            f"{NOTES[by]}{money} [dim]g: next breakdown "
            f"({' → '.join(b.replace('_', ' ') for b in BYS)} → off)[/dim]"
        )

    def action_segments(self) -> None:
        """The next breakdown (or off): the Segments tab appears, shows it and comes to the front."""
        self.segment_by = CYCLE[(CYCLE.index(self.segment_by) + 1) % len(CYCLE)]
        tabs = self.query_one("#lab-tabs", TabbedContent)
        if self.segment_by is None:
            if tabs.active == "lab-tab-segments":
                tabs.active = "lab-tab-share"
            tabs.hide_tab("lab-tab-segments")
            self.notify("Segments off (g shows them again).", title="Ranking lab")
            return
        tabs.show_tab("lab-tab-segments")
        tabs.active = "lab-tab-segments"
        self._show_segments(self.outcome)
