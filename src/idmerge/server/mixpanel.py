"""Mixpanel's ingestion endpoints: ``/track``, ``/engage``, ``/groups`` and ``/import``.

``/track``, ``/engage`` and ``/groups`` are called by untrusted clients, browsers
among them; they identify the project by the token inside each record and answer
HTTP 200 with ``1``/``0`` (or the ``verbose``, ``img`` and ``callback`` forms), as the
SDKs expect. Nothing they refuse is dropped silently: every rejected record becomes an
ingestion warning. ``/import`` is authenticated by the project secret and answers with
Mixpanel's status codes and ``failed_records``.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from idmerge.errors import BadRequest, IdmergeError, PayloadTooLarge
from idmerge.ingest.pipeline import Submission
from idmerge.profiles.model import ProfileKind, ProfileUpdate
from idmerge.projects import Project
from idmerge.server.auth import secret_of
from idmerge.server.http import (
    cors_headers,
    encode_json,
    flag,
    is_form,
    json_response,
    query_params,
    read_body,
    valid_callback,
)
from idmerge.server.state import ServerState, now_ms
from idmerge.wire.body import as_records, decode_data, form_fields, json_records
from idmerge.wire.mixpanel import (
    EventBatch,
    Limits,
    Rejection,
    import_events,
    profile_updates,
    record_token,
    track_events,
)

log = logging.getLogger("idmerge.server")

LIMITS = Limits()
_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def _state(request: Request) -> ServerState:
    state: ServerState = request.app.state.idmerge
    return state


async def _transport_records(request: Request) -> tuple[dict[str, str], list[Any]]:
    """The parameters and records of a ``/track``-style request: ``data`` in the query
    string or a form body (JSON or base64 of JSON), or a JSON / NDJSON body."""
    params = query_params(request)
    if request.method == "POST":
        body = await read_body(request, LIMITS.max_body_bytes)
        if is_form(request) or body.startswith(b"data="):
            params.update(form_fields(body))
        elif body.strip():
            return params, _capped(json_records(body))
    data = params.get("data")
    if data is None:
        raise BadRequest("no data: send the records in the 'data' parameter or as a JSON body")
    return params, _capped(as_records(decode_data(data)))


def _capped(records: list[Any]) -> list[Any]:
    if len(records) > LIMITS.max_events:
        raise PayloadTooLarge(
            f"{len(records)} records in one request; the limit is {LIMITS.max_events}"
        )
    return records


def _client_answer(
    request: Request, params: dict[str, str], error: str | None, *, strict_status: bool = False
) -> Response:
    """The answer forms of the client endpoints: ``1``/``0``, ``verbose``, ``img``,
    ``callback``; ``verbose=2`` (profiles) turns an error into a real 400."""
    headers = cors_headers(request)
    if flag(params, "img"):
        return Response(_GIF, 200, headers, media_type="image/gif")
    verbose = params.get("verbose", "")
    if verbose in ("1", "2", "true"):
        body = encode_json({"status": 0 if error else 1, "error": error}).decode()
        media_type = "application/json"
    else:
        body, media_type = ("0" if error else "1"), "text/plain"
    status = 400 if error and strict_status and verbose == "2" else 200
    callback = params.get("callback")
    if callback:
        if not valid_callback(callback):
            return Response(f"invalid callback name {callback[:40]!r}", 400, headers)
        return Response(f"{callback}({body})", status, headers, "application/javascript")
    return Response(body, status, headers, media_type=media_type)


def _index(rejection: Rejection) -> int:
    return rejection.index


def _describe(rejections: Sequence[Rejection], total: int) -> str:
    first = rejections[0]
    more = f" (and {len(rejections) - 1} more)" if len(rejections) > 1 else ""
    return (
        f"{len(rejections)} of {total} records refused; record {first.index}: "
        f"{first.field}: {first.message}{more}"
    )


def _by_token(
    state: ServerState, tokens: Sequence[str | None]
) -> tuple[dict[int, tuple[Project, list[int]]], list[int], list[int]]:
    """Group record positions by project; also the positions without a token and
    those whose token matches no project."""
    groups: dict[int, tuple[Project, list[int]]] = {}
    missing: list[int] = []
    unknown: list[int] = []
    for index, token in enumerate(tokens):
        if token is None:
            missing.append(index)
            continue
        project = state.by_token(token)
        if project is None:
            unknown.append(index)
        else:
            groups.setdefault(project.id, (project, []))[1].append(index)
    return groups, missing, unknown


def _token_problem(records: list[Any], missing: list[int], unknown: list[int]) -> str | None:
    total = len(records)
    if unknown:
        return f"{len(unknown)} of {total} records carry a token that matches no project"
    if missing:
        first = records[missing[0]]
        if not isinstance(first, dict):
            kind = type(first).__name__
            return f"record {missing[0]} is a {kind}, not an object with event and properties"
        return f"{len(missing)} of {total} records carry no properties.token"
    return None


def _reindexed(batch: EventBatch, indexes: list[int]) -> EventBatch:
    """Positions within a token group back to positions within the request."""
    return EventBatch(
        [(indexes[i], event) for i, event in batch.accepted],
        [r._replace(index=indexes[r.index]) for r in batch.rejected],
    )


async def _client_call(
    request: Request,
    ingest: Callable[[dict[str, str], list[Any]], Awaitable[str | None]],
    *,
    strict_status: bool = False,
) -> Response:
    """Read a client endpoint's records, hand them to ``ingest``, answer in the form
    the request asked for; a failure is the SDK's failure answer, never a 500."""
    params: dict[str, str] = query_params(request)
    try:
        params, records = await _transport_records(request)
        error = await ingest(params, records)
    except IdmergeError as exc:
        error = exc.message
    except Exception:  # an answer the SDK can read beats a 500
        log.exception("%s failed", request.url.path)
        error = "internal error; the request was not stored"
    return _client_answer(request, params, error, strict_status=strict_status)


