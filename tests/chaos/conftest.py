"""Fixtures of the chaos proofs: a ``Stack`` per test that owns every process it starts.

The processes are the real ones (``python -m server serve``, ``worker``, ``mock
billing``, PostgreSQL and Redis from the machine's binaries), started through
the e2e suite's helpers (``tests.support``) and the session's PostgreSQL server
(``tests.backends``). When a proof fails, the processes' last output is shown.

The provider-fault proof spends most of its minute waiting out the real retry
backoff (15 s, then 30 s) on the wall clock, so when its test is selected it is
started in the background as soon as the first chaos test starts, on processes
of its own, and ``test_faults`` reads its figures at the end.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from . import faults
from .harness import Background, Stack, with_output

FAULTS_TEST = "tests/chaos/test_faults.py::test_provider_faults"


@pytest.fixture
def stack(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Stack]:
    group = Stack(tmp_path / "chaos", postgres=lambda: request.getfixturevalue("postgres"))
    try:
        yield group
    finally:
        output = group.output()
        group.close()
        print(output)  # captured: pytest shows it only when the test failed


@pytest.fixture(scope="session", autouse=True)
def faults_in_background(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Background | None]:
    if not any(item.nodeid.startswith(FAULTS_TEST) for item in request.session.items):
        yield None
        return
    stack = Stack(Path(tmp_path_factory.mktemp("faults")))
    run = Background(lambda: with_output(stack, lambda: faults.prove(stack, "sqlite", faults.SUITE)))
    try:
        yield run
    finally:
        with contextlib.suppress(BaseException):
            run.result(timeout=300)
        stack.close()
