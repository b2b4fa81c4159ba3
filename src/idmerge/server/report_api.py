"""The reports on resolved ids: segmentation, retention and funnels (Mixpanel's
query API), and idmerge's own API for saved funnels.

The Mixpanel calls are served under both ``/api/2.0/`` and ``/api/query/`` (see
:data:`ENDPOINTS`); a funnel is asked for by ``funnel_id`` (saved) or, idmerge's
addition, by ``steps`` in a POSTed JSON body. Saved funnels are kept through
``/api/funnels`` (:data:`FUNNEL_ROUTES`). Every report runs in a worker thread on a
snapshot of its own, so a long report never holds up ingestion.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from idmerge.errors import BadRequest, NotFound
from idmerge.projects import Project
from idmerge.query import funnels, retention, segmentation
from idmerge.query import params as p
from idmerge.server.api import api_endpoint, state_of
from idmerge.server.http import json_response
from idmerge.server.state import now_ms
from idmerge.storage.base import Store


def _report(
    build: Callable[[p.Params], Any], run: Callable[[Store, Project, Any], dict[str, Any]]
) -> Callable[[Request], Any]:
    """An endpoint that reads its spec with ``build`` and answers ``run``'s report."""

    @api_endpoint
    async def endpoint(request: Request, project: Project, params: dict[str, Any]) -> Response:
        spec = build(params)
        answer = await run_in_threadpool(run, state_of(request).store, project, spec)
        return json_response(answer)

    return endpoint


@api_endpoint
async def funnel(request: Request, project: Project, params: dict[str, Any]) -> Response:
    store = state_of(request).store

    def run() -> dict[str, Any]:  # funnel_of may read a saved funnel: one worker hop
        return funnels.funnel(store, project, funnels.funnel_of(store, project, params))

    return json_response(await run_in_threadpool(run))


@api_endpoint
async def funnel_list(request: Request, project: Project, params: dict[str, Any]) -> Response:
    saved = await run_in_threadpool(state_of(request).store.saved_funnels, project.id)
    return json_response([{"funnel_id": f.funnel_id, "name": f.name} for f in saved])


#: (path under /api/2.0/ and /api/query/, endpoint, methods)
ENDPOINTS: tuple[tuple[str, Any, tuple[str, ...]], ...] = (
    (
        "segmentation",
        _report(segmentation.SegmentationSpec.from_params, segmentation.segmentation),
        ("GET", "POST"),
    ),
    (
        "segmentation/numeric",
        _report(segmentation.NumericSpec.from_params, segmentation.segmentation_numeric),
        ("GET", "POST"),
    ),
    (
        "segmentation/sum",
        _report(segmentation.NumericSpec.from_params, segmentation.segmentation_sum),
        ("GET", "POST"),
    ),
    (
        "segmentation/average",
        _report(segmentation.NumericSpec.from_params, segmentation.segmentation_average),
        ("GET", "POST"),
    ),
    (
        "retention",
        _report(retention.RetentionSpec.from_params, retention.retention),
        ("GET", "POST"),
    ),
    ("funnels", funnel, ("GET", "POST")),
    ("funnels/list", funnel_list, ("GET",)),
)


# -- /api/funnels: saved funnels ---------------------------------------------------


@api_endpoint
async def saved_funnels(request: Request, project: Project, params: dict[str, Any]) -> Response:
    """GET: every saved funnel with its definition; POST: save a new one (201)."""
    store = state_of(request).store
    if request.method == "POST":
        saved = await run_in_threadpool(funnels.save_funnel, store, project, params, now_ms())
        return json_response(saved, 201)
    found = await run_in_threadpool(store.saved_funnels, project.id)
    return json_response([funnels.described(f) for f in found])


@api_endpoint
async def saved_funnel(request: Request, project: Project, params: dict[str, Any]) -> Response:
    """GET: one saved funnel; DELETE: forget it."""
    raw = request.path_params["funnel_id"]
    try:
        funnel_id = int(raw)
    except ValueError:
        raise BadRequest(f"funnel_id must be a whole number, not {raw[:40]!r}") from None
    store = state_of(request).store
    if request.method == "DELETE":
        if not await run_in_threadpool(store.delete_funnel, project.id, funnel_id):
            raise NotFound(f"this project has no funnel with funnel_id {funnel_id}")
        return json_response({"status": "ok", "deleted": funnel_id})
    found = await run_in_threadpool(funnels.saved_funnel, store, project, funnel_id)
    return json_response(funnels.described(found))


#: (path, endpoint, methods) of idmerge's own funnel API
FUNNEL_ROUTES: tuple[tuple[str, Any, tuple[str, ...]], ...] = (
    ("/api/funnels", saved_funnels, ("GET", "POST")),
    ("/api/funnels/{funnel_id}", saved_funnel, ("GET", "DELETE")),
)
