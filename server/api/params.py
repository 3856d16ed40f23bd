"""Path and query parameters as the contract declares them, with every bound the server enforces.

Declared once here so that the OpenAPI document states each limit (lengths,
ranges, patterns) exactly as the server applies it: ids at most 200 characters
and without NUL, pages and sizes within their ranges, cursors in their format.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from litestar import Request, Response
from litestar.datastructures import ResponseHeader
from litestar.params import Parameter, QueryParameter

from ..domain.models import ID_MAX_LENGTH, NO_NUL
from ..services.pages import CURSOR_PATTERN, MAX_LIMIT, CursorPage

MAX_PAGE = 1_000_000
MAX_PAGE_SIZE = 100
FILTER_MAX_LENGTH = 2000


def IdPath(what: str) -> Any:
    """A path parameter naming one record."""
    return Parameter(
        description=f"the {what}'s id",
        min_length=1,
        max_length=ID_MAX_LENGTH,
        pattern=NO_NUL,
    )


def IdFilter(name: str, what: str) -> Any:
    return QueryParameter(
        name=name, description=f"only rows of this {what}", max_length=ID_MAX_LENGTH, pattern=NO_NUL
    )


def ListFilter(name: str, description: str) -> Any:
    return QueryParameter(name=name, description=description, max_length=FILTER_MAX_LENGTH, pattern=NO_NUL)


LeadId = Annotated[str, IdPath("agent lead")]
CampaignId = Annotated[str, IdPath("campaign")]
SettlementId = Annotated[str, IdPath("settlement")]
DlqEntryId = Annotated[str, IdPath("dead-letter entry")]

ProvenanceQuery = Annotated[str | None, ListFilter("provenance", "comma-separated data provenances")]
StatusQuery = Annotated[str | None, ListFilter("status", "comma-separated statuses")]
TextQuery = Annotated[str | None, QueryParameter(max_length=FILTER_MAX_LENGTH, pattern=NO_NUL)]
TraceIdQuery = Annotated[str | None, IdFilter("traceId", "trace")]
SettlementIdQuery = Annotated[str | None, IdFilter("settlementId", "settlement")]
CampaignIdQuery = Annotated[str | None, IdFilter("campaignId", "campaign")]
EntityIdQuery = Annotated[str | None, IdFilter("entityId", "entity")]

PageQuery = Annotated[int, QueryParameter(name="page", description="1-based page number", ge=1, le=MAX_PAGE)]
PageSizeQuery = Annotated[
    int, QueryParameter(name="pageSize", description="items per page", ge=1, le=MAX_PAGE_SIZE)
]
CursorQuery = Annotated[
    str | None,
    QueryParameter(
        description="where the page starts: the cursor in the previous page's Link header (none: the first)",
        pattern=CURSOR_PATTERN,
    ),
]


def LimitQuery(default: int) -> Any:
    return QueryParameter(description=f"rows per page (default {default})", ge=1, le=MAX_LIMIT)


PAGING_HEADERS = [
    ResponseHeader(
        name="X-Total-Count",
        value="0",
        documentation_only=True,
        required=True,
        description="how many rows match the filters, over all pages (a decimal integer)",
    ),
    ResponseHeader(
        name="Link",
        value="",
        documentation_only=True,
        required=False,
        description='`<URL of the next page>; rel="next"` (the same filters and limit, the next cursor); '
        "absent on the last page",
    ),
]


def paged(request: Request, page: CursorPage[Any], limit: int) -> Response[list[Any]]:
    """The rows as a JSON array, with ``X-Total-Count`` and, if more follow, ``Link: …; rel="next"``."""
    headers = {"X-Total-Count": str(page.total)}
    if page.next_cursor is not None:
        query = [(k, v) for k, v in request.query_params.multi_items() if k not in ("cursor", "limit")]
        query += [("limit", str(limit)), ("cursor", page.next_cursor)]
        url = str(request.url.with_replacements(query=urlencode(query)))
        headers["Link"] = f'<{url}>; rel="next"'
    return Response(page.items, headers=headers)


def comma_list(value: str | None) -> list[str]:
    """A comma-separated filter (``status=a,b``) as a list, blanks dropped; none given is an empty list."""
    return [part.strip() for part in value.split(",") if part.strip()] if value else []
