"""An alert receiver for a developer machine (spec §10): ``promotion-agent mock alerts``.

Records every POST, whatever its path (point ``ALERT_WEBHOOK_URL`` at ``/webhook``
and ``SLACK_WEBHOOK_URL`` at ``/slack``, say), and lists them at ``GET /events``.
``ALERT_MOCK_STATUS`` (or ``--status``) sets the HTTP status it answers with, so a
sink that is down can be tried out too.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from litestar import Litestar, Request, Response, delete, get, route

from ..serving import bind_loopback, bound_url, serve_blocking
from ..settings import env_int


def create_app(status_code: int = 200) -> Litestar:
    events: list[dict[str, Any]] = []

    @route(["/", "/events", "/{path:path}"], http_method=["POST"], status_code=200)
    async def record(request: Request) -> Response:
        raw = await request.body()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw.decode("utf-8", errors="replace")
        events.append(
            {
                "receivedAt": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
                "path": request.url.path,
                "headers": {k.lower(): v for k, v in request.headers.items()},
                "body": body,
            }
        )
        return Response(content={"received": True}, status_code=status_code)

    @get("/events")
    async def list_events() -> dict[str, Any]:
        return {"events": events}

    @delete("/events", status_code=204)
    async def reset() -> None:
        events.clear()

    return Litestar(route_handlers=[record, list_events, reset], debug=False)


def run(rest_args: list[str], env: Mapping[str, str] | None = None) -> int:
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(
        prog="promotion-agent mock alerts", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--port", type=int, default=None, help="port on 127.0.0.1 (ALERT_MOCK_PORT, 8790)")
    parser.add_argument(
        "--status", type=int, default=None, help="HTTP status to answer with (ALERT_MOCK_STATUS, 200)"
    )
    args = parser.parse_args(rest_args)
    port = args.port if args.port is not None else env_int(env, "ALERT_MOCK_PORT", 8790, maximum=65535)
    status = args.status if args.status is not None else env_int(env, "ALERT_MOCK_STATUS", 200)
    if not 200 <= status <= 599:
        raise ValueError(f"ALERT_MOCK_STATUS must be an HTTP status between 200 and 599, got {status}")
    sock = bind_loopback(port)
    message = (
        f"mock alert receiver listening on {bound_url(sock)} (POST any path, GET /events; status={status})"
    )
    return serve_blocking(create_app(status), sock, message)
