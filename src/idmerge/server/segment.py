"""Segment / Customer.io Data Pipelines endpoints: ``/v1/track`` ... ``/v1/batch``.

The write key is the project token, sent as the Basic-auth user name (empty
password) or as ``writeKey`` in the body. Answers: 200 ``{"success": true}``, or an
error status with ``{"success": false, "message": ...}`` naming the problem. A
request is taken whole or not at all: one bad message refuses the request.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from idmerge.errors import BadRequest, IdmergeError, PayloadTooLarge, Unauthorized
from idmerge.ingest.pipeline import Submission
from idmerge.projects import Project
from idmerge.server.auth import basic_credentials
from idmerge.server.http import cors_headers, json_response, read_body
from idmerge.server.state import ServerState, now_ms
from idmerge.wire.segment import segment_batch

log = logging.getLogger("idmerge.server")

#: Segment's own limit on a batch; a single message's 32 KB is checked per message.
MAX_BATCH_BYTES = 500 * 1024
CALLS = ("track", "identify", "alias", "page", "screen", "group", "batch")
_decode = msgspec.json.Decoder().decode


#: The ``code`` of an error answer: the Segment and Customer.io SDKs read it (with
#: ``message``) to report a refused upload, and give up on a 4xx other than 429.
_CODES = {400: "invalid_request", 401: "unauthorized", 404: "not_found", 413: "too_large"}


def _error(request: Request, status: int, message: str) -> Response:
    body = {"success": False, "code": _CODES.get(status, "error"), "message": message}
    return json_response(body, status, cors_headers(request))


def _project(state: ServerState, request: Request, body: Any) -> Project:
    credentials = basic_credentials(request.headers.get("authorization"))
    key = credentials[0] if credentials else None
    if not key and isinstance(body, dict):
        in_body = body.get("writeKey")
        key = in_body if isinstance(in_body, str) else None
    if not key:
        raise Unauthorized(
            "no write key: send it as the Basic-auth user name or as 'writeKey' in the body"
        )
    project = state.by_token(key)
    if project is None:
        raise Unauthorized("the write key matches no project")
    return project


async def receive(request: Request) -> Response:
    call: str = request.path_params["call"]
    state: ServerState = request.app.state.idmerge
    try:
        raw = await read_body(request, MAX_BATCH_BYTES)
        if not raw.strip():
            raise BadRequest("the body is empty; send a JSON object")
        try:
            body = _decode(raw)
        except msgspec.DecodeError as exc:
            raise BadRequest(f"the body is not valid JSON: {exc}") from None
        project = _project(state, request, body)
        received_at = now_ms()
        batch = segment_batch(
            body,
            call=None if call == "batch" else call,
            mode=project.mode,
            received_at=received_at,
        )
        await state.committer.submit(
            state.writer(project),
            Submission(
                f"/v1/{call}",
                received_at,
                events=batch.events,
                profile_updates=batch.profiles,
            ),
        )
    except PayloadTooLarge as exc:  # Segment answers 400 past its limits
        return _error(request, 400, exc.message)
    except IdmergeError as exc:
        return _error(request, exc.status, exc.message)
    return json_response({"success": True}, 200, cors_headers(request))
