"""The key bar at the foot of each screen, and the cheap return to a screen already shown."""

from __future__ import annotations

from textual.color import Color

from workbench.app.screens.lab import LabScreen
from workbench.app.screens.live import LiveScreen
from workbench.app.screens.scenario import ScenarioScreen
from workbench.app.widgets.key_bar import KeyBar

from .conftest import SIZE, offline_app, screen_lines


async def test_the_key_bar_shows_the_keys_of_the_screen_in_front() -> None:
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        lab_keys = [key for key, _shown, _description, _enabled in app.screen.query_one(KeyBar).shown_keys()]
        bottom = screen_lines(app)[-1]
        # the lab's own keys first, then the app's; what does not fit in 120 columns ends in an ellipsis
        assert bottom.startswith(" o Sort  w Weights  f Floors ") and "g Segments" in bottom
        assert "n Normalise  1 Scenario  2 Lab" in bottom
        assert bottom.rstrip().endswith("…")  # 3 Live onwards are cut (the help screen lists every key)

        await pilot.press("3")
        await pilot.pause()
        live = app.screen
        assert isinstance(live, LiveScreen)
        live_keys = [key for key, _shown, _description, _enabled in live.query_one(KeyBar).shown_keys()]
        bottom = screen_lines(app)[-1]
        assert "r" in live_keys and "r" not in lab_keys  # the live screen's replay key, not on the lab's bar
        drawn = "".join(
            f" {shown} {description} "
            for _key, shown, description, _on in live.query_one(KeyBar).shown_keys()
        )
        assert bottom.rstrip("… ") and drawn.startswith(bottom.rstrip("… ").rstrip())
        assert " r Replay " in bottom


async def test_clicking_a_key_in_the_bar_presses_it() -> None:
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        column = screen_lines(app)[-1].index("1 Scenario")
        await pilot.click(KeyBar, offset=(column + 1, 0))
        await pilot.pause()
        assert isinstance(app.screen, ScenarioScreen)


async def test_a_theme_changed_while_a_screen_was_away_shows_when_it_returns() -> None:
    """The return to a screen skips Textual's second style pass only when the CSS did not change."""
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("2")
        await pilot.pause()
        lab = app.screen
        assert isinstance(lab, LabScreen)
        await pilot.press("3")
        await pilot.pause()
        before = lab.query_one(KeyBar).styles.background
        app.theme = "textual-light" if app.theme != "textual-light" else "nord"
        await pilot.pause()
        await pilot.press("2")
        await pilot.pause()
        after = lab.query_one(KeyBar).styles.background
        expected = Color.parse(app.get_css_variables()["footer-background"])
        assert after != before
        assert after == expected
