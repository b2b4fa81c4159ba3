"""``/track`` records: untrusted, recent, optional time and ``$insert_id``.

Spec: ingestion-api.md (/track; Limits on properties); identity.md (junk ids are
stored, the engine refuses their links); mixpanel.md §2.1 and §1.4 (what SDKs send).
"""

from __future__ import annotations

from typing import Any

import pytest

from idmerge.identity.model import Event, Mode
from idmerge.identity.policy import Policy
from idmerge.wire.mixpanel import Rejection, record_token, track_events

from .samples import NOW_MS, NOW_S

DAY_MS = 86_400_000
HOUR_MS = 3_600_000


def js_event(**properties: Any) -> dict[str, Any]:
    """What mixpanel-js sends (mixpanel.md §1.4), keyword arguments replacing properties."""
    props: dict[str, Any] = {
        "token": "TOKEN",
        "distinct_id": "$device:0f8fad5b-d9cb-469f-a165-70867728950e",
        "$device_id": "0f8fad5b-d9cb-469f-a165-70867728950e",
        "$insert_id": "k3j9x0q2m1z8w7v6",
        "time": NOW_S - 1.234,
        "mp_lib": "web",
    }
    props.update(properties)
    return {"event": "Page View", "properties": {k: v for k, v in props.items() if v is not None}}


def run(records: list[Any], mode: Mode = Mode.SIMPLIFIED):
    return track_events(records, policy=Policy.for_mode(mode), mode=mode, now_ms=NOW_MS)


def accepted_one(record: Any, mode: Mode = Mode.SIMPLIFIED) -> Event:
    batch = run([record], mode)
    assert batch.rejected == []
    return batch.accepted[0][1]


def rejected_one(record: Any, mode: Mode = Mode.SIMPLIFIED) -> Rejection:
    batch = run([record], mode)
    assert batch.accepted == []
    [rejection] = batch.rejected
    return rejection


def test_an_sdk_event_becomes_an_untrusted_event():
    event = accepted_one(js_event())
    assert (event.name, event.time, event.insert_id, event.trusted) == (
        "Page View",
        NOW_MS - 1234,
        "k3j9x0q2m1z8w7v6",
        False,
    )
    assert "token" not in event.properties


def test_a_missing_time_is_the_arrival_time():
    assert accepted_one(js_event(time=None)).time == NOW_MS


def test_an_event_up_to_five_days_old_is_accepted():
    assert accepted_one(js_event(time=NOW_MS - 5 * DAY_MS)).time == NOW_MS - 5 * DAY_MS


def test_an_older_event_is_refused_pointing_at_import():
    rejection = rejected_one(js_event(time=NOW_MS - 5 * DAY_MS - 1))
    assert (rejection.field, rejection.reason) == ("properties.time", "too_old_for_track")
    assert "more than 5 days old" in rejection.message and "/import" in rejection.message


def test_an_event_more_than_an_hour_ahead_is_refused():
    assert accepted_one(js_event(time=NOW_MS + HOUR_MS)).time == NOW_MS + HOUR_MS
    rejection = rejected_one(js_event(time=NOW_MS + HOUR_MS + 1))
    assert (rejection.field, rejection.reason) == ("properties.time", "time_out_of_range")


def test_insert_id_is_optional():
    assert accepted_one(js_event(**{"$insert_id": None})).insert_id is None


@pytest.mark.parametrize(
    "insert_id",
    [
        "k3j9x0q2m1z8w7v6",  # mixpanel-js: 16 base-36 characters
        "1dcc4bd3a1a84d6b8e0c5c5e9d0f7a11",  # mixpanel-python: uuid4().hex
        "0f8fad5b-d9cb-469f-a165-70867728950e",  # a UUID
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",  # sha256 hex
        "event_42-a",
    ],
)
def test_insert_ids_the_clients_send_are_accepted(insert_id):
    assert accepted_one(js_event(**{"$insert_id": insert_id})).insert_id == insert_id


@pytest.mark.parametrize(
    "insert_id",
    ["", "a" * 65, "has space", "lifecycle:key", 12345, ["a"]],
)
def test_other_insert_ids_are_refused(insert_id):
    rejection = rejected_one(js_event(**{"$insert_id": insert_id}))
    assert (rejection.field, rejection.reason) == ("properties.$insert_id", "invalid_insert_id")


@pytest.mark.parametrize("junk", ["undefined", "null", "0", "[object Object]"])
def test_junk_ids_are_stored_not_refused(junk):
    """identity.md: the engine refuses their links (errJunkId); the event is kept."""
    event = accepted_one(js_event(distinct_id=junk, **{"$device_id": None}), Mode.ORIGINAL)
    assert event.properties["distinct_id"] == junk


@pytest.mark.parametrize("mode", list(Mode))
def test_an_event_naming_no_id_is_refused(mode):
    record = js_event(distinct_id=None, **{"$device_id": None})
    rejection = rejected_one(record, mode)
    assert (rejection.field, rejection.reason) == ("properties.distinct_id", "missing_field")


def test_device_id_alone_is_enough_in_simplified():
    record = js_event(distinct_id=None)
    assert accepted_one(record).properties["$device_id"] == "0f8fad5b-d9cb-469f-a165-70867728950e"


def test_device_id_alone_is_not_enough_in_original():
    record = js_event(distinct_id=None)
    assert rejected_one(record, Mode.ORIGINAL).field == "properties.distinct_id"


def test_the_sdk_identify_event_passes_without_a_distinct_id():
    """The server reads ``$identified_id`` (mixpanel.md §1.2.2); the engine judges the ids."""
    record = {"event": "$identify", "properties": {"$identified_id": "u1", "$anon_id": "d1"}}
    assert accepted_one(record, Mode.ORIGINAL).name == "$identify"


@pytest.mark.parametrize(
    ("record", "field", "reason"),
    [
        (js_event(time="now"), "properties.time", "invalid_time"),
        (js_event(deep={"a": {"b": {"c": {}}}}), "properties.deep.a.b.c", "too_deep"),
        (js_event(bad="\udcff"), "properties.bad", "invalid_utf8"),
        (js_event(**{f"p{i}": i for i in range(255)}), "properties", "too_many_properties"),
        ({"event": "x"}, "properties", "missing_field"),
        (None, "record", "not_an_object"),
    ],
    ids=["time", "deep", "utf8", "count", "no-properties", "null"],
)
def test_the_property_limits_refuse_an_event_here_too(record, field, reason):
    rejection = rejected_one(record)
    assert (rejection.field, rejection.reason) == (field, reason)


def test_long_strings_are_truncated_here_too():
    assert accepted_one(js_event(url="u" * 400)).properties["url"] == "u" * 255


# -- record_token -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "token"),
    [
        (js_event(), "TOKEN"),
        (js_event(token=None), None),
        (js_event(token=123), None),
        ({"event": "x", "properties": "TOKEN"}, None),
        ("TOKEN", None),
    ],
)
def test_record_token_reads_the_token_of_a_track_record(record, token):
    assert record_token(record) == token
