"""Help: what each screen is for and its keys."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# Workbench

| key | screen |
|---|---|
| `1` | **Scenario** — pick a scenario file: moving the cursor previews it (summary or errors), enter loads it, `ctrl+r` reads the folder again (it is also read each time the screen opens) |
| `2` | **Ranking lab** — tune weights and floors; KPIs beside the pinned baseline |
| `3` | **Live** — replay the scenario against the server; settlements, retry queue, DLQ, audit, wallets |
| `4` | **Reports** — outcome tables; export CSV, Parquet, JSON and Markdown |
| `ctrl+p` | command palette: every action by name |
| `?` | this help · `q` quit |

**Ranking lab.** `w`/`f` jump to the weights/floors: type a value (`-` and `+` are
just characters of the number) and press enter; `]` / `[` (or `ctrl+up` / `ctrl+down`)
step the focused setting up / down and apply it at once; `esc` leaves the field. Every
change re-runs the batch in the background (an older run is cancelled; `x` cancels).
After a cancelled or failed run the results are marked **STALE**; enter in a field or
`ctrl+r` runs the inputs. The sum of the weights is always shown: when it is not 1 the
lab says how many shortlisted slots tie at the priority score's 1.0 cap (their order
is then creation order), and `n` scales the weights to sum to 1. Under **Traffic and
budgets**, `requests` and `budgets ×` change the market (enter applies; the baseline
runs again). `b` pins the current settings as the baseline, `r` resets the weights and
floors, `c` switches the chart, `t` the table (slot share, gate failures, shortlist
sample, **Ran out**: when each budget and credit balance ran out), `s` saves the
weights and floors into a new scenario file, `e` exports. An invalid value is refused
with a message; the last good result stays on screen. Tables too wide for the screen
scroll sideways and show whole columns only.

**Live.** `r` replays the scenario (progress bar; `x` cancels; the replay runs beside
the interface, which answers keys meanwhile), `p` processes the retry queue once, `l` runs
the scenario's first 500 requests live on a private server of their own (its market, ranking,
clock and billing failure rates) and shows the reconciliation with the batch engine. The
settlements, retry queue, dead letters and audit trail show a page each (the title says
which rows of how many): `]` / `[` go to the next / previous page of the focused list
(`tab` moves between lists), `s` cycles its filter, which the server applies (status;
for the audit trail, the entity type). Enter on a status in **Settlements by status**
lists the settlements of that status; an amount ending in `…` is being read again.
On the dead-letter table: `ctrl+r` replay, `v` resolve, `i` ignore — each asks for
confirmation. `/` focuses the audit trace-id filter (enter applies it). **Wallets** shows
the available and owed credits of the scenario's workspaces, as the server has them.

`esc` leaves any text field (back to the screen's table, so that `1`–`4`, `?` and `q`
work again); in a dialog it cancels.

**Reports.** `[`/`]` switch tables; click a column header (or press `o` on it) to sort;
`e` exports to a folder you choose (CSV, Parquet, JSON, Markdown).
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,question_mark", "dismiss", "Close", id="help.dismiss")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog"):
            yield Markdown(HELP)
