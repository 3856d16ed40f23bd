"""Live: the wallets of the working scenario's workspaces, read with the other panes (``GET /wallet``,
one request per workspace, at most ``MAX_WALLETS`` of them).

The scenario's workspaces are those of its campaigns, then those it gives credits to
(``[entities.credits]``), in that order. The server creates a wallet on its first read (with the
100 promotional credits), as it does for every client of ``GET /wallet``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Label

from workbench.app.client import ApiClient
from workbench.app.widgets.paged_list import fill_table, set_text

MAX_WALLETS = 12
WALLET_COLUMNS = ("workspace", "available", "owed")


def fmt_credits(value: float) -> str:
    return f"{value:,.2f}"


class WalletPane(Vertical):
    """A title and a table: one row per workspace, its available and owed credits."""

    DEFAULT_CLASSES = "pane"

    def compose(self) -> ComposeResult:
        yield Label("Wallets", id="live-wallets-title", classes="pane-title")
        yield DataTable(id="live-wallets", cursor_type="row")

    def on_mount(self) -> None:
        self.query_one(DataTable).add_columns(*WALLET_COLUMNS)

    async def load(self, client: ApiClient, workspaces: tuple[str, ...]) -> list[dict[str, Any]]:
        return list(await asyncio.gather(*(client.wallet(w) for w in workspaces[:MAX_WALLETS])))

    def show(self, workspaces: tuple[str, ...], wallets: list[dict[str, Any]]) -> None:
        rows = [
            (w["workspaceId"], fmt_credits(w["availableCredits"]), fmt_credits(w["owedCredits"]))
            for w in wallets
        ]
        fill_table(self.query_one(DataTable), [w["workspaceId"] for w in wallets], rows)
        if not workspaces:
            title = "Wallets — no scenario loaded"
        elif len(workspaces) > len(wallets):
            title = f"Wallets — the first {len(wallets)} of {len(workspaces)} workspaces"
        else:
            title = f"Wallets — {len(wallets)} workspace{'s' if len(wallets) != 1 else ''}"
        set_text(self.query_one(Label), title)
