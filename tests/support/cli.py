"""Running ``python -m server …`` commands to completion, as a user runs them (for the mode and import tests)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tests.support import REPO_ROOT
from tests.support.worker_fixtures import COMMAND_ENV_VARS


def clean_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The test process's environment without any setting the server reads, plus ``env``."""
    full = {k: v for k, v in os.environ.items() if k not in COMMAND_ENV_VARS}
    full.update({"PYTHONUNBUFFERED": "1", **(env or {})})
    return full


def run_cli(
    args: list[str], env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "server", *args],
        cwd=REPO_ROOT,
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def import_file(
    kind: str, path: Path | None, env: Mapping[str, str], *extra: str
) -> tuple[int, dict[str, Any], str]:
    """``promotion-agent import KIND [PATH]``: exit code, the JSON summary (empty when none) and stderr."""
    done = run_cli(["import", kind, *([str(path)] if path else []), *extra], env)
    summary = json.loads(done.stdout) if done.stdout.strip() else {}
    return done.returncode, summary, done.stderr


def write_jsonl(path: Path, items: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(item) + "\n" for item in items), encoding="utf-8")
    return path
