"""Plumbing of the secret-authenticated read API (``/api/...``): credentials,
parameters from wherever a client puts them, and the ``{"request", "error"}`` answer.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import duckdb
import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from idmerge.errors import BadRequest, IdmergeError, Unauthorized, first_line
from idmerge.projects import Project
from idmerge.server.auth import secret_of
from idmerge.server.http import json_response, query_params, read_body
from idmerge.server.state import ServerState
from idmerge.wire.body import form_fields

log = logging.getLogger("idmerge.server")

#: A query's parameters fit in far less; a body past this is not a query.
MAX_PARAMS_BODY = 1024 * 1024

Handler = Callable[[Request, Project, dict[str, Any]], Awaitable[Response]]


def request_path(request: Request) -> str:
    query = request.url.query
    return request.url.path + ("?" + query if query else "")


def api_error(request: Request, exc: IdmergeError) -> Response:
    return json_response(
        {"request": request_path(request), "error": exc.message, "status": "error"}, exc.status
    )


async def request_params(request: Request) -> dict[str, Any]:
    """The query string's parameters, overridden by a POST body's: a form, or a JSON
    object (whose values may be JSON themselves, or JSON-encoded strings)."""
    params: dict[str, Any] = dict(query_params(request))
    if request.method != "POST":
        return params
    body = await read_body(request, MAX_PARAMS_BODY)
    if not body.strip():
        return params
    content_type = request.headers.get("content-type", "").lower()
    if "json" in content_type or body.lstrip().startswith(b"{"):
        try:
            decoded = msgspec.json.decode(body)
        except msgspec.DecodeError as exc:
            raise BadRequest(f"the body is not valid JSON: {exc}") from None
        if not isinstance(decoded, dict):
            raise BadRequest("the JSON body must be an object of parameters")
        params.update(decoded)
    else:
        params.update(form_fields(body))
    return params


def authenticate(request: Request, params: dict[str, Any]) -> Project:
    """The project whose secret the request carries (Basic ``secret:``, a bare
    ``secret``, or a service account ``user:secret`` with ``project_id``, which may be
    the project's id or name)."""
    state: ServerState = request.app.state.idmerge
    credentials = secret_of(request.headers.get("authorization"))
    if credentials is None:
        raise Unauthorized("send the project secret with HTTP Basic authentication")
    secret, service_account = credentials
    raw_id = params.get("project_id")
    project_id = None if raw_id is None or raw_id == "" else str(raw_id)
    if service_account and not project_id:
        raise Unauthorized("a service account needs the project_id parameter")
    project = state.by_secret(secret, project_id)
    if project is None:
        raise Unauthorized(
            "the secret matches no project" + (" with that project_id" if project_id else "")
        )
    return project


def api_endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint that reads its parameters, authenticates, and answers every
    idmerge error (and a query the database refuses) in the API's error shape."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        try:
            params = await request_params(request)
            project = authenticate(request, params)
            return await handler(request, project, params)
        except IdmergeError as exc:
            return api_error(request, exc)
        except duckdb.Error as exc:
            log.warning("query refused by the database: %s", exc)
            return api_error(request, BadRequest(f"the query could not run: {first_line(exc)}"))

    return endpoint


#: Airbyte stops reading an export at a line saying this, and logs a warning.
TERMINATED = b"[terminated early]\n"


async def streamed(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """A streamed answer's body, its query already run up to the first chunk (in a
    worker thread), so that a bad parameter or a refused query is still an error
    answer; a failure after the status line is sent ends the body with a line that
    says so, rather than with a cut connection."""
    first = await run_in_threadpool(next, chunks, None)

    def body() -> Iterator[bytes]:
        if first is not None:
            yield first
        try:
            yield from chunks
        except duckdb.Error as exc:
            log.warning("a streamed answer ended early: %s", exc)
            yield TERMINATED

    return body()


def state_of(request: Request) -> ServerState:
    state: ServerState = request.app.state.idmerge
    return state
