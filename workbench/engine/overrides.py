"""``--set`` overrides: ``key.path=value`` strings, parsed as TOML values and applied to a scenario's raw
table (before it is decoded and validated, so a bad override is refused like a bad file), and the
overrides that turn one ranking config into another (what a saved variant or an export records)."""

from __future__ import annotations

import tomllib
from typing import Any

from server.domain.ranking_config import FLOOR_NAMES, WEIGHT_NAMES, RankingConfig
from workbench.engine.errors import ScenarioError


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"ranking.weights.bid=0.2"`` → (["ranking", "weights", "bid"], 0.2); ScenarioError if malformed."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ScenarioError(f"--set {text!r}: expected KEY=VALUE, e.g. ranking.weights.bid=0.2")
    parts = key.split(".")
    if any(not p.strip() for p in parts):
        raise ScenarioError(
            f"--set {text!r}: the key {key!r} has an empty part; use dotted names like ranking.weights.bid"
        )
    raw = raw.strip()
    if raw == "":
        raise ScenarioError(f"--set {text!r}: no value after '='")
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # not a TOML value: take it as a string (names, paths)
    return [p.strip() for p in parts], value


def apply_overrides(table: dict[str, Any], overrides: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """Set each dotted key in the raw table (creating tables as needed; list items by index)."""
    for text in overrides:
        parts, value = parse_override(text)
        node: Any = table
        for i, part in enumerate(parts[:-1]):
            here = ".".join(parts[: i + 1])
            if isinstance(node, list):
                node = node[_index(text, here, part, node)]
            elif isinstance(node, dict):
                node = node.setdefault(part, {})
            else:
                raise ScenarioError(f"--set {text!r}: {'.'.join(parts[:i]) or 'the scenario'} is not a table")
            if not isinstance(node, (dict, list)):
                raise ScenarioError(f"--set {text!r}: {here} is a value, not a table")
        last = parts[-1]
        if isinstance(node, list):
            node[_index(text, ".".join(parts), last, node)] = value
        else:
            node[last] = value
    return table


def ranking_overrides(base: RankingConfig, cfg: RankingConfig) -> list[str]:
    """The ``--set`` overrides that turn ``base``'s weights and floors into ``cfg``'s (6 decimals, as saved)."""
    out = []
    for table, names in (("weights", WEIGHT_NAMES), ("floors", FLOOR_NAMES)):
        for name in names:
            old, new = getattr(getattr(base, table), name), getattr(getattr(cfg, table), name)
            if old != new:
                out.append(f"ranking.{table}.{name}={round(float(new), 6) + 0.0!r}")
    return out


def _index(text: str, here: str, part: str, items: list) -> int:
    if not part.isdigit() or int(part) >= len(items):
        raise ScenarioError(f"--set {text!r}: {here} must be an index below {len(items)} of a list")
    return int(part)
