"""Fixtures of the chaos proofs: a ``Stack`` per test that owns every process it starts.

The processes are the real ones (``python -m server serve``, ``worker``, ``mock
billing``, PostgreSQL and Redis from the machine's binaries), started through
the e2e suite's helpers (``tests.support``) and the session's PostgreSQL server
(``tests.backends``). When a proof fails, the processes' last output is shown.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from .harness import Stack


@pytest.fixture
def stack(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Stack]:
    group = Stack(tmp_path / "chaos", postgres=lambda: request.getfixturevalue("postgres"))
    try:
        yield group
    finally:
        output = group.output()
        group.close()
        print(output)  # captured: pytest shows it only when the test failed
