"""What validating Mixpanel records answers: the accepted events and the rejections."""

from __future__ import annotations

import enum
from typing import Any, NamedTuple

from idmerge.identity.model import Event
from idmerge.wire.values import Flaw, coerce_id, printable


class RejectReason(enum.StrEnum):
    """Why a record was refused; the ``reason`` of a :class:`Rejection`."""

    NOT_AN_OBJECT = "not_an_object"  # the record is not a JSON object
    MISSING_FIELD = "missing_field"  # a required field is absent or empty
    INVALID_TYPE = "invalid_type"  # a field has the wrong JSON type
    INVALID_TIME = "invalid_time"  # a time that is not a number of (milli)seconds
    TIME_OUT_OF_RANGE = "time_out_of_range"  # before 1971, or over an hour ahead
    TOO_OLD_FOR_TRACK = "too_old_for_track"  # older than /track takes: use /import
    INVALID_INSERT_ID = "invalid_insert_id"
    JUNK_ID = "junk_id"  # a placeholder such as "undefined" as the event's id (/import)
    TOO_MANY_PROPERTIES = "too_many_properties"
    TOO_DEEP = "too_deep"
    INVALID_UTF8 = "invalid_utf8"
    NO_OPERATION = "no_operation"  # a profile update naming no operation
    UNKNOWN_FIELD = "unknown_field"  # a profile update key that is no operation
    INVALID_OPERATION = "invalid_operation"  # $add / $append on a group profile
    INVALID_JSON = "invalid_json"  # a line of an imported file that is not JSON
    INVALID_MESSAGE = "invalid_message"  # a Segment message its batch cannot take
    TOO_LARGE = "too_large"  # a record alone past a request's body limit (an import)


class Rejection(NamedTuple):
    """One refused record; the server reports it and records it as a warning."""

    # the name shadows tuple.index, which nobody calls on a Rejection; Mixpanel's
    # failed_records call the field "index"
    index: int  # type: ignore[assignment]  # position of the record in the request
    insert_id: str | None
    field: str  # a path from the record: "event", "properties.time", "$set.plan", "record"
    message: str  # plain words naming the problem and the offending value (shortened)
    reason: str  # a RejectReason value
    distinct_id: str | None = None
    event: str | None = None


class EventBatch(NamedTuple):
    accepted: list[tuple[int, Event]]  # (index in request, event for the engine), in order
    rejected: list[Rejection]


def rejection(index: int, flaw: Flaw, *, insert_id: Any, distinct_id: Any, event: Any) -> Rejection:
    """A Rejection from a flaw and whatever of the record's ids could be read."""
    return Rejection(
        index=index,
        insert_id=_text(insert_id),
        field=flaw.field,
        message=flaw.message,
        reason=flaw.reason,
        distinct_id=_text(distinct_id),
        event=_text(event),
    )


def _text(value: Any) -> str | None:
    # these are echoed back in responses, so they must encode even when the record's
    # own text was not valid UTF-8
    text = coerce_id(value)
    return None if text is None else printable(text)
