"""Sending an import's chunks to a running ``idmerge serve`` (the server owns the data
directory while it runs): Mixpanel records to ``POST /import`` with the project
secret, Segment messages to ``POST /v1/batch`` with the write key (the project
token). Standard library HTTP only: the import needs no client package.

Each request carries what one may (:func:`~idmerge.ingest.files.request_parts`). The
server's answer says what was refused: ``/import`` lists ``failed_records`` (with
their reason), and refuses a record that alone is past its body limit (413), which
is reported as that record's rejection; ``/v1/batch`` refuses a whole batch for one
bad message (400), so a refused batch is sent again one message at a time to find
it, as the direct path does. Any other answer stops the import with the server's
message.
"""

from __future__ import annotations

import base64
import http.client
import json
import urllib.error
import urllib.request
from typing import Any

import msgspec

from idmerge.errors import BadRequest, StoreUnavailable, Unauthorized
from idmerge.ingest.files import CHUNK, check_format, message_rejection, request_parts
from idmerge.wire.results import Rejection, RejectReason

TIMEOUT_S = 120


class ServerDestination:
    """A running server at ``url``, for the project whose ``secret`` (Mixpanel
    records) or ``token`` (Segment messages) is given."""

    chunk = CHUNK  # one request each, within /import's limit

    def __init__(self, url: str, file_format: str, *, secret: str | None, token: str | None):
        check_format(file_format)
        self.url = url.rstrip("/")
        self.file_format = file_format
        if file_format == "mixpanel" and not secret:
            raise BadRequest("importing Mixpanel records through the server needs --secret")
        if file_format == "segment" and not token:
            raise BadRequest("importing Segment messages through the server needs --token")
        user = secret if file_format == "mixpanel" else token
        self.auth = "Basic " + base64.b64encode(f"{user}:".encode()).decode()

    def send(self, records: list[Any]) -> tuple[int, list[Rejection]]:
        stored, refused = 0, []
        for start, part in request_parts(records, self.file_format):
            if self.file_format == "mixpanel":
                taken, flaws = self._import(part)
            else:
                taken, flaws = self._batch(part)
            stored += taken
            refused += [flaw._replace(index=flaw.index + start) for flaw in flaws]
        return stored, refused

    def _batch(self, messages: list[Any]) -> tuple[int, list[Rejection]]:
        if self._segment_post({"batch": messages}) is None:
            return len(messages), []
        stored, refused = 0, []
        for index, message in enumerate(messages):
            problem = self._segment_post({"batch": [message]})
            if problem is None:
                stored += 1
            else:
                refused.append(message_rejection(index, BadRequest(problem)))
        return stored, refused

    def _segment_post(self, body: dict[str, Any]) -> str | None:
        """None when ``/v1/batch`` takes ``body``; what it said when it refuses it."""
        status, answer = self._post("/v1/batch", body)
        if status not in (200, 400):
            raise _refused(status, answer)
        return None if status == 200 else _error(answer)

    def _import(self, records: list[Any]) -> tuple[int, list[Rejection]]:
        status, answer = self._post("/import?strict=1", records)
        if status == 413 and len(records) == 1:  # parts fit the limit but a record alone
            return 0, [_too_large(records[0], answer)]
        if status not in (200, 400) or "num_records_imported" not in answer:
            raise _refused(status, answer)
        refused = [
            Rejection(
                f["index"],
                f.get("insert_id"),
                f.get("field", "record"),
                f.get("message", ""),
                f.get("reason", "rejected"),
            )
            for f in answer.get("failed_records", ())
        ]
        return int(answer["num_records_imported"]), refused

    def _post(self, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            self.url + path,
            data=msgspec.json.encode(body),  # compact, as request_parts measures it
            headers={"Authorization": self.auth, "Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
                return answer.status, _json(answer.read())
        except urllib.error.HTTPError as exc:
            with exc:  # an error answer holds the connection until closed
                if exc.code == 401:
                    raise Unauthorized(
                        f"the server at {self.url} refused the credentials"
                    ) from None
                return exc.code, _json(exc.read())
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            problem = str(exc).strip() or type(exc).__name__  # (a bad status line ends in \r\n)
            raise StoreUnavailable(f"no idmerge server answers at {self.url}: {problem}") from None


def _too_large(record: Any, answer: dict[str, Any]) -> Rejection:
    properties = record.get("properties") if isinstance(record, dict) else None
    insert_id = properties.get("$insert_id") if isinstance(properties, dict) else None
    return Rejection(
        0,
        insert_id if isinstance(insert_id, str) else None,
        "record",
        f"the record alone is past the server's body limit: {_error(answer)}",
        RejectReason.TOO_LARGE,
    )


def _json(raw: bytes) -> dict[str, Any]:
    try:
        decoded = json.loads(raw)
    except ValueError:
        return {"error": raw[:200].decode("utf-8", "replace")}
    return decoded if isinstance(decoded, dict) else {"error": str(decoded)[:200]}


def _refused(status: int, answer: dict[str, Any]) -> BadRequest:
    return BadRequest(f"the server refused the batch ({status}): {_error(answer)}")


def _error(answer: dict[str, Any]) -> str:
    return str(answer.get("error") or answer.get("message") or answer)
