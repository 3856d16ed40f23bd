"""Keys can be remapped by binding id (``WORKBENCH_KEYMAP``), without editing the code."""

from __future__ import annotations

import pytest

from workbench.app.application import parse_keymap
from workbench.app.screens.lab import LabScreen
from workbench.app.screens.live import LiveScreen

from .conftest import SIZE, offline_app


async def test_a_remapped_key_switches_the_screen_and_the_old_one_no_longer_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WORKBENCH_KEYMAP", "app.switch_mode_live=9; app.switch_mode_lab=8")
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("8")
        assert isinstance(app.screen, LabScreen)
        await pilot.press("3")  # no longer the live screen's key
        assert isinstance(app.screen, LabScreen)
        await pilot.press("9")
        assert isinstance(app.screen, LiveScreen)


async def test_a_malformed_keymap_is_named_and_the_default_keys_stay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKBENCH_KEYMAP", "app.quit")
    app = offline_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert any("'app.quit' is not binding-id=keys" in n.message for n in app._notifications)
        await pilot.press("3")
        assert isinstance(app.screen, LiveScreen)


def test_parse_keymap() -> None:
    assert parse_keymap(" lab.save=ctrl+s ;; app.quit=ctrl+q") == {"lab.save": "ctrl+s", "app.quit": "ctrl+q"}
    assert parse_keymap("") == {}
    with pytest.raises(ValueError, match="'=x' is not binding-id=keys"):
        parse_keymap("=x")
