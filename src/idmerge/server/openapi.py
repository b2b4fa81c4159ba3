"""The OpenAPI 3.1 document of the server, served at ``/openapi.json``.

Every endpoint is described once, as an :class:`~idmerge.server.openapi_builders.Endpoint`;
the concrete paths the server answers on are generated from that description
(Mixpanel's paths with and without a trailing slash, the query API under both
``/api/2.0/`` and ``/api/query/``, one ``/v1/<call>`` per Segment call), so that twins
cannot drift apart. ``tests/server/test_openapi.py`` holds the result against
:func:`idmerge.server.app.routes`.

This module describes ingestion, the export and profile calls, the overview and the
identity tools, and assembles the document. The vocabulary it is written in
(parameters, answers, endpoints) is in ``openapi_builders.py``; the reports
(segmentation, retention, funnels, saved funnels) in ``openapi_reports.py``; the
components (schemas, shared error answers, security schemes) in ``openapi_schemas.py``.
"""

from __future__ import annotations

import functools
import importlib.metadata
from collections.abc import Iterator
from typing import Any

from idmerge.query.export import MAX_LIMIT as EXPORT_MAX_LIMIT
from idmerge.query.mappings import FORMATS, MEDIA_TYPES
from idmerge.query.overview import COUNTS, DEFAULT_DAYS, MAX_DAYS
from idmerge.query.profiles import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from idmerge.server.identity_api import MAX_WARNINGS
from idmerge.server.openapi_builders import (
    FORM,
    FROM_DATE,
    JSON,
    NDJSON,
    PROJECT_ID,
    TO_DATE,
    WHERE,
    Endpoint,
    Param,
    answer,
    body_schema,
    choice,
    day,
    flag,
    json_lines,
    names,
    number,
    query_endpoint,
    slashed,
    text,
)
from idmerge.server.openapi_reports import FUNNEL_API, REPORT_ENDPOINTS, REPORT_SCHEMAS
from idmerge.server.openapi_schemas import (
    INTEGER,
    RESPONSES,
    SCHEMAS,
    SECRET,
    SECURITY_SCHEMES,
    STRING,
    STRINGS,
    TOKEN_IN_RECORD,
    WRITE_KEY,
    Json,
    described,
    errors,
    obj,
    ref,
)
from idmerge.server.segment import CALLS
from idmerge.wire.segment import MAX_BATCH_BYTES, MAX_MESSAGE_BYTES
from idmerge.wire.values import DEFAULT_LIMITS

FAMILIES = ("/api/2.0/", "/api/query/")
MAX_RECORDS = DEFAULT_LIMITS.max_events
BODY_MB = DEFAULT_LIMITS.max_body_bytes // (1024 * 1024)

DESCRIPTION = f"""\
idmerge is a self-hosted product-analytics collector. It takes events and profile
updates in the wire formats of Mixpanel's and Segment's SDKs, resolves each user's ids
into one person exactly as the project's identity mode promises, and answers
Mixpanel's export and query calls (segmentation, retention, funnels included) on the
resolved ids. Its own endpoints explain why an id resolves as it does, undo a merge, keep
saved funnels, and list every record it refused.

**Credentials.** Every `/api/` endpoint and `/import` take the project *secret* (HTTP
Basic: the secret as user name and an empty password, a bare secret, or a service
account `user:secret` with `project_id`). `/track`, `/engage` and
`/groups` are called by untrusted clients and take no credentials: each record names
its project by the *token* inside it (`properties.token`, `$token`); a record whose
token matches no project is refused. The Segment endpoints take the token as the
*write key*: the Basic user name, or `writeKey` in the body.

**Guarantees.** A success answer is sent only once the data is on disk. Nothing is
dropped silently: every refused record is listed by `/api/ingestion/warnings`.
Mixpanel's paths are served with and without a trailing slash, the query API under
both `/api/2.0/` and `/api/query/`. A Mixpanel request carries at most {MAX_RECORDS}
records and {BODY_MB} MB uncompressed; `Content-Encoding: gzip` is accepted on every
body."""

TAGS = [
    {"name": "mixpanel-ingestion", "description": "Mixpanel's ingestion API"},
    {"name": "segment", "description": "Segment's / Customer.io's tracking API"},
    {"name": "mixpanel-query", "description": "Mixpanel's export and query API"},
    {"name": "funnels", "description": "idmerge's own API for saved funnels"},
    {"name": "identity", "description": "idmerge's own identity tools"},
    {"name": "overview", "description": "idmerge's own overview of a project"},
    {"name": "server", "description": "The server itself"},
]


