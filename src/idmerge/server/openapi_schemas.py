"""The components of the OpenAPI document (``openapi.py``): JSON Schemas of the records
the ingestion endpoints take and of every answer the server gives (the reports' are in
``openapi_reports.py``), the shared error answers, and the security schemes.

Limits and enumerations come from the modules that enforce them, so that the
document cannot promise what the server does not do.
"""

from __future__ import annotations

from typing import Any

from idmerge.identity.model import Outcome, Reason
from idmerge.profiles.model import GROUP_OPS, ProfileOp
from idmerge.wire.segment import MAX_MESSAGE_ID
from idmerge.wire.values import DEFAULT_LIMITS

Json = dict[str, Any]

STRING: Json = {"type": "string"}
INTEGER: Json = {"type": "integer"}
BOOLEAN: Json = {"type": "boolean"}
STRINGS: Json = {"type": "array", "items": STRING}
OBJECT: Json = {"type": "object"}
NULLABLE_STRING: Json = {"type": ["string", "null"]}


def ref(name: str) -> Json:
    """A reference to the schema component ``name``."""
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: Json, *, required: tuple[str, ...] = (), **extra: Any) -> Json:
    """An object schema; ``extra`` adds keywords (``description``, ...)."""
    schema: Json = {"type": "object", "properties": properties, **extra}
    if required:
        schema["required"] = list(required)
    return schema


def described(schema: Json, description: str) -> Json:
    return {**schema, "description": description}


def _time(what: str) -> Json:
    return described(
        {"type": "number"},
        f"{what}: seconds since the epoch, or milliseconds when the value is >= 1e11",
    )


def _operations(allowed: frozenset[ProfileOp] | None = None) -> Json:
    kinds: dict[ProfileOp, Json] = {
        ProfileOp.SET: described(OBJECT, "properties to set"),
        ProfileOp.SET_ONCE: described(OBJECT, "properties to set when not set yet"),
        ProfileOp.ADD: described(
            {"type": "object", "additionalProperties": {"type": "number"}}, "numbers to add"
        ),
        ProfileOp.UNION: described(
            {"type": "object", "additionalProperties": {"type": "array"}},
            "lists to merge into list properties, without duplicates",
        ),
        ProfileOp.APPEND: described(OBJECT, "values to append to list properties"),
        ProfileOp.REMOVE: described(OBJECT, "values to remove from list properties"),
        ProfileOp.UNSET: described(STRINGS, "names of properties to remove"),
        ProfileOp.DELETE: {"description": "any value: deletes the profile"},
    }
    return {op.value: schema for op, schema in kinds.items() if allowed is None or op in allowed}


_PROFILE_MODIFIERS: Json = {
    "$token": described(STRING, "the project token"),
    "$time": _time("orders updates; defaults to arrival"),
    "$ignore_time": described({}, "truthy: leave $last_seen alone"),
    "$ip": STRING,
}

_EVENT_PROPERTIES: Json = {
    "token": described(STRING, "the project token (required on /track)"),
    "distinct_id": described(
        {"type": ["string", "integer"]}, "the id the event belongs to, as sent"
    ),
    "time": _time("when it happened; missing on /track = arrival time"),
    "$insert_id": described(
        STRING,
        "the deduplication key; on /import required, 1 to 36 letters, digits or '-'",
    ),
    "$device_id": described(STRING, "Simplified / cdp mode: the anonymous device"),
    "$user_id": described(STRING, "Simplified / cdp mode: the identified user"),
}

_SEGMENT_MESSAGE = obj(
    {
        "type": {"enum": ["track", "identify", "alias", "page", "screen", "group"]},
        "userId": {"type": ["string", "number"]},
        "anonymousId": {"type": ["string", "number"]},
        "previousId": described({"type": ["string", "number"]}, "alias: the earlier id"),
        "groupId": described({"type": ["string", "number"]}, "group: the group's id"),
        "event": described(STRING, "track: the event name"),
        "name": described(STRING, "page / screen: added to the properties"),
        "category": described(STRING, "page: added to the properties"),
        "properties": OBJECT,
        "traits": described(OBJECT, "identify / group: the profile $set"),
        "context": described(OBJECT, "kept whole under the event property context"),
        "integrations": described(OBJECT, "Segment destination routing; dropped"),
        "messageId": described(
            {"type": "string", "maxLength": MAX_MESSAGE_ID}, "the event's deduplication key"
        ),
        "timestamp": {"type": "string", "format": "date-time"},
        "originalTimestamp": {"type": "string", "format": "date-time"},
        "sentAt": described(
            {"type": "string", "format": "date-time"},
            "with timestamp, corrects clock skew: time = receivedAt - (sentAt - timestamp)",
        ),
        "receivedAt": described(
            {"type": "string", "format": "date-time"}, "ignored: the server's clock is used"
        ),
        "writeKey": described(STRING, "the write key, when not sent as the Basic user name"),
    },
    anyOf=[{"required": ["userId"]}, {"required": ["anonymousId"]}],
    description=(
        "One Segment message (at most 32 KB). It needs userId or anonymousId; alias needs "
        "userId and previousId, group a groupId, track an event."
    ),
)

