"""Keep a server the workbench started from outliving it: ``python -m workbench.app.server_guard -- CMD …``.

The guard runs ``CMD`` (the server) in a process group of its own and holds the
read end of a pipe whose write end only the workbench has (the guard's stdin).
However the workbench ends — quit, an exception, SIGTERM, SIGHUP when its
terminal closes, even SIGKILL — the kernel closes that pipe, the guard reads
end-of-file and stops the server's whole process group (SIGTERM, then SIGKILL
after ``STOP_TIMEOUT_S``), so the port is free again. The guard also stops the
server on SIGTERM, SIGHUP or SIGINT of its own, and exits with the server's
code when the server ends by itself (the workbench reads that as a failed start).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
from types import FrameType

STOP_TIMEOUT_S = 10.0
POLL_S = 0.2


def stop_group(process: subprocess.Popen, timeout: float = STOP_TIMEOUT_S) -> int:
    """SIGTERM to the server's process group, SIGKILL if it is still there after ``timeout``; its code."""
    if process.poll() is not None:
        return process.returncode
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        return process.wait()


class _Stop(Exception):
    pass


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop(signum)


def guard(command: list[str]) -> int:
    for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
        signal.signal(signum, _raise_stop)
    server = subprocess.Popen(command, start_new_session=True, stdin=subprocess.DEVNULL)
    watched = sys.stdin.fileno()
    try:
        while True:
            if server.poll() is not None:
                return server.returncode  # the server ended by itself
            ready, _, _ = select.select([watched], [], [], POLL_S)
            if ready and not os.read(watched, 4096):
                break  # end of file: the workbench is gone (or closed the pipe to stop us)
    except _Stop:
        pass
    finally:
        for signum in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(signum, signal.SIG_IGN)  # stopping the server is not interrupted
        stop_group(server)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["--"]:
        args = args[1:]
    if not args:
        print("usage: python -m workbench.app.server_guard -- COMMAND [ARG ...]", file=sys.stderr)
        return 2
    return guard(args)


if __name__ == "__main__":
    sys.exit(main())
