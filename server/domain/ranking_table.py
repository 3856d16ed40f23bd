"""The ``[ranking]`` table: weights and default floors, as scenarios and ``RANKING_CONFIG_FILE`` write them.

One shape, decoded in one place: a scenario's ``[ranking]`` table (``workbench.engine.scenario``)
and the server's ``RANKING_CONFIG_FILE`` (``server.settings``) both go through
``WeightsTable`` / ``FloorsTable`` and ``config_from_tables``, which builds the
``RankingConfig`` and passes it through the domain's one validation
(``ranking_config.validate_ranking_config``). Keys are snake_case as in the scenario files;
an unknown key is refused (a typo must not silently keep a default).

```toml
[weights]            # the defaults of spec §5 where a key is left out
relevance = 0.35
bid = 0.2
[floors]
relevance = 0.7
```

Pure: no I/O; the caller reads the file and says what it is called in error messages.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .errors import ValidationFailed
from .ranking_config import FactorConstants, Floors, RankingConfig, Weights, validate_ranking_config

_W, _F = Weights(), Floors()


class _Table(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """snake_case keys, unknown keys refused."""


class WeightsTable(_Table, kw_only=True):
    relevance: float = _W.relevance
    utility: float = _W.utility
    trust: float = _W.trust
    affective_fit: float = _W.affective_fit
    bid: float = _W.bid


class FloorsTable(_Table, kw_only=True):
    # Ranges are checked by ``validate_ranking_config``, like every ranking setting.
    relevance: float = _F.relevance
    utility: float = _F.utility


class RankingTable(_Table, kw_only=True):
    """The whole file of ``RANKING_CONFIG_FILE`` (a scenario's ``[ranking]`` table adds its own keys)."""

    weights: WeightsTable = msgspec.field(default_factory=WeightsTable)
    floors: FloorsTable = msgspec.field(default_factory=FloorsTable)


def config_from_tables(weights: WeightsTable, floors: FloorsTable, prefix: str = "ranking") -> RankingConfig:
    """The ``RankingConfig`` of these tables (spec §5's factor constants), validated by the domain:
    ``ValidationFailed`` naming the first bad field as ``{prefix}.weights.bid`` (no prefix: ``weights.bid``).
    """
    w, f = weights, floors
    cfg = RankingConfig(
        weights=Weights(
            relevance=w.relevance, utility=w.utility, trust=w.trust, affective_fit=w.affective_fit, bid=w.bid
        ),
        floors=Floors(relevance=f.relevance, utility=f.utility),
        factors=FactorConstants(),
    )
    return validate_ranking_config(cfg, prefix)


def decode_ranking_table(data: Any) -> RankingConfig:
    """A decoded TOML or JSON document in the ``RankingTable`` shape → a validated ``RankingConfig``.

    ``ValidationFailed`` (``field`` = the path, e.g. ``weights.bid``) for a wrong type, an unknown
    key or a value the ranking cannot use.
    """
    try:
        table = msgspec.convert(data, RankingTable)
    except msgspec.ValidationError as err:
        text = str(err)
        message, _, where = text.partition(" - at `$")
        path = where.rstrip("`").lstrip(".")
        if path:
            raise ValidationFailed(f"{path}: {message}", field=path) from None
        raise ValidationFailed(text) from None
    return config_from_tables(table.weights, table.floors, prefix="")


def ranking_table(cfg: RankingConfig) -> dict[str, dict[str, float]]:
    """``cfg``'s weights and floors in the ``RankingTable`` shape (``decode_ranking_table`` reads it back)."""
    w, f = cfg.weights, cfg.floors
    return {
        "weights": {
            "relevance": w.relevance,
            "utility": w.utility,
            "trust": w.trust,
            "affective_fit": w.affective_fit,
            "bid": w.bid,
        },
        "floors": {"relevance": f.relevance, "utility": f.utility},
    }
