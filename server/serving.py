"""Small ASGI servers on the loopback interface: the worker's metrics endpoint and the local mocks.

The socket is bound here (port 0 picks a free port) so the real address can be
announced before serving; uvicorn then serves on that socket. Whether uvicorn
handles SIGINT/SIGTERM is a choice: the mocks let it (a signal stops them and the
process exits 0), the worker keeps its own handlers and stops the server itself.
"""

from __future__ import annotations

import contextlib
import signal
import socket
from collections.abc import Iterator
from typing import Any

import uvicorn
from uvicorn.config import LifespanType

LOOPBACK = "127.0.0.1"


def bind_loopback(port: int) -> socket.socket:
    """A listening TCP socket on 127.0.0.1:port (0 = any free port); OSError when the port is taken."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((LOOPBACK, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {LOOPBACK}:{port}: {exc.strerror or exc}") from None
    sock.set_inheritable(True)
    return sock


def bound_url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{host}:{port}"


class LoopbackServer(uvicorn.Server):
    """uvicorn's server; with ``handle_signals`` it stops on SIGINT/SIGTERM and returns normally
    (uvicorn itself re-raises the signal after shutting down, which would end the process with it)."""

    def __init__(
        self,
        app: Any,
        *,
        handle_signals: bool,
        ready_message: str | None = None,
        lifespan: LifespanType = "on",
    ) -> None:
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan=lifespan,
            timeout_graceful_shutdown=2,
        )
        super().__init__(config)
        self.handle_signals = handle_signals
        self.ready_message = ready_message

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.ready_message and self.started:
            # Announced once serving (and, with handle_signals, once a signal stops it cleanly).
            print(self.ready_message, flush=True)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if not self.handle_signals:
            yield
            return
        original = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in original.items():
                signal.signal(sig, handler)


def serve_blocking(app: Any, sock: socket.socket, ready_message: str) -> int:
    """Serve ``app`` on ``sock`` until SIGINT/SIGTERM, printing ``ready_message`` once serving; 0 on a clean stop."""
    server = LoopbackServer(app, handle_signals=True, ready_message=ready_message)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    return 0
