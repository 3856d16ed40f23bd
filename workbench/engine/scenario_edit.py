"""Writing an edited copy of a scenario file: some keys of some tables replaced, the rest kept as written.

tomllib reads but does not write, and a scenario's comments are worth keeping, so the edit is done on
the text: a key's value is replaced in place (its comment kept), a missing key is appended to its table,
a missing table to the file. The new file is checked before it replaces anything: it must read back as
the original with only the intended values changed, and load as a scenario. The lab's tuned scenarios,
the optimiser's winner and the calibrated funnel are all written so.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from workbench.engine.scenario import ScenarioError, load_scenario

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(
    r"^(?P<indent>\s*)(?P<key>[A-Za-z0-9_-]+)(?P<eq>\s*=\s*)(?P<value>[^#\n]*?)(?P<tail>\s*(#.*)?)$"
)


def fmt_value(value: float) -> str:
    """A setting as saved (``0.1``, ``0.72``, ``0.0``): rounded to 6 places, a TOML float."""
    return repr(round(float(value), 6) + 0.0)


def set_keys(lines: list[str], table: str, values: dict[str, str]) -> list[str]:
    """Set ``values`` in the ``[table]`` section (value text only, comments kept; missing keys appended)."""
    headers = (i for i, line in enumerate(lines) if (m := _HEADER.match(line)) and m.group(1) == table)
    start = next(headers, None)
    if start is None:
        body = [f"{k} = {v}" for k, v in values.items()]
        tail = [""] if lines and lines[-1].strip() else []
        return lines + tail + [f"[{table}]", *body]
    end = next((i for i in range(start + 1, len(lines)) if _HEADER.match(lines[i])), len(lines))
    todo = dict(values)
    last = start
    out = list(lines)
    for i in range(start + 1, end):
        m = _KEY.match(out[i])
        if not m:
            continue
        last = i
        if m.group("key") in todo:
            out[i] = f"{m['indent']}{m['key']}{m['eq']}{todo.pop(m['key'])}{m['tail']}"
    return out[: last + 1] + [f"{k} = {v}" for k, v in todo.items()] + out[last + 1 :]


def set_name(lines: list[str], name: str) -> list[str]:
    out = list(lines)
    for i, line in enumerate(out):
        if _HEADER.match(line):
            break
        m = _KEY.match(line)
        if m and m.group("key") == "name":
            out[i] = f'{m["indent"]}name{m["eq"]}"{name}"{m["tail"]}'
            return out
    return out


def beside(source: Path, out: Path | None, default_name: str, what: str) -> Path:
    """Where a scenario derived from ``source`` goes: next to it (its seed and replay paths are relative to
    it); ``out`` is a bare file name or a path in that folder, else ScenarioError."""
    name = default_name if out is None else out.name
    # a bare file name means next to the scenario
    if out is not None and out.parent != Path(".") and out.parent.resolve() != source.parent.resolve():
        raise ScenarioError(
            f"--out {out}: {what} is saved next to {source.name} (its seed and replay paths "
            f"are relative to it); give a file name there, e.g. {source.parent / name}"
        )
    return source.parent / name


def save_edited_scenario(
    source: Path,
    file_name: str,
    edit: Callable[[str, str], str],
    expected: Callable[[dict[str, Any], str], dict[str, Any]],
    tables: str,
    who: str = "the lab",
) -> Path:
    """Write ``edit(original text, new name)`` as ``file_name`` next to ``source``; its path.

    ``expected(original data, new name)`` is what the new file must read as (else the ``tables`` of the
    source, e.g. ``[ranking] tables``, are written in a form this editing cannot handle); the file must
    also load as a scenario. Written to a temporary file first, so a refused file leaves nothing behind.
    """
    name = file_name.strip()
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ScenarioError(f"{file_name!r}: give a file name (it is saved next to {source.name})")
    if not name.endswith(".toml"):
        name += ".toml"
    target = source.parent / name
    if target.resolve() == source.resolve():
        raise ScenarioError(f"{name}: choose a new name; {who} does not overwrite the scenario it loaded")
    original_text = source.read_text(encoding="utf-8")
    original = tomllib.loads(original_text)
    text = edit(original_text, target.stem)
    try:
        written = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(
            f"{source.name}: its {tables} are written in a form {who} cannot edit ({err})"
        ) from None
    if written != expected(original, target.stem):
        raise ScenarioError(f"{source.name}: its {tables} are written in a form {who} cannot edit")
    temp = target.with_name(f".{target.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    try:
        load_scenario(temp)
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    return target
