"""Network and CPU work of the terminal application away from its event loop.

A replay sends thousands of requests and decodes thousands of answers; read on
the interface's own event loop, that work delays every key press behind it. Here
such a coroutine runs on an event loop of its own in a worker thread (a Textual
thread worker), with its own API client, and reports to the interface through
``Poster`` (it never waits for the interface) at most every ``Throttle.interval``.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable, Callable, TypeVar

T = TypeVar("T")

POLL_S = 0.05


def run_in_own_loop(make: Callable[[], Awaitable[T]], cancelled: Callable[[], bool]) -> T:
    """Run ``make()`` on a new event loop in this thread; cancel it as soon as ``cancelled()`` is true
    (checked every 50 ms), which raises ``asyncio.CancelledError`` here."""

    async def main() -> T:
        task = asyncio.ensure_future(make())
        while not task.done():
            if cancelled():
                task.cancel()
                break
            await asyncio.wait({task}, timeout=POLL_S)
        return await task

    return asyncio.run(main())


class Poster:
    """Calls a function on the interface's event loop from another thread without waiting for it;
    once that loop is closed (the application has ended) the call is dropped."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def __call__(self, fn: Callable[..., Any], *args: Any) -> None:
        try:
            self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop is closed
            pass


class Throttle:
    """Lets progress reports ``(done, total)`` through at most every ``interval`` seconds, and always
    the first and the last (``done == total``)."""

    def __init__(self, report: Callable[[int, int], None], interval: float = 0.1) -> None:
        self.report = report
        self.interval = interval
        self._last = -1.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self._last >= 0 and done < total and now - self._last < self.interval:
            return
        self._last = now
        self.report(done, total)
