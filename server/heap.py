"""The serving process's heap: what the garbage collector scans on every full collection.

A full (generation 2) collection walks every tracked object. After start-up most of those are the
modules, classes and functions of Litestar, SQLAlchemy, msgspec and this server, which live as long as
the process. Measured under the receipt benchmark, the six full collections of a 10 s run each took over
5 ms and the worst 92 ms: the p99 of the whole run. ``settle_heap`` collects once and then moves every
object alive at that point into the permanent generation (``gc.freeze``), so full collections walk only
what requests created since.

Only the serving process does this (``promotion-agent serve`` sets ``GC_FREEZE=1``): frozen objects are
never collected, so a process that builds and drops many applications (the tests) must not freeze.
"""

from __future__ import annotations

import gc


def settle_heap() -> None:
    gc.collect()
    gc.freeze()
