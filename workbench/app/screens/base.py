"""What the four main screens share: typed access to the workbench application, and a cheap return to a
screen that was already shown.

``self.host`` is the application as the screens use it (``WorkbenchHost``, a Protocol: the screens do
not import the application module, which imports them).

When a mode's screen comes back, Textual posts ``ScreenResume`` asking the screen to apply
the whole stylesheet to every one of its widgets again. ``App.switch_mode`` has already
refreshed the CSS when it changed since the screen was last styled (a theme change: it
compares ``_css_update_count``), so the second pass redoes work that cannot have changed
the outcome, and it was a third of a switch's cost. It is kept when the counts differ.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, cast

from textual import events
from textual.screen import Screen

from workbench.app.client import ApiClient
from workbench.engine.scenario import Scenario


class WorkbenchHost(Protocol):
    """What the screens use of ``application.WorkbenchApp``."""

    client: ApiClient
    scenario: Scenario | None
    lab_result: Any  # a ``tuning.LabOutcome`` once the lab has run
    scenarios_dir: Path

    def set_scenario(self, scenario: Scenario) -> None: ...


class WorkbenchScreen(Screen[None]):
    """A main screen (scenario, lab, live, reports) switched to with the keys 1–4."""

    @property
    def host(self) -> WorkbenchHost:
        return cast(WorkbenchHost, self.app)  # the screens run only in a WorkbenchApp

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        if self._css_update_count == self.app._css_update_count:
            event.refresh_styles = False
        super()._on_screen_resume(event)
