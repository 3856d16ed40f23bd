"""The key bar at the foot of every screen: the keys that work here, as one line of text.

Textual's ``Footer`` builds a widget per key and rebuilds them all whenever the bindings
change, which includes every screen switch: with the style pass that follows, that was
most of a switch's cost (measured in ``bench/RESULTS.md``: a switch took 140–220 ms of
CPU with the footer, 20 ms without). This bar draws the same keys as one styled line and
redraws its text when the bindings change; a key is clicked as in the footer (it sends
the key).
"""

from __future__ import annotations

from textual.content import Content
from textual.screen import Screen
from textual.widgets import Static


class KeyBar(Static):
    """The active screen's shown bindings: key and description, dimmed when disabled."""

    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        width: 1fr;
        background: $footer-background;
        color: $footer-foreground;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        link-style: none;
        link-style-hover: reverse;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self.call_after_refresh(self.redraw)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen) -> None:
        if self.is_attached and screen is self.screen:
            self.redraw()

    def shown_keys(self) -> list[tuple[str, str, str, bool]]:
        """(key, key as shown, description, enabled) of each shown binding, one per action, in order."""
        seen: set[str] = set()
        keys: list[tuple[str, str, str, bool]] = []
        for _node, binding, enabled, _tooltip in self.screen.active_bindings.values():
            if not binding.show or binding.action in seen:
                continue
            seen.add(binding.action)
            keys.append((binding.key, self.app.get_key_display(binding), binding.description, enabled))
        return keys

    def redraw(self) -> None:
        parts: list[Content] = []
        for key, shown, description, enabled in self.shown_keys():
            action = f"app.simulate_key({key!r})"
            key_style = "bold $footer-key-foreground" if enabled else "dim"
            text_style = "" if enabled else "dim"
            parts.append(
                Content.styled(f" {shown} ", f"{key_style} @click={action}")
                + Content.styled(f"{description} ", f"{text_style} @click={action}")
            )
        self.update(Content("").join(parts))