async def track(request: Request) -> Response:
    return await _client_call(
        request, lambda params, records: _ingest_client_events(request, params, records)
    )


async def _ingest_client_events(
    request: Request, params: dict[str, str], records: list[Any]
) -> str | None:
    state = _state(request)
    received_at = now_ms()
    tokens = [record_token(r) for r in records]
    groups, missing, unknown = _by_token(state, tokens)
    problem = _token_problem(records, missing, unknown)
    if problem:
        log.warning("/track: %s", problem)
    rejected: list[Rejection] = []
    for project, indexes in groups.values():
        subset = [records[i] for i in indexes]
        batch = _reindexed(
            track_events(subset, policy=project.policy(), mode=project.mode, now_ms=received_at),
            indexes,
        )
        submission = Submission(
            request.url.path.rstrip("/") or "/track",
            received_at,
            events=batch.accepted,
            rejections=batch.rejected,
            records=records,
        )
        await state.committer.submit(state.writer(project), submission)
        rejected.extend(batch.rejected)
    if problem:
        return problem
    if rejected:
        return _describe(sorted(rejected, key=_index), len(records))
    return None


def _profiles_endpoint(kind: ProfileKind) -> Callable[[Request], Any]:
    async def endpoint(request: Request) -> Response:
        return await _client_call(
            request,
            lambda params, records: _ingest_profiles(request, records, kind),
            strict_status=True,
        )

    return endpoint


