"""One validation of a RankingConfig (spec §5's weights, floors and factor constants), in the domain."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import pytest

from server.domain.errors import ValidationFailed
from server.domain.ranking_config import (
    DEFAULT_RANKING,
    RankingConfig,
    ranking_config_problems,
    validate_ranking_config,
    weight_sum,
    weights_sum_to_one,
)
from server.services.context import Services


def test_the_defaults_are_valid_and_sum_to_one() -> None:
    assert validate_ranking_config(DEFAULT_RANKING) is DEFAULT_RANKING
    assert ranking_config_problems(DEFAULT_RANKING) == []
    assert weight_sum(DEFAULT_RANKING.weights) == pytest.approx(1.0, abs=1e-12)
    assert weights_sum_to_one(DEFAULT_RANKING.weights)
    assert not weights_sum_to_one(DEFAULT_RANKING.with_weights(bid=0.2).weights)
    assert weight_sum(DEFAULT_RANKING.with_weights(bid=0.2).weights) == pytest.approx(1.1)


@pytest.mark.parametrize(
    ("cfg", "field", "message"),
    [
        (
            DEFAULT_RANKING.with_weights(bid=-1.0),
            "ranking.weights.bid",
            "ranking.weights.bid: a weight cannot be negative (got -1)",
        ),
        (
            DEFAULT_RANKING.with_weights(affective_fit=-0.05),
            "ranking.weights.affective_fit",
            "ranking.weights.affective_fit: a weight cannot be negative (got -0.05)",
        ),
        (
            DEFAULT_RANKING.with_weights(trust=math.nan),
            "ranking.weights.trust",
            "ranking.weights.trust: a weight must be a finite number (got nan)",
        ),
        (
            DEFAULT_RANKING.with_weights(relevance=math.inf),
            "ranking.weights.relevance",
            "ranking.weights.relevance: a weight must be a finite number (got inf)",
        ),
        (
            DEFAULT_RANKING.with_floors(relevance=1.5),
            "ranking.floors.relevance",
            "ranking.floors.relevance: a floor is between 0 and 1 (got 1.5)",
        ),
        (
            DEFAULT_RANKING.with_floors(utility=-0.1),
            "ranking.floors.utility",
            "ranking.floors.utility: a floor is between 0 and 1 (got -0.1)",
        ),
        (
            replace(DEFAULT_RANKING, factors=replace(DEFAULT_RANKING.factors, category_mismatch=1.2)),
            "ranking.factors.category_mismatch",
            "ranking.factors.category_mismatch: a factor constant is between 0 and 1 (got 1.2)",
        ),
        (
            replace(
                DEFAULT_RANKING,
                factors=replace(DEFAULT_RANKING.factors, freshness_tiers=((90.0, 1.0), (30.0, 0.8))),
            ),
            "ranking.factors.freshness_tiers",
            "ranking.factors.freshness_tiers: the tiers' ages must be finite and ascending (got [90.0, 30.0])",
        ),
    ],
)
def test_a_bad_setting_is_refused_naming_its_field(cfg: RankingConfig, field: str, message: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        validate_ranking_config(cfg)
    assert err.value.field == field
    assert err.value.message == message
    assert err.value.status_code == 400


def test_every_problem_is_listed_and_the_prefix_names_where_the_config_lives() -> None:
    cfg = DEFAULT_RANKING.with_weights(bid=-1.0, utility=-2.0).with_floors(utility=3.0)
    assert [path for path, _ in ranking_config_problems(cfg, prefix="scenario.ranking")] == [
        "scenario.ranking.weights.utility",
        "scenario.ranking.weights.bid",
        "scenario.ranking.floors.utility",
    ]


def test_the_server_refuses_to_serve_with_an_invalid_ranking() -> None:
    stub = object()
    assert Services(store=stub, hot=stub, gateway=stub, settings=stub).ranking is DEFAULT_RANKING  # type: ignore[arg-type]
    with pytest.raises(ValidationFailed, match=re.escape("ranking.weights.bid: a weight cannot be negative")):
        Services(
            store=stub,
            hot=stub,
            gateway=stub,
            settings=stub,  # type: ignore[arg-type]
            ranking=DEFAULT_RANKING.with_weights(bid=-0.5),
        )
