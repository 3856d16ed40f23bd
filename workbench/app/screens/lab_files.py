"""What the lab writes: ``s`` saves the settings as a new scenario file, ``e`` exports the current run's
reports. Mixed into ``LabScreen`` (its bindings name these actions)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from workbench.app.screens.export import export_run, shown
from workbench.app.screens.save_scenario import SaveScenarioScreen
from workbench.engine.tuning import describe_settings, save_tuned_scenario, tuned_name

if TYPE_CHECKING:
    from workbench.app.screens.base import WorkbenchScreen as _Base
else:
    _Base = object


class LabFiles(_Base):
    if TYPE_CHECKING:
        scenario: Any
        outcome: Any
        editor: Any

    def action_save(self) -> None:
        if self.scenario is None:
            return
        source, cfg = Path(self.scenario.path), self.editor.cfg

        def saved(path: Path | None) -> None:
            if path is not None:
                self.notify(
                    f"Saved {describe_settings(cfg)} to {shown(path)}; load it from the Scenario screen (1).",
                    title="Ranking lab",
                )

        what = describe_settings(cfg)
        if self.scenario.overrides:  # the lab's traffic and budgets are overrides of the file, not saved
            what += f" (not saved: --set {' '.join(self.scenario.overrides)})"
        dialog = SaveScenarioScreen(
            source, tuned_name(source), what, lambda name: save_tuned_scenario(source, cfg, name)
        )
        self.app.push_screen(dialog, saved)

    def action_export(self) -> None:
        if self.outcome is None:
            self.notify("Nothing to export yet: wait for the first result.", severity="warning")
            return
        export_run(self, self.outcome.run, self.outcome.tables)
