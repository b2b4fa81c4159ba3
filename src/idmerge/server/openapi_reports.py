"""The reports of the OpenAPI document (``openapi.py``): segmentation, retention and
funnels on resolved ids (Mixpanel's query API, served by ``report_api.py``), idmerge's
own API for saved funnels, and the JSON Schemas of their answers.

Limits and enumerations come from the query modules that enforce them.
"""

from __future__ import annotations

from idmerge.query import funnels, retention, segmentation
from idmerge.query.buckets import MAX_BUCKETS, Unit
from idmerge.server.openapi_builders import (
    API_ERRORS,
    FORM,
    FROM_DATE,
    JSON,
    PROJECT_ID,
    TO_DATE,
    WHERE,
    Endpoint,
    Param,
    answer,
    body_schema,
    choice,
    flag,
    json_text,
    names,
    number,
    query_endpoint,
    text,
)
from idmerge.server.openapi_schemas import (
    INTEGER,
    NULLABLE_STRING,
    SECRET,
    STRING,
    STRINGS,
    Json,
    described,
    errors,
    obj,
    ref,
)

#: Buckets.from_params reads ``interval`` (days per bucket) as 1 to this
MAX_INTERVAL_DAYS = 3660
MAX_FUNNEL_LENGTH = funnels.MAX_LENGTH_MS // 1000  # in seconds, the smallest length_unit

_BY_BUCKET: Json = {
    "type": "object",
    "additionalProperties": {"type": "number"},
    "description": "bucket label -> value; every bucket of the range, 0 when empty",
}
_NULLABLE_NUMBER: Json = {"type": ["number", "null"]}
_FUNNEL_STEP_RESULT = obj(
    {
        "count": described(INTEGER, "the users who reached the step"),
        "avg_time": described(_NULLABLE_NUMBER, "mean seconds from the previous step"),
        "avg_time_from_start": described(_NULLABLE_NUMBER, "mean seconds from the entry"),
        "step_conv_ratio": described({"type": "number"}, "count / the previous step's count"),
        "overall_conv_ratio": described({"type": "number"}, "count / the first step's count"),
        "goal": described(STRING, "the step's event"),
        "event": described(STRING, "the step's event"),
    },
    required=(
        "count",
        "avg_time",
        "avg_time_from_start",
        "step_conv_ratio",
        "overall_conv_ratio",
        "goal",
        "event",
    ),
    description="One step of a funnel's answer; both times are null at step 1.",
)
_STEP_RESULTS: Json = {"type": "array", "items": ref("FunnelStepResult")}
_STEP_DEFINITION = obj(
    {
        "event": {"type": "string", "minLength": 1},
        "where": described(NULLABLE_STRING, "a filter expression on this step's events"),
    },
    required=("event",),
    additionalProperties=False,
)

