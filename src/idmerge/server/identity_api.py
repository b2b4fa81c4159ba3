"""The server's own identity endpoints: explain an id, split a merge, export the
mappings, list ingestion warnings.

All need the project secret (see ``api.py``). Explain and split work on the project's
writer under its lock, so they reflect every acknowledged request at once, and a
split lands between two batches.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from idmerge.projects import Project
from idmerge.query import identity as tools
from idmerge.query import mappings
from idmerge.query import params as p
from idmerge.server.api import api_endpoint, state_of, streamed
from idmerge.server.http import json_response
from idmerge.server.state import now_ms

MAX_WARNINGS = 1000


@api_endpoint
async def identity(request: Request, project: Project, params: dict[str, Any]) -> Response:
    distinct_id = p.text(params, "distinct_id", required=True)
    assert distinct_id is not None
    writer = state_of(request).writer(project)
    return json_response(await run_in_threadpool(tools.explain, writer, distinct_id))


@api_endpoint
async def split(request: Request, project: Project, params: dict[str, Any]) -> Response:
    writer = state_of(request).writer(project)
    answer = await run_in_threadpool(
        lambda: tools.split(
            writer,
            now_ms=now_ms(),
            insert_id=p.text(params, "insert_id"),
            event_seq=p.integer(params, "seq", None, 0, 2**62),
            detach=p.text(params, "detach"),
            dry_run=p.boolean(params, "dry_run"),
        )
    )
    return json_response(answer)


@api_endpoint
async def identity_mappings(request: Request, project: Project, params: dict[str, Any]) -> Response:
    form = mappings.format_of(p.text(params, "format"))
    chunks = await streamed(mappings.mapping_chunks(state_of(request).store, project, form))
    headers = {}
    if form != "json":
        headers["Content-Disposition"] = (
            f'attachment; filename="{project.name}-identity-mappings.{form}"'
        )
    return StreamingResponse(chunks, media_type=mappings.MEDIA_TYPES[form], headers=headers)


@api_endpoint
async def warnings(request: Request, project: Project, params: dict[str, Any]) -> Response:
    limit = p.integer(params, "limit", 100, 1, MAX_WARNINGS) or 100
    before_seq = p.integer(params, "before_seq", None, 0, 2**62)
    found = await run_in_threadpool(
        lambda: state_of(request).store.read_warnings(
            project.id, limit=limit, before_seq=before_seq, reason=p.text(params, "reason")
        )
    )
    return json_response(
        {
            "status": "ok",
            "results": [w._asdict() for w in found],
            "next_before_seq": found[-1].seq if len(found) == limit else None,
        }
    )
