"""``GET /api/overview``: a project's events, stored ids, people, merges and refused
identity events per UTC day, and the refused ones by reason (see
:mod:`idmerge.query.overview` for the answer and the default range).

It needs the project secret (see ``api.py``) and runs in a worker thread on a
snapshot of its own, as the reports do, so it never holds up ingestion.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from idmerge.projects import Project
from idmerge.query import overview as query
from idmerge.server.api import api_endpoint, state_of
from idmerge.server.http import json_response


@api_endpoint
async def overview(request: Request, project: Project, params: dict[str, Any]) -> Response:
    spec = query.OverviewSpec.from_params(params)
    store = state_of(request).store
    answer = await run_in_threadpool(query.overview, store, project, spec.from_date, spec.to_date)
    return json_response(answer)