_LOG_ENTRY = obj(
    {
        "seq": INTEGER,
        "time": described(INTEGER, "ms since the epoch"),
        "event": described(STRING, "the identity event ($identify, $merge, ...) or split"),
        "insert_id": NULLABLE_STRING,
        "outcome": {"enum": [o.value for o in Outcome]},
        "reason": {"enum": [*(r.value for r in Reason), None]},
        "ids": described(STRINGS, "the ids the entry names"),
        "undoes": described(
            {"type": "array", "items": INTEGER}, "a split: the seq of the entries it undoes"
        ),
    },
    required=("seq", "time", "event", "insert_id", "outcome", "reason", "ids"),
    description="One entry of a project's identity log.",
)

_WARNING = obj(
    {
        "seq": INTEGER,
        "received_at": described(INTEGER, "ms since the epoch"),
        "endpoint": described(STRING, "where the record came in: /import, /track, /v1/batch, ..."),
        "event_seq": described(
            {"type": ["integer", "null"]}, "the stored event (a refused identity event)"
        ),
        "record_index": described(
            {"type": ["integer", "null"]}, "the record's position in its request"
        ),
        "insert_id": NULLABLE_STRING,
        "distinct_id": NULLABLE_STRING,
        "event": NULLABLE_STRING,
        "field": described(NULLABLE_STRING, "the offending field, e.g. properties.time"),
        "reason": described(STRING, "a validation code or Mixpanel's errXxx code"),
        "message": STRING,
        "payload": described(NULLABLE_STRING, "the record as received, cut to 4 KiB"),
    },
    required=("seq", "received_at", "endpoint", "reason", "message"),
    description="A rejected record or a refused identity event, and why.",
)

_FAILED_RECORD = obj(
    {
        "index": described(INTEGER, "the record's position in the request"),
        "insert_id": NULLABLE_STRING,
        "field": described(STRING, "e.g. properties.time"),
        "message": STRING,
        "reason": described(STRING, "idmerge's reason code (not in Mixpanel's answer)"),
    },
    required=("index", "insert_id", "field", "message"),
)

_CLUSTER = obj(
    {"resolved_distinct_id": STRING, "cluster": STRINGS},
    required=("resolved_distinct_id", "cluster"),
)

