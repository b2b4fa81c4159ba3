"""Request and response plumbing the endpoint modules share."""

from __future__ import annotations

import re
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response

from idmerge.errors import PayloadTooLarge
from idmerge.wire.body import form_fields, gunzip

encode_json = msgspec.json.Encoder().encode
_GZIP_MAGIC = b"\x1f\x8b"


def json_response(
    content: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(encode_json(content), status, headers, media_type="application/json")


#: How much of an oversize body is read (and dropped) so that the client, still
#: sending, can read the 413 instead of meeting a closed connection.
DRAIN_LIMIT = 64 * 1024 * 1024


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, uncompressed; past ``limit`` bytes (before or after
    decompression) :class:`PayloadTooLarge`, without keeping the rest in memory."""
    chunks: list[bytes] = []
    size = 0
    too_large = False
    async for chunk in request.stream():
        size += len(chunk)
        if too_large:
            if size > DRAIN_LIMIT:
                break
        elif size > limit:
            too_large = True
            chunks.clear()
        else:
            chunks.append(chunk)
    if too_large:
        raise PayloadTooLarge(f"the body is over the limit of {limit} bytes")
    body = b"".join(chunks)
    encoding = request.headers.get("content-encoding", "").strip().lower()
    if encoding == "gzip" or (not encoding and body.startswith(_GZIP_MAGIC)):
        body = gunzip(body, max_bytes=limit)
    return body


def query_params(request: Request) -> dict[str, str]:
    raw: bytes = request.scope.get("query_string", b"")
    return form_fields(raw) if raw else {}


def is_form(request: Request) -> bool:
    content_type = request.headers.get("content-type", "").lower()
    return content_type.startswith("application/x-www-form-urlencoded")


def flag(params: dict[str, str], name: str) -> bool:
    return params.get(name, "").strip().lower() in ("1", "true", "yes")


# -- CORS, for the endpoints browsers call --------------------------------------


def cors_headers(request: Request) -> dict[str, str]:
    """Echo the Origin and allow credentials: browsers send cookies with SDK calls."""
    origin = request.headers.get("origin")
    if not origin:
        return {}
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Credentials": "true",
        "Vary": "Origin",
    }


def preflight(request: Request) -> Response:
    headers = cors_headers(request)
    headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    asked = request.headers.get("access-control-request-headers")
    headers["Access-Control-Allow-Headers"] = asked or "Content-Type, Authorization"
    headers["Access-Control-Max-Age"] = "86400"
    return Response(status_code=204, headers=headers)


_CALLBACK = re.compile(r"[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*")


def valid_callback(name: str) -> bool:
    """A JSONP callback must be a plain (dotted) JavaScript name: anything else could
    inject script into the page that loads the answer."""
    return len(name) <= 128 and _CALLBACK.fullmatch(name) is not None