# -- Mixpanel ingestion --------------------------------------------------------------


def client_endpoint(summary: str, description: str, record: str, *, profiles: bool) -> Endpoint:
    """``/track``, ``/engage`` or ``/groups``: ``record`` is the schema of one record."""
    data = text("data", "the records: JSON or base64 of JSON, one object or an array")
    verbose = Param(
        "verbose",
        {"enum": ["0", "1", "2", "true"]},
        "1: answer a VerboseAnswer"
        + ("; 2: and a real 400 when something was refused" if profiles else ""),
    )
    options = (
        verbose,
        flag("img", "answer a 1x1 GIF"),
        text("callback", "answer callback(<answer>) as JavaScript"),
        text("ip", "accepted and ignored (no geolocation)"),
        text("_", "accepted and ignored (cache buster)"),
        text("test", "accepted and ignored"),
    )
    records: Json = {
        "oneOf": [ref(record), {"type": "array", "items": ref(record), "maxItems": MAX_RECORDS}]
    }
    post_body: Json = {
        "required": False,
        "description": "data as a form field, or the records as JSON or JSON lines",
        "content": {
            FORM: {"schema": body_schema((data, *options), FORM)},
            JSON: {"schema": records},
            NDJSON: {"schema": {"type": "string", "x-json-lines": ref(record)}},
        },
    }
    answers: Json = {
        "text/plain": {"schema": {"enum": ["1", "0"]}},
        JSON: {"schema": ref("VerboseAnswer")},
        "image/gif": {"schema": {"type": "string", "contentMediaType": "image/gif"}},
        "application/javascript": {"schema": STRING},
    }
    refused: Json = {"text/plain": {"schema": STRING}}
    if profiles:
        refused[JSON] = {"schema": ref("VerboseAnswer")}
    return Endpoint(
        summary,
        description
        + " Called by untrusted clients (browsers included: CORS pre-flights are answered "
        "and the Origin echoed), so no credentials: each record names its project by its "
        f"token. At most {MAX_RECORDS} records. Answers 200 whatever happened, as the SDKs "
        "expect: 1, or 0 when something was refused (each refusal is an ingestion warning).",
        "mixpanel-ingestion",
        TOKEN_IN_RECORD,
        {
            "200": {"description": "1 when everything was stored, else 0", "content": answers},
            "400": {
                "description": "an invalid callback name"
                + ("; or, with verbose=2, a refused record" if profiles else ""),
                "content": refused,
            },
        },
        ("GET", "POST"),
        requests=(
            ("GET", ([data.query(required=True)] + [p.query() for p in options], None)),
            ("POST", ([data.query()] + [p.query() for p in options], post_body)),
        ),
    )


TRACK = client_endpoint(
    "Track events",
    "Events from clients. Events older than 5 days are refused (send them to /import).",
    "TrackEvent",
    profiles=False,
)
ENGAGE = client_endpoint(
    "Update user profiles",
    "Profile operations ($set, $set_once, $add, $union, $append, $remove, $unset, $delete) "
    "on user profiles.",
    "ProfileUpdate",
    profiles=True,
)
GROUPS = client_endpoint(
    "Update group profiles",
    "Profile operations on group profiles ($add and $append are refused).",
    "GroupProfileUpdate",
    profiles=True,
)

_IMPORT_ANSWER: Json = {"oneOf": [ref("ImportResponse"), ref("VerboseAnswer")]}
_IMPORT_PARAMS = (
    PROJECT_ID,
    flag("strict", "report invalid events as a 400", default=True),
    text("verbose", "the legacy form's 1"),
)
_IMPORT_BODY: Json = {
    "required": True,
    "description": f"at most {MAX_RECORDS} events and {BODY_MB} MB uncompressed",
    "content": {
        JSON: {"schema": {"type": "array", "items": ref("ImportEvent"), "maxItems": MAX_RECORDS}},
        NDJSON: {"schema": {"type": "string", "x-json-lines": ref("ImportEvent")}},
        FORM: {"schema": obj({"data": STRING, "verbose": STRING}, required=("data",))},
    },
}
IMPORT = Endpoint(
    "Import events",
    "Historical events, authenticated by the project secret. Every event needs event, "
    "properties.time, properties.distinct_id and properties.$insert_id. The valid events "
    "are stored; with strict=1 the invalid ones are listed in failed_records of a 400. "
    "The legacy form (data=..., as mixpanel-python sends it) answers a VerboseAnswer. "
    "Identity events ($merge included) are honoured.",
    "mixpanel-ingestion",
    SECRET,
    {
        "200": answer("every event was stored", _IMPORT_ANSWER),
        "400": answer(
            "some events were refused (the valid ones were stored), or the body is malformed",
            _IMPORT_ANSWER,
        ),
        **errors("Import", 401, 413, 503),
    },
    ("POST",),
    requests=(("POST", ([p.query() for p in _IMPORT_PARAMS], _IMPORT_BODY)),),
)

