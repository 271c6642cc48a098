"""An export's file as a streamed response, for /exports/{id} and the REST export."""

from __future__ import annotations

import logging

from starlette.responses import StreamingResponse

from core.errors import ServiceUnavailable
from resolvers.analytics_exports import authorize_download, open_export
from resolvers.context import AppState

log = logging.getLogger(__name__)


async def export_download(app: AppState, export_id: str, authorization: str) -> StreamingResponse:
    """The export's bytes for the bearer of `authorization`, streamed as an attachment.

    Raises the ApiError of authorize_download (401, 404), or ServiceUnavailable when the
    analytics store cannot start the query (the cause is logged, not shown).
    """
    job = await authorize_download(app, export_id, authorization)
    try:
        body = await open_export(app, job)
    except Exception:
        log.exception("export %s could not start", job.id)
        raise ServiceUnavailable("the analytics store is unavailable") from None
    disposition = f'attachment; filename="{job.filename}"'
    return StreamingResponse(
        body, media_type=job.media_type, headers={"content-disposition": disposition}
    )