REPORT_SCHEMAS: dict[str, Json] = {
    "SegmentationAnswer": obj(
        {
            "data": obj(
                {
                    "series": described(STRINGS, "the bucket labels, in order"),
                    "values": {
                        "type": "object",
                        "additionalProperties": _BY_BUCKET,
                        "description": (
                            "the event's name (without on) or each segment (with on; "
                            "numeric: each range, e.g. '2,000 - 2,100') -> its buckets"
                        ),
                    },
                },
                required=("series", "values"),
            ),
            "legend_size": described(INTEGER, "the number of keys of values"),
        },
        required=("data", "legend_size"),
        description="Mixpanel's segmentation answer.",
    ),
    "SumAnswer": obj(
        {
            "status": {"const": "ok"},
            "computed_at": {"type": "string", "format": "date-time"},
            "results": _BY_BUCKET,
        },
        required=("status", "computed_at", "results"),
    ),
    "AverageAnswer": obj(
        {"status": {"const": "ok"}, "results": _BY_BUCKET}, required=("status", "results")
    ),
    "RetentionAnswer": {
        "type": "object",
        "additionalProperties": obj(
            {
                "counts": described(
                    {"type": "array", "items": INTEGER},
                    "interval_count + 1 entries: the users of the cohort who came back in "
                    "bucket N after their own birth (bucket 0 included)",
                ),
                "first": described(INTEGER, "the cohort's size"),
            },
            required=("counts", "first"),
        ),
        "description": "cohort label -> its retention; every cohort bucket of the range",
    },
    "FunnelStepResult": _FUNNEL_STEP_RESULT,
    "FunnelAnswer": obj(
        {
            "meta": obj({"dates": described(STRINGS, "the entry buckets")}, required=("dates",)),
            "data": {
                "type": "object",
                "additionalProperties": {
                    "anyOf": [
                        obj(
                            {
                                "steps": _STEP_RESULTS,
                                "analysis": obj(
                                    {
                                        "completion": INTEGER,
                                        "starting_amount": INTEGER,
                                        "steps": INTEGER,
                                        "worst": described(
                                            INTEGER, "the step with the worst step_conv_ratio"
                                        ),
                                    },
                                    required=("completion", "starting_amount", "steps", "worst"),
                                ),
                            },
                            required=("steps", "analysis"),
                            description="without on",
                        ),
                        obj(
                            {"$overall": _STEP_RESULTS},
                            required=("$overall",),
                            additionalProperties=_STEP_RESULTS,
                            description="with on: $overall and each segment -> its steps",
                        ),
                    ]
                },
                "description": "entry bucket label -> the funnel of the users who entered in it",
            },
        },
        required=("meta", "data"),
        description="Mixpanel's funnel answer.",
    ),
    "FunnelSteps": {
        "type": "array",
        "items": {"anyOf": [_STEP_DEFINITION, described(STRING, "a bare event name")]},
        "minItems": 2,
        "maxItems": funnels.MAX_STEPS,
        "description": "the steps in order: {event, where?}, or the event's name alone",
    },
    "FunnelListEntry": obj({"funnel_id": INTEGER, "name": STRING}, required=("funnel_id", "name")),
    "NewFunnel": obj(
        {
            "name": STRING,
            "steps": ref("FunnelSteps"),
            "length": {"type": "integer", "minimum": 1, "maximum": MAX_FUNNEL_LENGTH},
            "length_unit": {"enum": list(funnels.LENGTH_UNITS)},
        },
        required=("name", "steps"),
        description="A funnel to save; its window is 7 days unless length says otherwise.",
    ),
    "SavedFunnel": obj(
        {
            "funnel_id": INTEGER,
            "name": STRING,
            "steps": {
                "type": "array",
                "items": obj(
                    {"event": STRING, "where": NULLABLE_STRING}, required=("event", "where")
                ),
            },
            "length": INTEGER,
            "length_unit": {"enum": list(funnels.LENGTH_UNITS)},
            "created_at": described(INTEGER, "ms since the epoch"),
        },
        required=("funnel_id", "name", "steps", "length", "length_unit", "created_at"),
    ),
    "DeletedFunnel": obj(
        {"status": {"const": "ok"}, "deleted": INTEGER}, required=("status", "deleted")
    ),
}


# -- segmentation --------------------------------------------------------------------

_RANGE = (FROM_DATE, TO_DATE)
_BUCKETS = (
    f"Buckets are UTC (hour labels 'YYYY-MM-DD HH:00:00'; weeks start on Monday); at most "
    f"{MAX_BUCKETS:,} of them."
)
_EVENT = names("event", "the event: its name, or a JSON array of that one name", required=True)
_NUMERIC_ON = text("on", 'a numeric expression, e.g. properties["price"]', required=True)


def _unit(units: tuple[Unit, ...], default: Unit = Unit.DAY) -> Param:
    return choice("unit", tuple(u.value for u in units), default.value, "the bucket size")


def _numeric(summary: str, description: str, ok: Json, *extra: Param) -> Endpoint:
    return query_endpoint(
        summary,
        description + " Users are resolved ids. " + _BUCKETS,
        ok,
        _EVENT,
        *_RANGE,
        _NUMERIC_ON,
        _unit((Unit.HOUR, Unit.DAY)),
        WHERE,
        *extra,
        methods=("GET", "POST"),
    )


