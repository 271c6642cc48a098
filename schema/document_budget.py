"""A budget of bytes per caller and minute for documents too long for the parse cache.

A document longer than CACHED_QUERY_CHARS is parsed and validated anew on every request
(schema/pipeline.py says why it is not kept), on the event loop and in one piece: 90 KB of
comment costs about 10 ms to parse and nothing to send, and while it parses every other
request on the process waits. `bench/abuse_bench.py --attackers apq` measured a signed-in
client flooding new 90 KB documents: the normal client's p99 went to 5x its idle p99.

So before anything parses or stores it, such a document spends its size in KB from
LARGE_DOCUMENT_KB_PER_MINUTE, per user (per address for anonymous callers); a caller who
has spent it gets RATE_LIMITED with retryAfter, which costs the server little. Shorter
documents are free: their parse is cached, or short. HTTP checks in server/graphql_app.py,
websockets in server/websockets.py, both before APQ or the allow-list see the document.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Final

from limits import RateLimitItemPerMinute

from core.errors import RateLimited, ServiceUnavailable
from schema.cost import CACHED_QUERY_CHARS
from schema.limits import caller

log = logging.getLogger(__name__)

NAMESPACE: Final = "documents"
SETTING: Final = "LARGE_DOCUMENT_KB_PER_MINUTE"


async def large_document_refusal(request_context: Any, query: object) -> RateLimited | None:
    """Spend a long `query`'s KB from its caller's minute; the refusal when it has no room."""
    if not isinstance(query, str) or len(query) <= CACHED_QUERY_CHARS:
        return None
    budget: int = request_context.settings.large_document_kb_per_minute
    if budget == 0:
        return None
    size = len(query.encode())
    if size > request_context.settings.max_query_bytes:
        return None  # refused for its size (MAX_QUERY_BYTES) before it parses: free
    kb = math.ceil(size / 1000)
    principal = await caller(request_context)
    key = principal.user_id if principal is not None else f"ip:{request_context.client_ip}"
    try:
        decision = await request_context.app.rate_limiter.spend(
            NAMESPACE, key, RateLimitItemPerMinute(budget), kb
        )
    except ServiceUnavailable:  # fail open, as the query cost budget does (schema/limits.py)
        log.warning("large document budget not counted: the rate limiter is unavailable")
        return None
    if decision.allowed:
        return None
    return RateLimited(
        f"large documents: each caller may send {budget} KB per minute of documents over "
        f"{CACHED_QUERY_CHARS} characters, and this one is {kb} KB ({SETTING}); send it "
        "once by APQ hash, or shorter",
        retry_after=decision.retry_after_seconds,
        limit=SETTING,
        cost=kb,
    )