SCHEMAS: dict[str, Json] = {
    "TrackEvent": obj(
        {
            "event": STRING,
            "properties": obj(_EVENT_PROPERTIES, required=("token",), additionalProperties=True),
        },
        required=("event", "properties"),
        description=(
            f"A Mixpanel event from a client: at most {DEFAULT_LIMITS.max_properties} "
            f"properties, nesting at most {DEFAULT_LIMITS.max_depth} deep; strings past "
            f"{DEFAULT_LIMITS.max_string} characters are truncated."
        ),
    ),
    "ImportEvent": obj(
        {
            "event": STRING,
            "properties": obj(
                _EVENT_PROPERTIES, required=("time", "$insert_id"), additionalProperties=True
            ),
        },
        required=("event", "properties"),
        description=(
            "A Mixpanel event for /import: time after 1971-01-01 and at most an hour "
            "ahead, $insert_id, and distinct_id (Simplified: $device_id / $user_id will "
            "do). Property limits as for TrackEvent."
        ),
    ),
    "ProfileUpdate": obj(
        {
            **_PROFILE_MODIFIERS,
            "$distinct_id": {"type": ["string", "integer"]},
            **_operations(),
        },
        required=("$token", "$distinct_id"),
        description="A Mixpanel user-profile update: one or more operations.",
    ),
    "GroupProfileUpdate": obj(
        {
            **_PROFILE_MODIFIERS,
            "$group_key": STRING,
            "$group_id": {"type": ["string", "integer"]},
            **_operations(GROUP_OPS),
        },
        required=("$token", "$group_key", "$group_id"),
        description="A Mixpanel group-profile update ($add and $append are refused).",
    ),
    "VerboseAnswer": obj(
        {"status": {"enum": [0, 1]}, "error": NULLABLE_STRING},
        required=("status", "error"),
        description="The verbose answer of the client endpoints: 1 or 0, and what was wrong.",
    ),
    "FailedRecord": _FAILED_RECORD,
    "ImportResponse": obj(
        {
            "code": INTEGER,
            "status": described(STRING, "OK, Bad Request, Unauthorized, ..."),
            "num_records_imported": INTEGER,
            "error": STRING,
            "failed_records": {"type": "array", "items": ref("FailedRecord")},
        },
        required=("code", "status"),
        description=(
            "Mixpanel's /import answer. With strict=1 (the default) and some records "
            "invalid: 400, the valid ones stored and the others in failed_records."
        ),
    ),
    "SegmentMessage": _SEGMENT_MESSAGE,
    "SegmentBatch": obj(
        {
            "batch": {"type": "array", "items": ref("SegmentMessage")},
            "context": described(OBJECT, "merged into every message's context"),
            "sentAt": {"type": "string", "format": "date-time"},
            "writeKey": STRING,
        },
        required=("batch",),
        description="A /v1/batch body (at most 500 KB); each message carries its type.",
    ),
    "SegmentResponse": obj(
        {"success": {"const": True}}, required=("success",), description="Stored durably."
    ),
    "SegmentError": obj(
        {
            "success": {"const": False},
            "code": {
                "enum": ["invalid_request", "unauthorized", "not_found", "too_large", "error"]
            },
            "message": STRING,
        },
        required=("success", "code", "message"),
        description="A refused Segment request; nothing of it was stored.",
    ),
    "ApiError": obj(
        {
            "request": described(STRING, "the path and query string as received"),
            "error": described(STRING, "what was wrong, naming the parameter"),
            "status": {"const": "error"},
        },
        required=("request", "error"),
        description="The error answer of every /api/ endpoint (Mixpanel's shape).",
    ),
    "IdentityLogEntry": _LOG_ENTRY,
    "IdentityExplanation": obj(
        {
            "distinct_id": STRING,
            "resolved_distinct_id": STRING,
            "cluster": described(STRINGS, "every id of the person, the asked one included"),
            "history": {"type": "array", "items": ref("IdentityLogEntry")},
        },
        required=("distinct_id", "resolved_distinct_id", "cluster", "history"),
        description="Why an id resolves as it does; an unknown id is a cluster of one.",
    ),
    "SplitRequest": {
        "oneOf": [
            obj({"insert_id": STRING, "dry_run": BOOLEAN}, required=("insert_id",)),
            obj({"seq": INTEGER, "dry_run": BOOLEAN}, required=("seq",)),
            obj({"detach": STRING, "dry_run": BOOLEAN}, required=("detach",)),
        ],
        "description": (
            "Exactly one of: insert_id (undo that identity event), seq (undo the event "
            "stored as seq), detach (take the id out of its cluster); dry_run: true for "
            "a preview that writes nothing."
        ),
    },
    "SplitAnswer": obj(
        {
            "split": ref("IdentityLogEntry"),
            "clusters": described(
                {"type": "object", "additionalProperties": _CLUSTER},
                "the new cluster of every id the split touched",
            ),
            "moved_ids": described(
                {"type": "array", "items": STRING},
                "the ids whose resolved id the split changes",
            ),
            "moved_events": described(
                INTEGER, "events stored under those ids: they change person (0 in legacy)"
            ),
            "dry_run": described({"const": True}, "present on a preview: nothing was written"),
        },
        required=("split", "clusters", "moved_ids", "moved_events"),
    ),
    "MappingRow": obj(
        {"distinct_id": STRING, "resolved_distinct_id": STRING},
        required=("distinct_id", "resolved_distinct_id"),
        description="One line of the identity mappings: an id that resolves to another.",
    ),
    "IngestionWarning": _WARNING,
    "WarningsPage": obj(
        {
            "status": {"const": "ok"},
            "results": {"type": "array", "items": ref("IngestionWarning")},
            "next_before_seq": described(
                {"type": ["integer", "null"]}, "pass as before_seq for the next page"
            ),
        },
        required=("status", "results", "next_before_seq"),
    ),
    "Profile": obj(
        {"$distinct_id": described(STRING, "the resolved id"), "$properties": OBJECT},
        required=("$distinct_id", "$properties"),
    ),
    "EngagePage": obj(
        {
            "page": INTEGER,
            "page_size": INTEGER,
            "session_id": described(STRING, "send it back with later pages"),
            "status": {"const": "ok"},
            "total": INTEGER,
            "results": {"type": "array", "items": ref("Profile")},
        },
        required=("page", "page_size", "session_id", "status", "total", "results"),
    ),
    "ExportLine": obj(
        {
            "event": STRING,
            "properties": obj(
                {
                    "distinct_id": described(STRING, "the resolved id (legacy: as stored)"),
                    "$distinct_id_before_identity": described(STRING, "the id as stored"),
                    "time": described(INTEGER, "seconds (ms with time_in_ms)"),
                    "$insert_id": NULLABLE_STRING,
                    "mp_processing_time_ms": described(INTEGER, "when idmerge accepted it"),
                },
                required=("distinct_id", "$distinct_id_before_identity", "time"),
                additionalProperties=True,
            ),
        },
        required=("event", "properties"),
        description="One line of the raw export.",
    ),
    "StreamAnswer": obj(
        {
            "status": {"const": "ok"},
            "results": obj(
                {"events": {"type": "array", "items": ref("ExportLine")}}, required=("events",)
            ),
        },
        required=("status", "results"),
    ),
    "EventPropertyCounts": {
        "type": "object",
        "additionalProperties": obj({"count": INTEGER}, required=("count",)),
        "description": "{property: {count}}, the most common first",
    },
    "ProfilePropertyTypes": obj(
        {
            "status": {"const": "ok"},
            "results": {
                "type": "object",
                "additionalProperties": obj(
                    {
                        "count": INTEGER,
                        "type": {
                            "enum": ["string", "number", "boolean", "datetime", "list", "object"]
                        },
                    },
                    required=("count", "type"),
                ),
            },
        },
        required=("status", "results"),
    ),
    "Health": obj({"status": {"const": "ok"}}, required=("status",)),
}


