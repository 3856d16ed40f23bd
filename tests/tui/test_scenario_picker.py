"""The scenario picker reads the folder again and previews a file without loading it (#10, defect 7)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DirectoryTree, Static

from workbench.app.screens.save_scenario import SaveScenarioScreen
from workbench.app.screens.scenario import ScenarioScreen

from .conftest import SIZE, offline_app, scenario_copy, wait_for, widget_text


def file_names(tree: DirectoryTree) -> list[str]:
    return sorted(
        str(node.label) for node in tree.root.children if node.data and Path(node.data.path).is_file()
    )


def node_for(tree: DirectoryTree, name: str):
    return next(node for node in tree.root.children if str(node.label) == name)


async def test_a_saved_variant_appears_without_a_restart_and_previews_before_loading(tmp_path: Path) -> None:
    source = scenario_copy(tmp_path)
    app = offline_app(source)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.lab_result is not None, "the lab's first result")
        await pilot.press("1")
        picker = app.screen
        assert isinstance(picker, ScenarioScreen)
        tree = picker.query_one(DirectoryTree)
        await wait_for(pilot, lambda: file_names(tree) == ["baseline.toml"], "the folder")

        # save a variant from the lab, come back: it is listed
        await pilot.press("2")
        await pilot.press("s")
        await wait_for(pilot, lambda: isinstance(app.screen, SaveScenarioScreen), "the save dialog")
        await pilot.press("enter")
        await wait_for(pilot, lambda: (source.parent / "baseline-tuned.toml").exists(), "the saved file")
        await pilot.press("1")
        await wait_for(
            pilot,
            lambda: file_names(tree) == ["baseline-tuned.toml", "baseline.toml"],
            "the saved variant in the picker",
            timeout=10,
        )

        # highlighting it previews it; the working scenario stays until enter
        tree.focus()
        tree.move_cursor(node_for(tree, "baseline-tuned.toml"))
        await pilot.pause(0.2)
        summary = widget_text(app, picker.query_one("#scenario-summary", Static))
        assert "baseline-tuned" in summary and "preview" in summary, summary
        assert app.scenario.name == "baseline"
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.scenario.name == "baseline-tuned", "the variant loaded")
        assert "the working scenario" in widget_text(app, picker.query_one("#scenario-summary", Static))

        # a file written by something else shows up on ctrl+r, and a broken one says why when highlighted
        (source.parent / "broken.toml").write_text('name = "broken"\n', encoding="utf-8")
        await pilot.press("ctrl+r")
        await wait_for(
            pilot, lambda: "broken.toml" in file_names(tree), "the new file after ctrl+r", timeout=10
        )
        tree.move_cursor(node_for(tree, "broken.toml"))
        await pilot.pause(0.2)
        errors = picker.query_one("#scenario-errors", Static)
        assert not errors.has_class("hidden")
        assert "Object missing required field `as_of`" in widget_text(app, errors)
        assert app.scenario.name == "baseline-tuned"  # a preview never changes the working scenario
