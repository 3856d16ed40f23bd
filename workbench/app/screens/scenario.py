"""Scenario: the ``scenarios/`` folder as a tree, a summary of the highlighted file, its errors in place.

Moving the cursor previews a file (its summary, or why it does not load) without
making it the working scenario; enter (or a click) loads it. The folder is read
again whenever the screen is shown (so a variant saved from the lab with ``s``
is there) and with ``ctrl+r``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import DirectoryTree, Header, Static

from workbench.app.screens.base import WorkbenchScreen
from workbench.app.widgets.key_bar import KeyBar
from workbench.engine.scenario import Scenario, ScenarioError, load_scenario


class ScenarioTree(DirectoryTree):
    """Only folders and ``.toml`` files."""

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [p for p in paths if p.is_dir() or p.suffix == ".toml"]


def describe(scenario: Scenario, working: bool = False) -> str:
    spec = scenario.spec
    traffic = spec.traffic
    if traffic.replay:
        source = (
            f"replayed from {traffic.replay} ({len(scenario.replay_requests or ())} requests, "
            f"{len(scenario.replay_receipts)} receipts)"
        )
    else:
        source = f"{traffic.requests:,} generated requests over {len(traffic.segments)} segments"
    w = scenario.ranking.weights
    f = scenario.ranking.floors
    categories = sorted({c.category for c in scenario.campaigns})
    return "\n".join(
        [
            f"[b]{spec.name}[/b]  —  {scenario.path}",
            spec.description,
            "",
            f"as of      {spec.as_of.isoformat().replace('+00:00', 'Z')}     seed {spec.seed}",
            f"billing    CPQR bills on {spec.cpqr_billable_event}",
            f"entities   {len(scenario.campaigns)} campaigns ({', '.join(categories)}), "
            f"{len(scenario.partners)} partners, {len(scenario.reputation_records)} reputation records",
            f"traffic    {source}",
            f"weights    relevance {w.relevance:g} · utility {w.utility:g} · trust {w.trust:g} · "
            f"affective {w.affective_fit:g} · bid {w.bid:g}",
            f"floors     relevance {f.relevance:g} · utility {f.utility:g}",
            *([f"overrides  --set {' '.join(scenario.overrides)}"] if scenario.overrides else []),
            "",
            "[b]the working scenario[/b] [dim](the lab and the reports run it)[/dim]"
            if working
            else "[b $warning]preview[/] [dim]· enter loads it as the working scenario[/dim]",
        ]
    )


class ScenarioScreen(WorkbenchScreen):
    """Pick the working scenario."""

    BINDINGS = [
        Binding(
            "enter",
            "load_selected",
            "Load scenario",
            show=True,
            tooltip="Make the highlighted file the working scenario",
            id="scenario.load_selected",
        ),
        Binding(
            "ctrl+r",
            "reload",
            "Reload folder",
            tooltip="Read the scenarios folder again",
            id="scenario.reload",
        ),
    ]

    def __init__(self, folder: Path | None = None) -> None:
        super().__init__()
        self.folder = folder

    def compose(self) -> ComposeResult:
        folder = self.folder or self.host.scenarios_dir
        yield Header()
        with Horizontal():
            yield ScenarioTree(str(folder), id="scenario-tree")
            with VerticalScroll(id="scenario-detail"):
                yield Static("Choose a scenario file.", id="scenario-summary")
                yield Static("", id="scenario-errors", classes="error hidden")
        yield KeyBar()

    def on_mount(self) -> None:
        current = self.host.scenario
        if current is not None:
            self.show(current.path)

    def on_screen_resume(self) -> None:
        self.action_reload()
        current = self.host.scenario
        if current is not None:
            self.show(current.path)  # it may have changed (another file, or the lab's traffic and budgets)

    def action_reload(self) -> None:
        """Read the folder again (keeps what was expanded and highlighted when it still exists)."""
        self.query_one(ScenarioTree).reload()

    def _working(self, path: Path) -> bool:
        current = self.host.scenario
        return current is not None and Path(current.path).resolve() == path.resolve()

    def show(self, path: Path, fresh: bool = False) -> Scenario | None:
        """Summarise ``path`` (or say why it does not load); the working scenario is not changed here."""
        summary = self.query_one("#scenario-summary", Static)
        errors = self.query_one("#scenario-errors", Static)
        current = self.host.scenario
        try:
            # the working scenario as it is run (with the lab's overrides); any other file as written
            working = current is not None and self._working(path) and not fresh
            scenario = current if working and current is not None else load_scenario(path)
        except ScenarioError as exc:
            summary.update(f"[b]{path.name}[/b]")
            errors.update(f"This file has a problem:\n{exc}")
            errors.remove_class("hidden")
            return None
        errors.add_class("hidden")
        summary.update(describe(scenario, working=self._working(path)))
        return scenario

    @on(DirectoryTree.NodeHighlighted)
    def preview(self, event: DirectoryTree.NodeHighlighted) -> None:
        entry = event.node.data
        if entry is not None and Path(entry.path).is_file():
            self.show(Path(entry.path))

    @on(DirectoryTree.FileSelected)
    def file_selected(self, event: DirectoryTree.FileSelected) -> None:
        scenario = self.show(Path(event.path), fresh=True)  # loading reads the file again (no overrides)
        if scenario is not None:
            self.host.set_scenario(scenario)
            self.show(Path(event.path))  # now it reads "the working scenario"

    def action_load_selected(self) -> None:
        tree = self.query_one(ScenarioTree)
        node = tree.cursor_node
        if node is not None and node.data is not None and Path(node.data.path).is_file():
            scenario = self.show(Path(node.data.path), fresh=True)
            if scenario is not None:
                self.host.set_scenario(scenario)
                self.show(Path(node.data.path))
