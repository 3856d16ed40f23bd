"""The workbench's terminal application: four screens over one scenario and one server.

Start-up: connect to the server at ``--api`` (start one on embedded SQLite when
nothing answers, and stop it on exit, however the workbench exits: quit, an
exception, SIGTERM or SIGHUP), load the scenario, open the ranking lab.
Screens live in ``workbench/screens``; styles in ``app.tcss``.
"""

from __future__ import annotations

import asyncio
import gc
import os
import signal
from collections.abc import Iterable
from pathlib import Path

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, TextArea

from workbench.app.client import ApiClient, ApiError
from workbench.app.local_server import DEFAULT_API, LocalServer, LocalServerError, ensure_server
from workbench.app.screens.help import HelpScreen
from workbench.app.screens.lab import LabScreen
from workbench.app.screens.live import LiveScreen
from workbench.app.screens.reports import ReportsScreen
from workbench.app.screens.scenario import ScenarioScreen
from workbench.app.server_mode import header_label
from workbench.engine.scenario import Scenario, ScenarioError, load_scenario

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_SCENARIO = PROJECT_ROOT / "scenarios" / "baseline.toml"


class WorkbenchApp(App):
    """The promotion exchange analyst's workbench."""

    CSS_PATH = "app.tcss"
    TITLE = "promotion-agent workbench"
    MODES = {"scenario": ScenarioScreen, "lab": LabScreen, "live": LiveScreen, "reports": ReportsScreen}
    BINDINGS = [
        Binding(
            "1",
            "switch_mode('scenario')",
            "Scenario",
            tooltip="Pick the working scenario",
            id="app.switch_mode_scenario",
        ),
        Binding(
            "2",
            "switch_mode('lab')",
            "Lab",
            tooltip="Tune ranking weights and floors",
            id="app.switch_mode_lab",
        ),
        Binding(
            "3",
            "switch_mode('live')",
            "Live",
            tooltip="Replay against the server; queues and audit",
            id="app.switch_mode_live",
        ),
        Binding(
            "4",
            "switch_mode('reports')",
            "Reports",
            tooltip="Outcome tables and export",
            id="app.switch_mode_reports",
        ),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("escape", "leave_input", "Leave the field", show=False, id="app.leave_input"),
    ]

    scenario: reactive[Scenario | None] = reactive(None, init=False)
    """The working scenario; every screen reads it."""
    profile: reactive[str] = reactive("connecting…")
    """The server's runtime profile, as shown in the header."""
    lab_result: reactive[object | None] = reactive(None, init=False)
    """The ranking lab's latest result (a ``tuning.LabOutcome``); the reports screen shows and exports it."""

    def __init__(
        self,
        api_url: str = DEFAULT_API,
        scenario_path: Path | None = None,
        start_server: bool = True,
        scenarios_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.api_url = api_url
        self.scenario_path = scenario_path or DEFAULT_SCENARIO
        self.scenarios_dir = scenarios_dir or self.scenario_path.parent
        self.start_server = start_server
        self.client = ApiClient(api_url)
        self.server: LocalServer | None = None
        # The server's runtime profile as it answered (None until it did): its mode decides whether
        # scenario traffic may be replayed into it (``server_mode.replay_refusal``).
        self.server_profile: dict | None = None
        self._signals: list[int] = []
        self._settled: set[str] = set()

    # -- start-up and shutdown ---------------------------------------------------
    def on_mount(self) -> None:
        self._watch_signals()
        self._apply_keymap(os.environ.get("WORKBENCH_KEYMAP", ""))
        try:
            self.set_scenario(load_scenario(self.scenario_path))
        except ScenarioError as exc:
            self.notify(str(exc), severity="error", timeout=15)
        self.switch_mode("lab" if self.scenario is not None else "scenario")
        self.connect()

    @work(thread=True, exclusive=True, group="connect")
    def connect(self) -> None:
        if self.start_server:
            try:
                self.server = ensure_server(self.api_url)
            except LocalServerError as exc:
                self.call_from_thread(self.notify, str(exc), severity="error", timeout=20)
                self.call_from_thread(setattr, self, "profile", "no server")
                return
        self.call_from_thread(self.load_profile)

    @work(exclusive=True, group="profile")
    async def load_profile(self) -> None:
        try:
            p = await self.client.runtime_profile()
        except ApiError as exc:
            self.profile = "unreachable"
            self.notify(exc.message, severity="warning")
            return
        self.server_profile = p
        self.profile = (
            f"{header_label(p)} · {p['persistence']} · {p['hotState']} · billing {p['billingMode']}"
        )

    def _watch_signals(self) -> None:
        """SIGTERM, and SIGHUP when the terminal closes, end the workbench as quitting does.

        The local server stops in any case (its guard watches this process, ``local_server``);
        this also lets the screens and the client close cleanly.
        """
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGHUP):
            try:
                loop.add_signal_handler(signum, self._signalled, signum)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no such signal
                continue
            self._signals.append(signum)

    def _signalled(self, signum: int) -> None:
        self.stop_server(wait=False)  # the guard starts stopping it now, whatever happens to the terminal
        self.exit(return_code=128 + signum)

    def stop_server(self, wait: bool = True) -> None:
        """Stop the server this workbench started (a server that was already running is left alone)."""
        if self.server is not None and self.server.started:
            if wait:
                self.server.stop()
            else:
                self.server.release()

    async def on_unmount(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in self._signals:
            loop.remove_signal_handler(signum)
        await self.client.close()
        self.stop_server()

    def _apply_keymap(self, text: str) -> None:
        """``WORKBENCH_KEYMAP="app.quit=ctrl+q;lab.save=ctrl+s"``: other keys for bindings, by their ids
        (``?`` lists every key; the ids are ``<screen>.<action>``, see the README)."""
        try:
            keymap = parse_keymap(text)
        except ValueError as exc:
            self.notify(str(exc), severity="error", timeout=15)
            return
        if keymap:
            self.set_keymap(keymap)

    # -- the working scenario -------------------------------------------------
    def set_scenario(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.notify(f"Scenario {scenario.name} loaded.")

    # -- memory ---------------------------------------------------------------
    def settle_memory(self, what: str) -> None:
        """Take what lives as long as the app (its screens and widgets, their styles and caches, the
        scenario) out of the garbage collector's view, once per ``what`` (a screen, the first result).

        A full collection walked those few hundred thousand objects every time: 0.1 s on an idle
        machine, 0.5–0.8 s on a busy one, a pause every few seconds while a replay's answers came
        in, and every key pressed meanwhile waited for it. Frozen objects are still freed when their
        last reference goes; only cycles among them would wait for ``gc.unfreeze()``.
        """
        if what in self._settled:
            return
        self._settled.add(what)
        gc.collect()
        gc.freeze()

    def _settle_when_drawn(self, what: str) -> None:
        self.call_after_refresh(self.settle_memory, what)

    async def action_switch_mode(self, mode: str) -> None:
        await super().action_switch_mode(mode)
        self._settle_when_drawn(f"screen:{mode}")

    def watch_lab_result(self, result: object | None) -> None:
        if result is not None:
            self._settle_when_drawn("first lab result")

    def watch_scenario(self) -> None:
        self._update_header()

    def watch_profile(self) -> None:
        self._update_header()

    def _update_header(self) -> None:
        name = self.scenario.name if self.scenario is not None else "no scenario"
        self.sub_title = f"{name} · {self.api_url} · {self.profile}"

    # -- actions ---------------------------------------------------------------
    def action_leave_input(self) -> None:
        """Esc in a text field (one without an esc of its own): the focus goes back to the screen's main
        table, so that the screen keys (1–4, ?, q) work again. A screen may say which table
        (``main_table(field)``) and restore the field (``leave_input(field)``)."""
        field = self.focused
        if not isinstance(field, (Input, TextArea)):
            return
        screen = self.screen
        restore = getattr(screen, "leave_input", None)
        if restore is not None:
            restore(field)
        target: Widget | None = None
        chooser = getattr(screen, "main_table", None)
        if chooser is not None:
            target = chooser(field)
        elif isinstance(screen.AUTO_FOCUS, str) and screen.AUTO_FOCUS not in ("", "*"):
            target = next(iter(screen.query(screen.AUTO_FOCUS)), None)
        if target is None or not target.focusable:
            target = next((w for w in screen.focus_chain if not isinstance(w, (Input, TextArea))), None)
        screen.set_focus(target)

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Scenario screen", "Pick the working scenario", lambda: self.switch_mode("scenario")
        )
        yield SystemCommand("Ranking lab", "Tune weights and floors", lambda: self.switch_mode("lab"))
        yield SystemCommand(
            "Live screen", "Replay, queues, dead letters, audit", lambda: self.switch_mode("live")
        )
        yield SystemCommand(
            "Reports screen", "Outcome tables and export", lambda: self.switch_mode("reports")
        )
        yield SystemCommand("Help", "Keys and screens", self.action_help)
        for binding in getattr(screen, "BINDINGS", []):
            if isinstance(binding, Binding) and binding.description:
                action = binding.action
                yield SystemCommand(
                    f"{screen.__class__.__name__.removesuffix('Screen')}: {binding.description}",
                    binding.tooltip or binding.description,
                    lambda action=action, screen=screen: screen.run_action(action),
                )


def parse_keymap(text: str) -> dict[str, str]:
    """``"id=keys;id=keys"`` as a keymap; ValueError naming the entry that is not ``id=keys``."""
    keymap: dict[str, str] = {}
    for entry in filter(None, (part.strip() for part in text.split(";"))):
        binding_id, sep, keys = entry.partition("=")
        if not sep or not binding_id.strip() or not keys.strip():
            raise ValueError(f"WORKBENCH_KEYMAP: {entry!r} is not binding-id=keys (e.g. app.quit=ctrl+q)")
        keymap[binding_id.strip()] = keys.strip()
    return keymap