#: by path, each served with and without a trailing slash
MIXPANEL_ENDPOINTS = {"/track": TRACK, "/engage": ENGAGE, "/groups": GROUPS, "/import": IMPORT}


# -- Segment -------------------------------------------------------------------------

_SEGMENT_NEEDS = {
    "track": ("event",),
    "alias": ("userId", "previousId"),
    "group": ("groupId",),
}
_SEGMENT_BECOMES = {
    "track": "the event",
    "identify": "a profile $set of traits, and an identity link",
    "alias": "a merge (cdp) or the Mixpanel modes' $create_alias",
    "page": "the event 'Loaded a Page'",
    "screen": "the event 'Loaded a Screen'",
    "group": "a group profile $set of traits",
    "batch": "each message as its type says",
}


def segment_call(call: str) -> Endpoint:
    if call == "batch":
        schema = ref("SegmentBatch")
        size = f"at most {MAX_BATCH_BYTES // 1024} KB, each message {MAX_MESSAGE_BYTES // 1024} KB"
    else:
        schema = {
            "allOf": [ref("SegmentMessage"), {"required": list(_SEGMENT_NEEDS.get(call, ()))}]
        }
        size = f"at most {MAX_MESSAGE_BYTES // 1024} KB"
    body: Json = {"required": True, "description": size, "content": {JSON: {"schema": schema}}}
    return Endpoint(
        f"Segment {call}",
        f"Becomes {_SEGMENT_BECOMES[call]}. The request is taken whole or refused whole; "
        "past the size limits the answer is 400, as Segment's.",
        "segment",
        WRITE_KEY,
        {
            "200": answer("stored durably", ref("SegmentResponse")),
            **errors("Segment", 400, 401, 503),
        },
        ("POST",),
        requests=(("POST", ([], body)),),
    )


# -- Mixpanel query ------------------------------------------------------------------

#: by path under /api/2.0/ and /api/query/
QUERY_ENDPOINTS: dict[str, Endpoint] = {
    "export": query_endpoint(
        "Export raw events",
        "Every event of the days, distinct_id the id it resolves to now. Not "
        "deduplicated, not sorted. gzip with Accept-Encoding: gzip. A failure after "
        "the first line ends the body with the line [terminated early].",
        json_lines("ExportLine", "the events", "text/plain"),
        FROM_DATE,
        TO_DATE,
        names("event", "only events of these names"),
        WHERE,
        number("limit", "at most this many events", 1, EXPORT_MAX_LIMIT, None),
        flag("time_in_ms", "properties.time in milliseconds"),
        methods=("GET", "POST"),
    ),
    "engage": query_endpoint(
        "Query profiles",
        "One page of profiles, one per person: any id of a cluster finds its profile, "
        "answered under the resolved id. Later pages with the first page's session_id "
        "see the same list.",
        answer("a page of profiles", ref("EngagePage")),
        text("distinct_id", "one person"),
        names("distinct_ids", "several people"),
        WHERE,
        text("selector", "the legacy name of where"),
        names("output_properties", "only these properties"),
        text("data_group_id", "group profiles of this group key instead of users"),
        number("page", "the page, from 0", 0, 10**9, 0),
        number("page_size", "profiles per page", 1, MAX_PAGE_SIZE, DEFAULT_PAGE_SIZE),
        text("session_id", "from the first page"),
        methods=("GET", "POST"),
    ),
    "engage/properties": query_endpoint(
        "List profile properties",
        "The properties of the visible person profiles, with counts and types.",
        answer("the properties, the most common first", ref("ProfilePropertyTypes")),
        number("limit", "at most this many properties", 1, 100_000, 2000),
    ),
    "events/names": query_endpoint(
        "List event names",
        "The most common event names of the 31 days up to the project's newest event.",
        answer("the names, the most common first", STRINGS),
        choice("type", ("general", "unique", "average"), "general", "accepted; no effect"),
        number("limit", "at most this many names", 1, 100_000, 255),
    ),
    "events/properties/top": query_endpoint(
        "List event properties",
        "The most common event properties of the 31 days up to the project's newest "
        "event; of every event name when event is not given.",
        answer("the properties with their counts", ref("EventPropertyCounts")),
        text("event", "only events of this name"),
        number("limit", "at most this many properties", 1, 100_000, 10),
    ),
    "stream/query": query_endpoint(
        "Activity stream",
        "Every event of the people named (any id of each cluster), in time order.",
        answer("the events", ref("StreamAnswer")),
        names("distinct_ids", "the people (distinct_id is read too)", required=True),
        day("from_date", "the first day (UTC), inclusive", required=False),
        day("to_date", "the last day (UTC), inclusive", required=False),
        number("limit", "at most this many events", 1, 10_000_000, None),
        methods=("GET", "POST"),
    ),
    "cohorts/list": query_endpoint(
        "List cohorts",
        "idmerge has no cohorts: always an empty list, which clients accept.",
        answer("no cohorts", {"type": "array", "maxItems": 0}),
        methods=("GET", "POST"),
    ),
}


