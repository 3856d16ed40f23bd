"""The operator pages (spec/api.md "Operator pages"): plain HTML and small scripts over the API.

``/dlq.html``, ``/audit.html`` and ``/plans-wallet`` are files in ``server/static/``; their scripts and
style sheet are served from ``/static/``. The pages hold no data: every figure is read by the page's
script from the API, with the operator's key when the server has keys. So the pages and their assets
are open to anyone (``services/access.py``), like ``/health``, and they are not in the OpenAPI document.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from litestar import MediaType, Request, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
STATIC_PATH = "/static"

# The pages' own files only: no inline script or style, no other origin (no CDN), no framing.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
PAGE_HEADERS = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "cache-control": "no-cache",
}

# The path each page is served at → its file in server/static/.
PAGES = {"/dlq.html": "dlq.html", "/audit.html": "audit.html", "/plans-wallet": "plans-wallet.html"}


@cache
def _page(name: str) -> bytes:
    return (STATIC_DIR / name).read_bytes()


@get(list(PAGES), include_in_schema=False, media_type=MediaType.HTML, sync_to_thread=False)
def operator_page(request: Request) -> Response[bytes]:
    return Response(_page(PAGES[request.url.path]), media_type=MediaType.HTML, headers=PAGE_HEADERS)


PAGE_HANDLERS: list[Any] = [
    operator_page,
    create_static_files_router(
        path=STATIC_PATH,
        directories=[STATIC_DIR],
        include_in_schema=False,
        name="operator-static",
        cache_control=CacheControlHeader(no_cache=True),
    ),
]
