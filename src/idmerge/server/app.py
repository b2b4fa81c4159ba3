"""The ASGI application: routes, start-up and shut-down.

One process owns the DuckDB file (only one may write it), loads every project's
identity engine and profiles on start, and writes through one group-commit thread.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from idmerge import console
from idmerge.server import (
    identity_api,
    mixpanel,
    openapi,
    overview_api,
    query_api,
    report_api,
    segment,
)
from idmerge.server.http import json_response, preflight
from idmerge.server.state import ServerState
from idmerge.storage.base import Store
from idmerge.storage.duckdb import open_store

log = logging.getLogger("idmerge.server")


async def health(request: Request) -> Response:
    return json_response({"status": "ok"})


def _both(path: str, endpoint: Callable[..., object], methods: list[str]) -> list[Route]:
    """Mixpanel's paths are served with and without a trailing slash."""
    return [
        Route(path, endpoint, methods=methods),
        Route(path + "/", endpoint, methods=methods),
    ]


def _options(request: Request) -> Response:
    return preflight(request)


def routes() -> list[Route]:
    """The API's routes, every one described in ``/openapi.json``."""
    client = ["GET", "POST"]
    found: list[Route] = [Route("/health", health, methods=["GET"])]
    for path, endpoint in (
        ("/track", mixpanel.track),
        ("/engage", mixpanel.track_profiles),
        ("/groups", mixpanel.group_profiles),
    ):
        found += _both(path, endpoint, client)
        found += _both(path, _options, ["OPTIONS"])
    found += _both("/import", mixpanel.import_, ["POST"])
    found.append(Route("/v1/{call:str}", _segment_call, methods=["POST"]))
    found.append(Route("/v1/{call:str}", _options, methods=["OPTIONS"]))
    found.append(Route("/api/identity", identity_api.identity, methods=["GET"]))
    found.append(Route("/api/identity/split", identity_api.split, methods=["POST"]))
    found.append(Route("/api/identity/mappings", identity_api.identity_mappings, methods=["GET"]))
    found.append(Route("/api/ingestion/warnings", identity_api.warnings, methods=["GET"]))
    found.append(Route("/api/overview", overview_api.overview, methods=["GET"]))
    for name, endpoint, methods in query_api.ENDPOINTS + report_api.ENDPOINTS:
        for family in ("/api/2.0/", "/api/query/"):
            found += _both(family + name, endpoint, list(methods))
    for path, endpoint, methods in report_api.FUNNEL_ROUTES:
        found.append(Route(path, endpoint, methods=list(methods)))
    found.append(Route("/openapi.json", openapi_document, methods=["GET"]))
    return found


async def openapi_document(request: Request) -> Response:
    return json_response(openapi.document())


async def _segment_call(request: Request) -> Response:
    if request.path_params["call"] not in segment.CALLS:
        known = ", ".join(f"/v1/{c}" for c in segment.CALLS)
        return json_response(
            {
                "success": False,
                "code": "not_found",
                "message": f"no such call; the Segment API has {known}",
            },
            404,
        )
    return await segment.receive(request)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"no endpoint at {request.url.path}"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    return json_response({"request": request.url.path, "error": message}, exc.status_code)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("%s %s failed", request.method, request.url.path, exc_info=exc)
    return json_response(
        {"request": request.url.path, "error": "internal error; nothing was stored"}, 500
    )


def create_app(
    data_dir: str | Path | None = None, *, store_factory: Callable[[], Store] | None = None
) -> Starlette:
    """The server over the store of ``data_dir`` (or the one ``store_factory`` opens)."""
    if store_factory is None:
        if data_dir is None:
            raise ValueError("create_app needs data_dir or store_factory")
        directory = data_dir

        def store_factory() -> Store:
            return open_store(directory)

    opener = store_factory

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        state = ServerState.open(opener())
        app.state.idmerge = state
        try:
            yield
        finally:
            state.close()

    return Starlette(
        routes=[*routes(), *console.routes()],  # the console is a page, not API
        lifespan=lifespan,
        exception_handlers={HTTPException: _http_error, Exception: _unexpected},
    )
