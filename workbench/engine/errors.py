"""The batch engine's one error: a scenario (or an override of it) that cannot be used."""

from __future__ import annotations


class ScenarioError(Exception):
    """A scenario (or an override) that cannot be used; ``str()`` is the one-line message."""
