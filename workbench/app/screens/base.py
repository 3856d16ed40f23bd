"""What the four main screens share: a cheap return to a screen that was already shown.

When a mode's screen comes back, Textual posts ``ScreenResume`` asking the screen to apply
the whole stylesheet to every one of its widgets again. ``App.switch_mode`` has already
refreshed the CSS when it changed since the screen was last styled (a theme change: it
compares ``_css_update_count``), so the second pass redoes work that cannot have changed
the outcome, and it was a third of a switch's cost. It is kept when the counts differ.
"""

from __future__ import annotations

from textual import events
from textual.screen import Screen


class WorkbenchScreen(Screen):
    """A main screen (scenario, lab, live, reports) switched to with the keys 1–4."""

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        if self._css_update_count == self.app._css_update_count:
            event.refresh_styles = False
        super()._on_screen_resume(event)