# -- overview ------------------------------------------------------------------------

_COUNT_WORDS = {
    "events": "events stored (retries included)",
    "stored_ids": "distinct ids the events were stored under",
    "people": "distinct ids the events resolve to now",
    "merges": "identity events that linked or merged clusters",
    "refused": "identity events a rule refused",
}
_COUNTS: Json = {name: described(INTEGER, _COUNT_WORDS[name]) for name in COUNTS}
_DAY: Json = {"type": "string", "format": "date"}
OVERVIEW_SCHEMAS: dict[str, Json] = {
    "OverviewDay": obj(
        {"day": described(_DAY, "the UTC day"), **_COUNTS},
        required=("day", *COUNTS),
        description="One day's counts; merges and refusals by the identity event's time.",
    ),
    "OverviewAnswer": obj(
        {
            "from_date": described(_DAY, "the first day, as asked or defaulted"),
            "to_date": described(_DAY, "the last day, as asked or defaulted"),
            "days": {"type": "array", "items": ref("OverviewDay"), "maxItems": MAX_DAYS},
            "refused_by_reason": described(
                {"type": "object", "additionalProperties": INTEGER},
                "refused identity events of the range per reason code, the most first",
            ),
            "totals": obj(
                _COUNTS,
                required=COUNTS,
                description="the range's counts; stored_ids and people distinct over it",
            ),
        },
        required=("from_date", "to_date", "days", "refused_by_reason", "totals"),
        description="A project's activity per UTC day, every day of the range listed.",
    ),
}
OVERVIEW = query_endpoint(
    "Project overview",
    "Events, stored ids, people (resolved now), merges and refused identity events per "
    f"UTC day, and the refused ones by reason. At most {MAX_DAYS} days. Without dates: "
    f"the {DEFAULT_DAYS} days up to the project's newest event (today without events); "
    "without to_date, the newest event's day (not before from_date); without from_date, "
    f"{DEFAULT_DAYS - 1} days before to_date.",
    answer("the overview", ref("OverviewAnswer")),
    day("from_date", "the first day (UTC), inclusive", required=False),
    day("to_date", "the last day (UTC), inclusive", required=False),
    tag="overview",
)


# -- identity ------------------------------------------------------------------------

_SPLIT_PARAMS = (
    text("insert_id", "undo the identity event of this $insert_id"),
    number("seq", "undo the identity event stored as this seq", 0, 2**62, None),
    text("detach", "take this id out of its cluster"),
    flag("dry_run", "only answer what the split would do: nothing is written"),
)
_SPLIT_BODY: Json = {
    "required": False,
    "description": "the split as a form or a JSON object (instead of the query string)",
    "content": {
        FORM: {"schema": body_schema(_SPLIT_PARAMS, FORM)},
        JSON: {"schema": ref("SplitRequest")},
    },
}
SPLIT = Endpoint(
    "Split a merge",
    "Undo one identity event, or detach one id; every report re-attributes at once. "
    "Name exactly one of insert_id, seq, detach. The answer names the ids that change "
    "person and counts their events; with dry_run it is a preview and nothing is written.",
    "identity",
    SECRET,
    {
        "200": answer("the split (or its preview) and the new clusters", ref("SplitAnswer")),
        **errors("Api", 400, 401, 413, 503),
    },
    ("POST",),
    (PROJECT_ID, *_SPLIT_PARAMS),
    requests=(
        ("POST", ([p.query(required=False) for p in (PROJECT_ID, *_SPLIT_PARAMS)], _SPLIT_BODY)),
    ),
)

