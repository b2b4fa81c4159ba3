"""The server's own identity endpoints: explain an id, list ingestion warnings.

Both need the project secret (HTTP Basic ``secret:``, a bare ``secret``, or a service
account ``user:secret`` with ``project_id``) and answer errors as
``{"request": <path>, "error": ...}``. They read the writer's in-memory state under its
lock, so they reflect every acknowledged request at once.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from idmerge.errors import BadRequest, IdmergeError, Unauthorized
from idmerge.identity import LogEntry
from idmerge.projects import Project
from idmerge.server.auth import secret_of
from idmerge.server.http import json_response, query_params
from idmerge.server.state import ServerState
from idmerge.storage.base import IngestionWarning

MAX_WARNINGS = 1000


def authenticate(request: Request, params: dict[str, str]) -> Project:
    state: ServerState = request.app.state.idmerge
    credentials = secret_of(request.headers.get("authorization"))
    if credentials is None:
        raise Unauthorized("send the project secret with HTTP Basic authentication")
    secret, service_account = credentials
    project_id = params.get("project_id")
    if service_account and not project_id:
        raise Unauthorized("a service account needs the project_id parameter")
    project = state.by_secret(secret, project_id)
    if project is None:
        raise Unauthorized(
            "the secret matches no project" + (" with that project_id" if project_id else "")
        )
    return project


def api_error(request: Request, exc: IdmergeError) -> Response:
    return json_response({"request": request.url.path, "error": exc.message}, exc.status)


def entry_json(entry: LogEntry) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "seq": entry.seq,
        "time": entry.time,
        "event": entry.event,
        "insert_id": entry.insert_id,
        "outcome": entry.outcome.value,
        "reason": None if entry.reason is None else entry.reason.value,
        "ids": list(entry.ids),
    }
    if entry.undoes:
        answer["undoes"] = list(entry.undoes)
    return answer


async def identity(request: Request) -> Response:
    params = query_params(request)
    try:
        project = authenticate(request, params)
        distinct_id = params.get("distinct_id")
        if not distinct_id:
            raise BadRequest("distinct_id is required")
    except IdmergeError as exc:
        return api_error(request, exc)
    state: ServerState = request.app.state.idmerge
    writer = state.writer(project)

    def explain() -> dict[str, Any]:
        with writer.lock:
            explanation = writer.engine.explain(distinct_id)
        return {
            "distinct_id": explanation.distinct_id,
            "resolved_distinct_id": explanation.resolved_distinct_id,
            "cluster": explanation.cluster,
            "history": [entry_json(e) for e in explanation.history],
        }

    return json_response(await run_in_threadpool(explain))


def warning_json(warning: IngestionWarning) -> dict[str, Any]:
    return warning._asdict()


async def warnings(request: Request) -> Response:
    params = query_params(request)
    try:
        project = authenticate(request, params)
        limit = _int_param(params, "limit", 100, 1, MAX_WARNINGS)
        before = params.get("before_seq")
        before_seq = _int_param(params, "before_seq", 0, 0, 2**62) if before else None
    except IdmergeError as exc:
        return api_error(request, exc)
    state: ServerState = request.app.state.idmerge
    found = await run_in_threadpool(
        state.store.read_warnings, project.id, limit=limit, before_seq=before_seq
    )
    return json_response(
        {
            "status": "ok",
            "results": [warning_json(w) for w in found],
            "next_before_seq": found[-1].seq if len(found) == limit else None,
        }
    )


def _int_param(params: dict[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, not {raw[:40]!r}") from None
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}, not {value}")
    return value