async def _ingest_profiles(request: Request, records: list[Any], kind: ProfileKind) -> str | None:
    state = _state(request)
    received_at = now_ms()
    updates, rejected = profile_updates(records, kind=kind, now_ms=received_at)
    per_project: dict[int, tuple[Project, list[tuple[int, ProfileUpdate]]]] = {}
    unknown = 0
    for index, token, update in updates:
        project = state.by_token(token)
        if project is None:
            unknown += 1
            continue
        per_project.setdefault(project.id, (project, []))[1].append((index, update))
    path = request.url.path.rstrip("/")
    for project, project_updates in per_project.values():
        await state.committer.submit(
            state.writer(project),
            Submission(path, received_at, profile_updates=project_updates),
        )
    if rejected:
        # a rejected record names no trustworthy project unless its token is known
        for rejection in rejected:
            log.info("%s record %d refused: %s", path, rejection.index, rejection.message)
        by_token = _warn_rejected_profiles(state, records, rejected)
        for project, rejections in by_token.values():
            await state.committer.submit(
                state.writer(project),
                Submission(path, received_at, rejections=rejections, records=records),
            )
    if unknown:
        return f"{unknown} of {len(records)} updates carry a token that matches no project"
    if rejected:
        return _describe(sorted(rejected, key=_index), len(records))
    return None


def _warn_rejected_profiles(
    state: ServerState, records: list[Any], rejected: list[Rejection]
) -> dict[int, tuple[Project, list[Rejection]]]:
    found: dict[int, tuple[Project, list[Rejection]]] = {}
    for rejection in rejected:
        record = records[rejection.index] if rejection.index < len(records) else None
        token = record.get("$token") if isinstance(record, dict) else None
        project = state.by_token(token) if isinstance(token, str) else None
        if project is not None:
            found.setdefault(project.id, (project, []))[1].append(rejection)
    return found


track_profiles = _profiles_endpoint(ProfileKind.USER)
group_profiles = _profiles_endpoint(ProfileKind.GROUP)


# -- /import -----------------------------------------------------------------------

_UNAUTHORIZED = {"code": 401, "error": "Invalid credentials", "status": "Unauthorized"}


def _import_error(status: int, message: str) -> Response:
    names = {
        400: "Bad Request",
        401: "Unauthorized",
        413: "Payload Too Large",
        503: "Service Unavailable",
    }
    body = {"code": status, "error": message, "status": names.get(status, "Error")}
    return json_response(body, status)


async def import_(request: Request) -> Response:
    state = _state(request)
    params = query_params(request)
    credentials = secret_of(request.headers.get("authorization"))
    project = None
    if credentials is not None:
        secret, service_account = credentials
        project_id = params.get("project_id")
        if not service_account or project_id:
            project = state.by_secret(secret, project_id)
    if project is None:
        return json_response(_UNAUTHORIZED, 401)
    try:
        body = await read_body(request, LIMITS.max_body_bytes)
        legacy_form = is_form(request)
        if legacy_form:
            fields = form_fields(body)
            params.update(fields)
            if "data" not in fields:
                raise BadRequest("no data: the form must carry a 'data' parameter")
            records = as_records(decode_data(fields["data"]))
        else:
            records = json_records(body)
        if len(records) > LIMITS.max_events:
            raise PayloadTooLarge(
                f"{len(records)} events in one request; the limit is {LIMITS.max_events}"
            )
    except IdmergeError as exc:
        return _import_error(exc.status, exc.message)
    received_at = now_ms()
    batch = import_events(records, policy=project.policy(), mode=project.mode, now_ms=received_at)
    strict = params.get("strict", "1").strip() not in ("0", "false")
    submission = Submission(
        "/import", received_at, events=batch.accepted, rejections=batch.rejected, records=records
    )
    try:
        await state.committer.submit(state.writer(project), submission)
    except IdmergeError as exc:
        return _import_error(exc.status, exc.message)
    imported = len(batch.accepted)
    if legacy_form:
        if batch.rejected:
            error = _describe(batch.rejected, len(records))
            return json_response({"status": 0, "error": error}, 400)
        return json_response({"status": 1, "error": None})
    if batch.rejected and strict:
        return json_response(
            {
                "code": 400,
                "error": "some data points in the request failed validation",
                "num_records_imported": imported,
                "status": "Bad Request",
                "failed_records": [
                    {
                        "index": r.index,
                        "insert_id": r.insert_id,
                        "field": r.field,
                        "message": r.message,
                        "reason": r.reason,
                    }
                    for r in batch.rejected
                ],
            },
            400,
        )
    return json_response({"code": 200, "num_records_imported": imported, "status": "OK"})