# -- error answers -------------------------------------------------------------------

_WHY = {
    400: "The request is wrong; the message names the problem. Nothing was stored.",
    401: "The credentials match no project. Nothing was stored.",
    404: "The project has nothing of that id.",
    413: "The body is over the limit. Nothing was stored.",
    503: "The store could not take the data; retry. Nothing was stored.",
}


def _error(status: int, schema: str) -> Json:
    return {"description": _WHY[status], "content": {"application/json": {"schema": ref(schema)}}}


RESPONSES: dict[str, Json] = {
    **{f"Api{s}": _error(s, "ApiError") for s in (400, 401, 404, 413, 503)},
    **{f"Segment{s}": _error(s, "SegmentError") for s in (400, 401, 503)},
    **{f"Import{s}": _error(s, "ImportResponse") for s in (401, 413, 503)},
}


def errors(prefix: str, *statuses: int) -> Json:
    """References to the error answers ``prefix`` + status (``Api400``, ...)."""
    return {str(s): {"$ref": f"#/components/responses/{prefix}{s}"} for s in statuses}


# -- security ------------------------------------------------------------------------

SECURITY_SCHEMES: dict[str, Json] = {
    "projectSecret": {
        "type": "http",
        "scheme": "basic",
        "description": (
            "The project secret as the user name with an empty password, or a bare "
            "secret; or a service account user:secret with the project_id parameter "
            "(the project's id or name)."
        ),
    },
    "segmentWriteKey": {
        "type": "http",
        "scheme": "basic",
        "description": (
            "The project token as the user name with an empty password; or, instead, "
            "writeKey in the body."
        ),
    },
}
SECRET: list[Json] = [{"projectSecret": []}]
WRITE_KEY: list[Json] = [{"segmentWriteKey": []}, {}]  # {}: or writeKey in the body
#: /track, /engage, /groups: no credentials; each record names its project by the
#: token inside it (properties.token, $token), which OpenAPI cannot express
TOKEN_IN_RECORD: list[Json] = []
