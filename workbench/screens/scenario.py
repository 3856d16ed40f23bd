"""Scenario: the ``scenarios/`` folder as a tree, a summary of the chosen file, its errors in place."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import DirectoryTree, Footer, Header, Static

from ..scenario import Scenario, ScenarioError, load_scenario


class ScenarioTree(DirectoryTree):
    """Only folders and ``.toml`` files."""

    def filter_paths(self, paths):  # type: ignore[no-untyped-def]
        return [p for p in paths if p.is_dir() or p.suffix == ".toml"]


def describe(scenario: Scenario) -> str:
    spec = scenario.spec
    traffic = spec.traffic
    if traffic.replay:
        source = f"replayed from {traffic.replay} ({len(scenario.replay_requests or ())} requests, " \
                 f"{len(scenario.replay_receipts)} receipts)"
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
            "",
            "[dim]enter on a file: load it as the working scenario[/dim]",
        ]
    )


class ScenarioScreen(Screen):
    """Pick the working scenario."""

    BINDINGS = [Binding("enter", "load_selected", "Load scenario", show=True)]

    def __init__(self, folder: Path | None = None) -> None:
        super().__init__()
        self.folder = folder

    def compose(self) -> ComposeResult:
        folder = self.folder or self.app.scenarios_dir  # type: ignore[attr-defined]
        yield Header()
        with Horizontal():
            yield ScenarioTree(str(folder), id="scenario-tree")
            with VerticalScroll(id="scenario-detail"):
                yield Static("Choose a scenario file.", id="scenario-summary")
                yield Static("", id="scenario-errors", classes="error hidden")
        yield Footer()

    def on_mount(self) -> None:
        current = self.app.scenario  # type: ignore[attr-defined]
        if current is not None:
            self.show(current.path)

    def show(self, path: Path) -> Scenario | None:
        summary = self.query_one("#scenario-summary", Static)
        errors = self.query_one("#scenario-errors", Static)
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            summary.update(f"[b]{path.name}[/b]")
            errors.update(f"This file has a problem:\n{exc}")
            errors.remove_class("hidden")
            return None
        errors.add_class("hidden")
        summary.update(describe(scenario))
        return scenario

    @on(DirectoryTree.FileSelected)
    def file_selected(self, event: DirectoryTree.FileSelected) -> None:
        scenario = self.show(Path(event.path))
        if scenario is not None:
            self.app.set_scenario(scenario)  # type: ignore[attr-defined]

    def action_load_selected(self) -> None:
        tree = self.query_one(ScenarioTree)
        node = tree.cursor_node
        if node is not None and node.data is not None and Path(node.data.path).is_file():
            scenario = self.show(Path(node.data.path))
            if scenario is not None:
                self.app.set_scenario(scenario)  # type: ignore[attr-defined]