# -- funnels -------------------------------------------------------------------------

_LENGTH = Param(
    "length",
    {"type": "integer", "minimum": 1, "maximum": MAX_FUNNEL_LENGTH},
    "the conversion window from the step-1 event, in length_unit (at most 90 days); "
    "default the saved funnel's, else 7",
)
_LENGTH_UNIT = Param(
    "length_unit",
    {"enum": list(funnels.LENGTH_UNITS)},
    "default the saved funnel's, else day",
)
_STEPS = json_text("steps", ref("FunnelSteps"), "an ad-hoc funnel's steps (instead of funnel_id)")
_FUNNEL_ERRORS = {**API_ERRORS, **errors("Api", 404)}

#: by path under /api/2.0/ and /api/query/
REPORT_ENDPOINTS: dict[str, Endpoint] = {
    "segmentation": query_endpoint(
        "Segmentation",
        "One event's occurrences (general), unique users (unique) or occurrences per "
        "user (average) per time bucket, optionally by segment (on). Users are resolved "
        "ids: a device's anonymous events and its user's later ones are one user. " + _BUCKETS,
        answer("the series", ref("SegmentationAnswer")),
        _EVENT,
        *_RANGE,
        _unit(tuple(Unit)),
        number("interval", "days per bucket, instead of unit", 1, MAX_INTERVAL_DAYS, None),
        choice("type", segmentation.TYPES, "general", "what is counted"),
        text("on", 'segment by this expression, e.g. properties["$browser"]'),
        WHERE,
        number("limit", "with on: the top segments kept", 1, segmentation.MAX_LIMIT, 60),
        methods=("GET", "POST"),
    ),
    "segmentation/numeric": _numeric(
        "Segmentation by numeric ranges",
        "As segmentation, segmented by ranges of a numeric expression (keys like "
        "'2,000 - 2,100'; at most 10 ranges of one width).",
        answer("the series, one key per range", ref("SegmentationAnswer")),
        choice("type", segmentation.TYPES, "general", "what is counted"),
    ),
    "segmentation/sum": _numeric(
        "Sum of an expression",
        "The sum of on over the event's occurrences per bucket; a value that is not a "
        "number counts as 0.",
        answer("the sums", ref("SumAnswer")),
    ),
    "segmentation/average": _numeric(
        "Average of an expression",
        "The mean of on over the event's occurrences per bucket; a value that is not a "
        "number counts as 0.",
        answer("the means", ref("AverageAnswer")),
    ),
    "retention": query_endpoint(
        "Retention",
        "Per cohort bucket, the users born in it (first) and how many came back in each "
        "bucket after their own birth. birth: born at the first-ever born_event; "
        "compounded: in every bucket they did event. Users are resolved ids. on and "
        "limit (segments) are refused.",
        answer("the cohorts", ref("RetentionAnswer")),
        *_RANGE,
        choice("retention_type", retention.RETENTION_TYPES, "birth", "first time or recurring"),
        text("born_event", "the birth event; required when retention_type is birth"),
        text("event", "the return event; any event when not given"),
        text("born_where", "a filter expression on the birth events"),
        text("where", "a filter expression on the return events"),
        number(
            "interval",
            "units per retention bucket: at most "
            + ", ".join(f"{n} ({u.value})" for u, n in retention.MAX_INTERVAL.items()),
            1,
            max(retention.MAX_INTERVAL.values()),
            1,
        ),
        number("interval_count", "buckets after bucket 0", 1, retention.MAX_INTERVAL_COUNT, 1),
        _unit(retention.UNITS),
        flag("unbounded_retention", "count a user in every bucket up to their last return"),
        methods=("GET", "POST"),
    ),
    "funnels": query_endpoint(
        "Funnel",
        "A saved funnel (funnel_id) or, idmerge's addition, an ad-hoc one (steps, e.g. "
        "POSTed in a JSON body) over the entry days. A user enters a bucket at their first "
        "step-1 event in it; the steps must follow in order within the window (consecutive "
        "steps within 2 s in either order). Users are resolved ids. With on, each date maps "
        "to $overall and each segment's steps.",
        answer("the funnel", ref("FunnelAnswer")),
        number("funnel_id", "the saved funnel (or steps)", 1, 2**31 - 1, None),
        _STEPS,
        *_RANGE,
        _LENGTH,
        _LENGTH_UNIT,
        _unit(funnels.UNITS),
        number("interval", "days per bucket, instead of unit", 1, MAX_INTERVAL_DAYS, None),
        text("on", "segment by this expression, read on the entering step-1 event"),
        WHERE,
        number("limit", "with on: the top segments kept", 1, 10_000, 255),
        methods=("GET", "POST"),
        failures=_FUNNEL_ERRORS,
    ),
    "funnels/list": query_endpoint(
        "List saved funnels",
        "The project's saved funnels (see /api/funnels), by funnel_id.",
        answer("the funnels", {"type": "array", "items": ref("FunnelListEntry")}),
    ),
}


