"""The weight sum is always on screen; above 1 the lab says how many slots tie at the cap; n normalises (#10, 4)."""

from __future__ import annotations

import math

from server.domain.ranking_config import weight_sum
from workbench.app.widgets.ranking_editor import RankingEditor
from workbench.engine.limits import cap_ties

from .conftest import ROOT, offline_app, screen_text, wait_for, widget_text

CROWDED = ROOT / "scenarios" / "crowded-market.toml"


async def test_weights_over_one_are_flagged_with_the_engines_tie_count_and_n_normalises() -> None:
    app = offline_app(CROWDED)
    async with app.run_test(size=(160, 50)) as pilot:
        lab = app.screen
        await wait_for(pilot, lambda: lab.outcome is not None, "the first result")
        text = screen_text(app)
        assert "sum of weights 1.0" in text and "≠ 1" not in text and "tie at the 1.0 cap" not in text

        editor = lab.query_one(RankingEditor)
        editor.field("weights", "bid").focus()
        await pilot.press(*"0.2", "enter", "escape")
        await wait_for(pilot, lambda: lab.outcome.run.cfg.weights.bid == 0.2, "bid 0.2")
        await pilot.pause(0.2)
        ties = cap_ties(lab.outcome.run)  # the engine's count for the run on screen
        assert ties.tied > 1000
        assert "sum of weights 1.1 ≠ 1" in widget_text(app, lab.query_one("#lab-weight-sum"))
        note = widget_text(app, lab.query_one("#lab-cap-note"))
        assert "weights sum to 1.1, not 1" in note
        assert (
            f"{ties.tied:,} of {ties.slots:,} shortlisted slots ({100 * ties.tied_share:.1f}%) tie at the 1.0 cap"
            in note
        ), note
        # and the KPI table compares the tied slots with the baseline's
        assert f"slots tied at 1.0 0 {ties.tied:,} +{ties.tied:,}" in widget_text(
            app, lab.query_one("#lab-kpis")
        )

        await pilot.press("n")
        await wait_for(
            pilot,
            lambda: math.isclose(weight_sum(lab.outcome.run.cfg.weights), 1.0, abs_tol=1e-9),
            "the normalised run",
        )
        await pilot.pause(0.2)
        w = lab.outcome.run.cfg.weights
        assert editor.field("weights", "bid").value == repr(w.bid) == "0.181818"
        assert editor.field("weights", "relevance").value == repr(w.relevance)
        assert abs(w.relevance - 0.35 / 1.1) < 2e-6
        text = screen_text(app)
        assert "sum of weights 1.0" in text and "≠ 1" not in text and "tie at the 1.0 cap" not in text
        assert "n Normalise" in text.splitlines()[-1]  # in the footer
