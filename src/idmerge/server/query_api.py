"""Mixpanel's read API on resolved ids: export, engage and the discovery calls.

Served under both ``/api/2.0/`` and ``/api/query/`` (real clients use both), with and
without a trailing slash. Every call needs the project secret; see ``api.py``.
Queries read a DuckDB snapshot on a cursor of their own, in a worker thread, so they
never hold up ingestion.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from idmerge.errors import BadRequest
from idmerge.projects import Project
from idmerge.query import discovery, export
from idmerge.query import params as p
from idmerge.query.profiles import EngageSpec, engage
from idmerge.server.api import api_endpoint, state_of, streamed
from idmerge.server.http import json_response


def _gzip(chunks: Iterator[bytes]) -> Iterator[bytes]:
    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    for chunk in chunks:
        out = compressor.compress(chunk)
        if out:
            yield out
    yield compressor.flush()


@api_endpoint
async def export_events(request: Request, project: Project, params: dict[str, Any]) -> Response:
    spec = export.ExportSpec.from_params(params)
    chunks = export.export_lines(state_of(request).store, project, spec)
    body = await streamed(chunks)
    headers = {}
    if "gzip" in request.headers.get("accept-encoding", "").lower():
        body = _gzip(body)
        headers["Content-Encoding"] = "gzip"
    return StreamingResponse(body, media_type="text/plain; charset=utf-8", headers=headers)


@api_endpoint
async def engage_profiles(request: Request, project: Project, params: dict[str, Any]) -> Response:
    spec = EngageSpec.from_params(params)
    state = state_of(request)
    answer = await run_in_threadpool(engage, state.store, project, spec, state.engage_sessions)
    return json_response(answer)


@api_endpoint
async def engage_properties(request: Request, project: Project, params: dict[str, Any]) -> Response:
    limit = p.integer(params, "limit", 2000, 1, 100_000) or 2000
    found = await run_in_threadpool(
        discovery.profile_properties, state_of(request).store, project, limit
    )
    return json_response({"status": "ok", "results": found})


@api_endpoint
async def event_names(request: Request, project: Project, params: dict[str, Any]) -> Response:
    p.choice(params, "type", "general", ("general", "unique", "average"))
    limit = p.integer(params, "limit", 255, 1, 100_000) or 255
    names = await run_in_threadpool(discovery.event_names, state_of(request).store, project, limit)
    return json_response(names)


@api_endpoint
async def top_properties(request: Request, project: Project, params: dict[str, Any]) -> Response:
    limit = p.integer(params, "limit", 10, 1, 100_000) or 10
    event = p.text(params, "event")
    found = await run_in_threadpool(
        discovery.top_event_properties, state_of(request).store, project, event, limit
    )
    return json_response(found)


@api_endpoint
async def stream_query(request: Request, project: Project, params: dict[str, Any]) -> Response:
    ids = p.string_list(params, "distinct_ids") or p.string_list(params, "distinct_id")
    if not ids:
        raise BadRequest("distinct_ids is required: a JSON array of ids")
    start = p.day(params, "from_date") if p.text(params, "from_date") else None
    end = p.day(params, "to_date") if p.text(params, "to_date") else None
    limit = p.integer(params, "limit", None, 1, 10_000_000)
    state = state_of(request)
    writer = state.writer(project)

    def look_up() -> list[dict[str, Any]]:
        with writer.lock:  # the clusters as of every acknowledged request
            members = discovery.people_ids(writer.engine, project.mode, ids)
        return discovery.activity(state.store, project, members, start, end, limit)

    events = await run_in_threadpool(look_up)
    return json_response({"status": "ok", "results": {"events": events}})


@api_endpoint
async def cohorts_list(request: Request, project: Project, params: dict[str, Any]) -> Response:
    return json_response([])  # idmerge has no cohorts (yet); an empty list keeps clients happy


#: (path under /api/2.0/ and /api/query/, endpoint, methods)
ENDPOINTS: tuple[tuple[str, Any, tuple[str, ...]], ...] = (
    ("export", export_events, ("GET", "POST")),
    ("engage", engage_profiles, ("GET", "POST")),
    ("engage/properties", engage_properties, ("GET",)),
    ("events/names", event_names, ("GET",)),
    ("events/properties/top", top_properties, ("GET",)),
    ("stream/query", stream_query, ("GET", "POST")),
    ("cohorts/list", cohorts_list, ("GET", "POST")),
)