#: by path
IDENTITY_ENDPOINTS: dict[str, Endpoint] = {
    "/api/identity": query_endpoint(
        "Explain an id",
        "The id's resolved id, cluster and the history of every identity outcome that "
        "touched the cluster. An unknown id is a cluster of one (not a 404).",
        answer("the explanation", ref("IdentityExplanation")),
        text("distinct_id", "the id", required=True),
        tag="identity",
    ),
    "/api/identity/split": SPLIT,
    "/api/identity/mappings": query_endpoint(
        "Export the identity mappings",
        "One row per id whose resolved id differs from itself, for warehouses that "
        "resolve events themselves.",
        {
            "description": "the mappings in the format asked for",
            "content": {
                MEDIA_TYPES[form]: {
                    "schema": {"type": "string", "x-json-lines": ref("MappingRow")}
                    if form == "json"
                    else {"type": "string", "contentMediaType": MEDIA_TYPES[form]}
                }
                for form in FORMATS
            },
        },
        choice("format", FORMATS, "json", "JSON lines, CSV or Parquet"),
        tag="identity",
    ),
    "/api/ingestion/warnings": query_endpoint(
        "List ingestion warnings",
        "Every refused record and refused identity event, with its reason, newest first.",
        answer("one page of warnings", ref("WarningsPage")),
        number("limit", "warnings per page", 1, MAX_WARNINGS, 100),
        number("before_seq", "page on: the next_before_seq of the previous page", 0, 2**62, None),
        text("reason", "only the warnings with this reason code, e.g. errJunkId"),
        tag="identity",
    ),
    "/api/overview": OVERVIEW,
}


# -- the document --------------------------------------------------------------------

HEALTH = Endpoint(
    "Health",
    "200 when the server accepts traffic.",
    "server",
    [],
    {"200": answer("the server is up", ref("Health"))},
)
OPENAPI = Endpoint(
    "This document",
    "The OpenAPI document of the server.",
    "server",
    [],
    {"200": answer("the OpenAPI 3.1 document", {"type": "object"})},
)


def concrete_paths() -> Iterator[tuple[str, str, Endpoint]]:
    """``(path, method, endpoint)`` of everything the server answers (pre-flights aside)."""
    yield "/health", "GET", HEALTH
    for base, endpoint in MIXPANEL_ENDPOINTS.items():
        for path in slashed(base):
            yield from ((path, method, endpoint) for method in endpoint.methods)
    for call in CALLS:
        yield f"/v1/{call}", "POST", segment_call(call)
    for path, endpoint in IDENTITY_ENDPOINTS.items():
        yield from ((path, method, endpoint) for method in endpoint.methods)
    for name, endpoint in (QUERY_ENDPOINTS | REPORT_ENDPOINTS).items():
        for path in (p for family in FAMILIES for p in slashed(family + name)):
            yield from ((path, method, endpoint) for method in endpoint.methods)
    for path, endpoint in FUNNEL_API:
        yield from ((path, method, endpoint) for method in endpoint.methods)
    yield "/openapi.json", "GET", OPENAPI


@functools.cache
def document() -> dict[str, Any]:
    """The OpenAPI document; built once, and shared: callers only serialise it."""
    paths: dict[str, Json] = {}
    for path, method, endpoint in concrete_paths():
        paths.setdefault(path, {})[method.lower()] = endpoint.operation(method, path)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "idmerge",
            "version": importlib.metadata.version("idmerge"),
            "description": DESCRIPTION,
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": "/"}],
        "tags": TAGS,
        "paths": paths,
        "components": {
            "schemas": SCHEMAS | REPORT_SCHEMAS | OVERVIEW_SCHEMAS,
            "responses": RESPONSES,
            "securitySchemes": SECURITY_SCHEMES,
        },
    }