# -- idmerge's own API for saved funnels ---------------------------------------------

_NEW_FUNNEL = (
    text("name", "the funnel's name", required=True),
    json_text("steps", ref("FunnelSteps"), "the steps", required=True),
    Param("length", {"type": "integer", "minimum": 1, "maximum": MAX_FUNNEL_LENGTH, "default": 7},
          "the conversion window, in length_unit (at most 90 days)"),
    choice("length_unit", tuple(funnels.LENGTH_UNITS), "day", "the unit of length"),
)  # fmt: skip
_SAVE_BODY: Json = {
    "required": False,
    "description": "the funnel as a JSON object or a form (or in the query string)",
    "content": {
        JSON: {"schema": ref("NewFunnel")},
        FORM: {"schema": body_schema(_NEW_FUNNEL, FORM)},
    },
}
_FUNNEL_ID = Param("funnel_id", INTEGER, "the saved funnel")

#: (path, endpoint): each endpoint serves its own methods of the path
FUNNEL_API: tuple[tuple[str, Endpoint], ...] = (
    (
        "/api/funnels",
        query_endpoint(
            "List saved funnels with their definitions",
            "Every saved funnel of the project, by funnel_id.",
            answer("the funnels", {"type": "array", "items": ref("SavedFunnel")}),
            tag="funnels",
        ),
    ),
    (
        "/api/funnels",
        Endpoint(
            "Save a funnel",
            "Keep a funnel definition for /funnels?funnel_id=; a funnel that could not "
            "run (fewer than 2 steps, a bad where, a window over 90 days) is refused.",
            "funnels",
            SECRET,
            {
                "201": answer("saved", ref("SavedFunnel")),
                **errors("Api", 400, 401, 413),
            },
            ("POST",),
            requests=(
                (
                    "POST",
                    (
                        [PROJECT_ID.query()] + [p.query(required=False) for p in _NEW_FUNNEL],
                        _SAVE_BODY,
                    ),
                ),
            ),
        ),
    ),
    (
        "/api/funnels/{funnel_id}",
        Endpoint(
            "A saved funnel",
            "One saved funnel with its definition.",
            "funnels",
            SECRET,
            {"200": answer("the funnel", ref("SavedFunnel")), **errors("Api", 400, 401, 404)},
            ("GET",),
            (PROJECT_ID,),
            in_path=(_FUNNEL_ID,),
        ),
    ),
    (
        "/api/funnels/{funnel_id}",
        Endpoint(
            "Delete a saved funnel",
            "Forget a saved funnel.",
            "funnels",
            SECRET,
            {"200": answer("deleted", ref("DeletedFunnel")), **errors("Api", 400, 401, 404)},
            ("DELETE",),
            (PROJECT_ID,),
            in_path=(_FUNNEL_ID,),
        ),
    ),
)
