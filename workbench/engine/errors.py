"""The batch engine's one error, a scenario (or an override of it) that cannot be used, and how its messages
name the file, the line and the field."""

from __future__ import annotations

import re
from pathlib import Path


class ScenarioError(Exception):
    """A scenario (or an override) that cannot be used; ``str()`` is the one-line message."""


_AT = re.compile(r"^(?P<msg>.*?) - at `\$(?P<path>[^`]*)`$", re.S)


def _format_path(path: str) -> str:
    return path.lstrip(".") or "(top level)"


def validation_message(where: str, err: Exception, prefix: str = "") -> str:
    text = str(err)
    match = _AT.match(text)
    if match:
        path = prefix + match.group("path")
        return f"{where}: at {_format_path(path)}: {match.group('msg')}"
    if prefix:
        return f"{where}: at {_format_path(prefix)}: {text}"
    return f"{where}: {text}"


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)
