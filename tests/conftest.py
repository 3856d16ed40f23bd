"""Suite-wide pytest configuration.

Kept small on purpose: the unit, integration and end-to-end suites bring their
own fixtures. This only makes ``tests.support`` importable however pytest is
invoked (from the repository root or from a subfolder).
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

# Real PostgreSQL and Redis servers (session fixtures ``postgres``, ``postgres_url``, ``redis_url``).
pytest_plugins = ["tests.backends", "tests.support.worker_fixtures"]  # backends; the `processes` fixture
