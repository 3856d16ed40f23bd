"""A replay of the terminal application, in a process of its own.

A replay plans the scenario's traffic (seconds of polars and numpy for a large
scenario) and then sends, encodes and decodes thousands of requests: most of a
core. On the interface's event loop (or in a thread of its process, which only
moves the contention to the GIL) that work delays every key press; in a process
of its own, at a lower priority (``NICENESS``), the operating system shares the
cores and the interface gets the moments it needs. ``workbench.app.replay.replay_scenario``
runs there unchanged, with its own API client (same server, same key).

The child is ``python -m workbench.app.replay_process FD``; the two talk over a socket
pair (``multiprocessing.connection.Connection`` on each end, pickled messages).
The parent sends ``(base_url, headers, scenario)`` and may later send ``"cancel"``;
the child sends ``("progress", done, total)`` at most five times a second, then
``("done", summary)``, ``("error", message)`` or ``("cancelled",)``. The child
cancels the replay between requests when asked, and also when the socket closes
(the workbench ended, however it ended), so it never outlives the workbench.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from workbench.app.client import ApiClient, ApiError

PACKAGE_ROOT = Path(__file__).resolve().parents[2]
PROGRESS_EVERY_S = 0.2
STOP_WAIT_S = 3.0
# The replay yields to the interface when the machine is busy (a higher nice value: a lower priority).
NICENESS = 5


def _send(conn: Connection, message: tuple) -> None:
    with contextlib.suppress(BrokenPipeError, EOFError, OSError):  # the workbench may have gone
        conn.send(message)


async def _replay(conn: Connection, base_url: str, headers: dict[str, str], scenario: Any) -> None:
    from workbench.app.replay import replay_scenario
    from workbench.app.server_mode import ReplayRefused

    loop = asyncio.get_running_loop()
    last = [float("-inf")]

    def progress(done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - last[0] < PROGRESS_EVERY_S:
            return
        last[0] = now
        _send(conn, ("progress", done, total))

    async with ApiClient(base_url, headers=headers) as client:
        task = asyncio.ensure_future(replay_scenario(client, scenario, progress=progress))

        def readable() -> None:
            try:
                message = conn.recv()
            except (EOFError, OSError):  # the workbench has gone: stop
                message = "cancel"
            if message == "cancel":
                loop.remove_reader(conn.fileno())
                task.cancel()

        loop.add_reader(conn.fileno(), readable)
        try:
            summary = await task
        except asyncio.CancelledError:
            _send(conn, ("cancelled",))
            return
        except ApiError as exc:
            _send(conn, ("error", exc.message))
            return
        except ReplayRefused as exc:  # a real_test server: nothing was sent
            _send(conn, ("error", str(exc)))
            return
        except Exception as exc:  # a failure of the replay itself: say what it was, in one line
            _send(conn, ("error", f"{exc.__class__.__name__}: {exc}"))
            return
        finally:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(conn.fileno())
        _send(conn, ("done", summary))


def child_main(fd: int) -> int:
    """The child's side: read the job from the socket ``fd``, replay, report."""
    with contextlib.suppress(OSError):
        os.nice(NICENESS)
    conn = Connection(fd)
    try:
        base_url, headers, scenario = conn.recv()
        asyncio.run(_replay(conn, base_url, headers, scenario))
    except (EOFError, KeyboardInterrupt):  # the workbench went before the job came; Ctrl-C in the terminal
        return 1
    finally:
        conn.close()
    return 0


class ReplayProcess:
    """One replay in a child process, reporting to callbacks on the interface's event loop."""

    def __init__(
        self,
        client: ApiClient,
        scenario: Any,
        on_progress: Callable[[int, int], None],
        on_done: Callable[[Any], None],
        on_error: Callable[[str], None],
        on_cancelled: Callable[[], None] = lambda: None,
    ) -> None:
        self.base_url = client.base_url
        self.headers = client.headers
        self.scenario = scenario
        self.on_progress = on_progress
        self.on_done = on_done
        self.on_error = on_error
        self.on_cancelled = on_cancelled
        self.process: subprocess.Popen | None = None
        self._stderr: Any = None
        self._conn: Connection | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.finished = False
        self.cancelled = False

    @property
    def running(self) -> bool:
        """Started, and neither finished nor cancelled (a cancelled child may still be finishing a step)."""
        return self.process is not None and not self.finished and not self.cancelled

    def start(self) -> None:
        """Start the child (from the interface's event loop, whose reader then follows the socket)."""
        ours, theirs = socket.socketpair()
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - kept open for the child's lifetime
        env = dict(os.environ)  # the child imports this very package, wherever it was imported from
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(PACKAGE_ROOT), env.get("PYTHONPATH"))))
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "workbench.app.replay_process", str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,  # never onto the terminal the interface draws
                start_new_session=True,  # Ctrl-C and the terminal's signals go to the workbench only
            )
        finally:
            theirs.close()
        self._conn = Connection(ours.detach())
        self._conn.send((self.base_url, self.headers, self.scenario))
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(self._conn.fileno(), self._readable)

    def _readable(self) -> None:
        assert self._conn is not None
        try:
            while self._conn.poll():
                message = self._conn.recv()
                self._handle(message)
                if self.finished:
                    return
        except (EOFError, OSError):
            if not self.finished:
                self._finish()
                self.on_error(f"the replay process ended without a result{self._last_words()}")

    def _last_words(self) -> str:
        """The last line the child wrote to its standard error, if any (a crash's exception)."""
        if self._stderr is None:
            return ""
        self._stderr.seek(0)
        text = self._stderr.read().decode(errors="replace")
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        return f": {lines[-1]}" if lines else ""

    def _handle(self, message: tuple) -> None:
        kind = message[0]
        if kind == "progress":
            self.on_progress(message[1], message[2])
            return
        self._finish()
        if kind == "done":
            self.on_done(message[1])
        elif kind == "error":
            self.on_error(message[1])
        else:
            self.on_cancelled()

    def _finish(self) -> None:
        self._detach()
        self._reap(wait=STOP_WAIT_S)

    def _detach(self) -> None:
        """No more messages: stop following the socket and close it."""
        self.finished = True
        if self._conn is None or self._conn.closed:
            return
        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(ValueError, OSError):
                self._loop.remove_reader(self._conn.fileno())
        self._conn.close()

    def _reap(self, wait: float = 0.0) -> None:
        """Collect the child once it has exited (it does right after its last message); one that is
        still there ``wait`` seconds later is ended. Never blocks the event loop."""
        if self.process is None or self.process.poll() is not None:
            self._close_stderr()
            return
        if wait > 0 and self._loop is not None and not self._loop.is_closed():
            self._loop.call_later(wait, self._reap)
        else:
            self.process.terminate()
            self._close_stderr()

    def _close_stderr(self) -> None:
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def cancel(self) -> None:
        """Ask the child to stop between requests; its callbacks are not called any more."""
        if self.finished or self._conn is None:
            return
        self.cancelled = True
        with contextlib.suppress(BrokenPipeError, OSError):
            self._conn.send("cancel")
        self.on_progress = lambda done, total: None
        self.on_done = lambda summary: None
        self.on_error = lambda message: None

    def stop(self) -> None:
        """Cancel and wait for the child (at most ``STOP_WAIT_S``, then end it)."""
        self.cancel()
        if self.process is not None and self.process.poll() is None:
            try:
                self.process.wait(timeout=STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                self.process.terminate()
                self.process.wait(timeout=STOP_WAIT_S)
        self._detach()
        self._close_stderr()


if __name__ == "__main__":
    raise SystemExit(child_main(int(sys.argv[1])))
