"""Live: partner outreach per lead on one line, read with the other panes (``GET /outreach-targets``).

For each lead with outreach targets (in the order of its first target): how many were sent, how many
of those were opened and how often (the open-tracking pixel), how many wait for a retry, bounced, or
are still drafts; figures that are zero are left out, except ``sent``. A line too long for the
screen ends with how many leads it could not show.
"""

from __future__ import annotations

from typing import Any

from textual.widgets import Label

from workbench.app.client import ApiClient, ApiError
from workbench.app.widgets.paged_list import set_text

# The figures of a lead, in the order shown; the key of each in ``outreach_by_lead``'s tuples.
FIGURES = ("sent", "opened", "opens", "retry", "bounced", "draft")


def outreach_by_lead(targets: list[dict[str, Any]]) -> dict[str, tuple[int, ...]]:
    """Lead → (sent, opened, opens, retry_scheduled, bounced, draft), in the order of first targets."""
    rows: dict[str, list[int]] = {}
    for target in targets:
        row = rows.setdefault(target["leadId"], [0] * len(FIGURES))
        status, opens = target["status"], int(target.get("openCount") or 0)
        if status == "sent":
            row[0] += 1
            row[1] += int(opens > 0)
            row[2] += opens
        elif status in ("retry_scheduled", "bounced", "draft"):
            row[{"retry_scheduled": 3, "bounced": 4, "draft": 5}[status]] += 1
    return {lead: tuple(row) for lead, row in rows.items()}


def lead_text(lead: str, figures: tuple[int, ...]) -> str:
    parts = [f"{n} {name}" for name, n in zip(FIGURES, figures, strict=True) if n or name == "sent"]
    return f"{lead}: {', '.join(parts)}"


def outreach_line(targets: list[dict[str, Any]] | None, width: int) -> str:
    if targets is None:
        return "Outreach — not offered by this server"
    if not targets:
        return "Outreach — no targets yet"
    leads = [lead_text(lead, figures) for lead, figures in outreach_by_lead(targets).items()]
    line = "Outreach — " + leads[0]
    for shown, text in enumerate(leads[1:], start=1):
        rest = f" · +{len(leads) - shown} more lead{'s' if len(leads) - shown != 1 else ''}"
        if len(line) + 3 + len(text) + (len(rest) if shown < len(leads) - 1 else 0) > width:
            return line + rest
        line += " · " + text
    return line


class OutreachLine(Label):
    """One line under the replay status: the outreach state of each lead."""

    async def load(self, client: ApiClient) -> list[dict[str, Any]] | None:
        """The targets; None from a server without outreach (an older one answers 404)."""
        try:
            return await client.outreach_targets()
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def show(self, targets: list[dict[str, Any]] | None) -> None:
        set_text(self, outreach_line(targets, max(self.size.width, 40)))
