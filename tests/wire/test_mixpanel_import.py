"""``/import`` records: what is required, what is refused and why, what is stored.

Spec: ingestion-api.md (/import; Limits on properties); identity.md (junk ids);
mixpanel.md §2.2.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from idmerge.errors import PayloadTooLarge
from idmerge.identity.model import Event, Mode
from idmerge.identity.policy import Policy
from idmerge.wire.mixpanel import Limits, Rejection, import_events
from idmerge.wire.values import MIN_TIME_MS

from .samples import NOW_MS, NOW_S, mp_event

HOUR_MS = 3_600_000


def run(records: list[Any], mode: Mode = Mode.ORIGINAL, **limits: Any):
    return import_events(
        records, policy=Policy.for_mode(mode), mode=mode, now_ms=NOW_MS, limits=Limits(**limits)
    )


def accepted_one(record: Any, mode: Mode = Mode.ORIGINAL) -> Event:
    batch = run([record], mode)
    assert batch.rejected == []
    [(index, event)] = batch.accepted
    assert index == 0
    return event


def rejected_one(record: Any, mode: Mode = Mode.ORIGINAL) -> Rejection:
    batch = run([record], mode)
    assert batch.accepted == []
    [rejection] = batch.rejected
    return rejection


# -- what an accepted record becomes ---------------------------------------------------


def test_an_accepted_record_becomes_a_trusted_event():
    event = accepted_one(mp_event(plan="pro"))
    assert event == Event(
        "Purchase",
        {
            "time": NOW_S - 60,
            "distinct_id": "user-1",
            "$insert_id": "a1b2c3d4-0000-4000-8000-000000000001",
            "plan": "pro",
        },
        time=(NOW_S - 60) * 1000,
        insert_id="a1b2c3d4-0000-4000-8000-000000000001",
        trusted=True,
    )


def test_the_token_is_not_stored():
    assert "token" not in accepted_one(mp_event()).properties


def test_the_records_sent_are_not_modified():
    records = [mp_event(long="x" * 300, nested={"s": "y" * 300})]
    sent = copy.deepcopy(records)
    run(records)
    assert records == sent


def test_good_and_bad_records_are_split_keeping_request_order():
    records = [mp_event(), mp_event(time=None), mp_event(), "junk", mp_event()]
    batch = run(records)
    assert [index for index, _ in batch.accepted] == [0, 2, 4]
    assert [r.index for r in batch.rejected] == [1, 3]


def test_more_records_than_the_limit_refuse_the_request():
    with pytest.raises(PayloadTooLarge, match="at most 3"):
        run([mp_event()] * 4, max_events=3)
    assert len(run([mp_event()] * 3, max_events=3).accepted) == 3


# -- time ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "ms"),
    [
        (NOW_S, NOW_MS),
        (NOW_MS, NOW_MS),
        (1575884617.393, 1575884617393),  # mixpanel-js: float seconds; rounded, not truncated
        (1575884617393.0, 1575884617393),
        (99_999_999_999, 99_999_999_999_000 // 1000 * 1000),  # below 1e11: seconds...
        (100_000_000_000, 100_000_000_000),  # ...from 1e11 on: milliseconds (March 1973)
    ],
)
def test_time_is_seconds_or_milliseconds(sent, ms):
    if ms > NOW_MS + HOUR_MS:  # 99,999,999,999 s is in the year 5138
        assert rejected_one(mp_event(time=sent)).reason == "time_out_of_range"
    else:
        assert accepted_one(mp_event(time=sent)).time == ms


def test_time_may_be_as_early_as_1971_01_01():
    """In seconds: milliseconds that early are below 1e11 and so read as seconds."""
    assert accepted_one(mp_event(time=MIN_TIME_MS // 1000)).time == MIN_TIME_MS
    rejection = rejected_one(mp_event(time=(MIN_TIME_MS - 1) / 1000))
    assert rejection.reason == "time_out_of_range"


def test_time_may_be_up_to_one_hour_ahead():
    assert accepted_one(mp_event(time=NOW_MS + HOUR_MS)).time == NOW_MS + HOUR_MS
    rejection = rejected_one(mp_event(time=NOW_MS + HOUR_MS + 1))
    assert rejection.message == (
        f"properties.time {NOW_MS + HOUR_MS + 1} is more than one hour in the future"
    )


def test_a_far_future_time_is_named_in_the_message():
    rejection = rejected_one(mp_event(time=99999999999999999))
    assert rejection.field == "properties.time"
    assert (
        rejection.message == "properties.time 99999999999999999 is more than one hour in the future"
    )


def test_an_early_time_is_named_in_the_message():
    assert rejected_one(mp_event(time=5)).message == "properties.time 5 is before 1971-01-01"


# -- the table of refusals --------------------------------------------------------------

BAD_RECORDS = [
    ("not-an-object", "an event", "record", "not_an_object"),
    ("array", [mp_event()], "record", "not_an_object"),
    ("no-event", {"properties": mp_event()["properties"]}, "event", "missing_field"),
    ("empty-event", mp_event(""), "event", "missing_field"),
    ("event-not-string", mp_event(42), "event", "invalid_type"),
    ("event-bad-utf8", mp_event("Sign\udcffIn"), "event", "invalid_utf8"),
    ("no-properties", {"event": "x"}, "properties", "missing_field"),
    ("properties-not-object", {"event": "x", "properties": [1]}, "properties", "invalid_type"),
    ("no-time", mp_event(time=None), "properties.time", "missing_field"),
    ("time-string", mp_event(time="1700000000"), "properties.time", "invalid_time"),
    ("time-bool", mp_event(time=True), "properties.time", "invalid_time"),
    ("time-nan", mp_event(time=float("nan")), "properties.time", "invalid_time"),
    ("time-infinite", mp_event(time=float("inf")), "properties.time", "invalid_time"),
    ("time-negative", mp_event(time=-1), "properties.time", "time_out_of_range"),
    ("time-future", mp_event(time=NOW_S + 7200), "properties.time", "time_out_of_range"),
    ("no-distinct-id", mp_event(distinct_id=None), "properties.distinct_id", "missing_field"),
    ("empty-distinct-id", mp_event(distinct_id=""), "properties.distinct_id", "missing_field"),
    ("distinct-id-float", mp_event(distinct_id=1.5), "properties.distinct_id", "invalid_type"),
    ("distinct-id-list", mp_event(distinct_id=["a"]), "properties.distinct_id", "invalid_type"),
    ("junk-undefined", mp_event(distinct_id="undefined"), "properties.distinct_id", "junk_id"),
    ("junk-quoted-null", mp_event(distinct_id='"null"'), "properties.distinct_id", "junk_id"),
    ("junk-blank", mp_event(distinct_id="   "), "properties.distinct_id", "junk_id"),
    (
        "junk-zero-uuid",
        mp_event(distinct_id="00000000-0000-0000-0000-000000000000"),
        "properties.distinct_id",
        "junk_id",
    ),
    ("no-insert-id", mp_event(**{"$insert_id": None}), "properties.$insert_id", "missing_field"),
    (
        "insert-id-37",
        mp_event(**{"$insert_id": "a" * 37}),
        "properties.$insert_id",
        "invalid_insert_id",
    ),
    (
        "insert-id-underscore",
        mp_event(**{"$insert_id": "a_b"}),
        "properties.$insert_id",
        "invalid_insert_id",
    ),
    (
        "insert-id-empty",
        mp_event(**{"$insert_id": ""}),
        "properties.$insert_id",
        "invalid_insert_id",
    ),
    (
        "insert-id-number",
        mp_event(**{"$insert_id": 12345}),
        "properties.$insert_id",
        "invalid_insert_id",
    ),
    (
        "insert-id-junk",
        mp_event(**{"$insert_id": "-1"}),
        "properties.$insert_id",
        "invalid_insert_id",
    ),
    ("too-deep", mp_event(a={"b": {"c": [[1]]}}), "properties.a.b.c[0]", "too_deep"),
    ("bad-utf8-value", mp_event(utm_source="x\udcff"), "properties.utm_source", "invalid_utf8"),
    ("lone-surrogate", mp_event(a={"b": ["ok", "\ud800"]}), "properties.a.b[1]", "invalid_utf8"),
    ("bad-utf8-name", mp_event(**{"na\udcffme": 1}), "properties.na\\udcffme", "invalid_utf8"),
]


@pytest.mark.parametrize(
    ("record", "field", "reason"),
    [case[1:] for case in BAD_RECORDS],
    ids=[case[0] for case in BAD_RECORDS],
)
def test_a_bad_record_is_refused_naming_field_and_reason(record, field, reason):
    rejection = rejected_one(record)
    assert (rejection.field, rejection.reason) == (field, reason)
    assert rejection.message.startswith(field if field != "record" else "the record")


def test_a_rejection_carries_the_record_ids_it_could_read():
    rejection = rejected_one(mp_event(time=None, **{"$insert_id": "abc-1"}))
    assert (rejection.index, rejection.insert_id, rejection.distinct_id, rejection.event) == (
        0,
        "abc-1",
        "user-1",
        "Purchase",
    )


def test_a_rejection_echoes_no_text_that_cannot_be_encoded():
    """The server sends rejections back as JSON: bad text comes back escaped."""
    rejection = rejected_one(mp_event("Sign\udcffIn"))
    assert rejection.event == "Sign\\udcffIn"
    assert rejection.message.encode("utf-8")


def test_a_junk_id_message_shows_the_value():
    message = rejected_one(mp_event(distinct_id="undefined")).message
    assert message == 'properties.distinct_id "undefined" is a placeholder, not an id'


def test_a_long_bad_value_is_shortened_in_the_message():
    message = rejected_one(mp_event(time="9" * 500)).message
    assert len(message) < 120 and '"' + "9" * 40 + '"...' in message


# -- ids per mode ------------------------------------------------------------------


@pytest.mark.parametrize("mode", [Mode.SIMPLIFIED, Mode.CDP])
@pytest.mark.parametrize(
    "ids", [{"$user_id": "u1"}, {"$device_id": "d1"}, {"$user_id": "u1", "$device_id": "d1"}]
)
def test_device_modes_take_user_or_device_id_instead_of_distinct_id(mode, ids):
    event = accepted_one(mp_event(distinct_id=None, **ids), mode)
    assert "distinct_id" not in event.properties


@pytest.mark.parametrize("mode", [Mode.ORIGINAL, Mode.LEGACY])
def test_mixpanel_modes_need_distinct_id_even_with_user_and_device_ids(mode):
    record = mp_event(distinct_id=None, **{"$user_id": "u1", "$device_id": "d1"})
    assert rejected_one(record, mode).field == "properties.distinct_id"


def test_the_python_sdk_form_with_an_empty_distinct_id_passes_in_simplified():
    """mixpanel.md §1.4: ``mp.track("", name, {"$device_id": ..., "$user_id": ...})``."""
    record = mp_event(distinct_id="", **{"$device_id": "d1", "$user_id": "u1"})
    assert accepted_one(record, Mode.SIMPLIFIED).properties["distinct_id"] == ""


@pytest.mark.parametrize(
    ("ids", "field"),
    [
        ({"$user_id": "undefined", "$device_id": "d1"}, "properties.$user_id"),
        ({"$device_id": "null"}, "properties.$device_id"),
        ({"distinct_id": "anonymous"}, "properties.distinct_id"),
        ({"distinct_id": "$device:null"}, "properties.distinct_id"),
    ],
)
def test_simplified_refuses_junk_in_the_id_the_event_is_stored_under(ids, field):
    record = mp_event(**{"distinct_id": None, **ids})
    rejection = rejected_one(record, Mode.SIMPLIFIED)
    assert (rejection.field, rejection.reason) == (field, "junk_id")


def test_simplified_ignores_a_junk_distinct_id_overridden_by_user_id():
    record = mp_event(distinct_id="undefined", **{"$user_id": "u1"})
    assert accepted_one(record, Mode.SIMPLIFIED).properties["$user_id"] == "u1"


@pytest.mark.parametrize("mode", list(Mode))
def test_integer_ids_are_stored_as_strings(mode):
    record = mp_event(
        distinct_id=42, **{"$user_id": 7} if mode in (Mode.SIMPLIFIED, Mode.CDP) else {}
    )
    props = accepted_one(record, mode).properties
    assert props["distinct_id"] == "42"
    assert props.get("$user_id", "7") == "7"


def test_user_id_of_the_wrong_type_is_refused_in_simplified():
    rejection = rejected_one(mp_event(**{"$user_id": {"id": 1}}), Mode.SIMPLIFIED)
    assert (rejection.field, rejection.reason) == ("properties.$user_id", "invalid_type")


# -- identity events ---------------------------------------------------------------------


def test_merge_as_mixpanel_python_sends_it_is_accepted():
    """mixpanel-python's merge(): no time, no $insert_id, no distinct_id (mixpanel.md §4.2)."""
    record = {"event": "$merge", "properties": {"$distinct_ids": ["a", "b"], "token": "T"}}
    event = accepted_one(record)
    assert (event.time, event.insert_id, dict(event.properties)) == (
        NOW_MS,
        None,
        {"$distinct_ids": ["a", "b"]},
    )


@pytest.mark.parametrize(
    "properties",
    [
        {"$identified_id": "u1", "$anon_id": "d1"},
        {"distinct_id": "u1", "alias": "u2"},
    ],
)
@pytest.mark.parametrize("name", ["$identify", "$create_alias"])
def test_identity_events_need_no_time_or_insert_id(name, properties):
    assert accepted_one({"event": name, "properties": properties}).trusted


def test_identity_events_are_still_checked_when_they_carry_fields():
    record = {"event": "$create_alias", "properties": {"distinct_id": "undefined", "alias": "u"}}
    assert rejected_one(record).reason == "junk_id"
    record = {"event": "$identify", "properties": {"time": "yesterday"}}
    assert rejected_one(record).reason == "invalid_time"


# -- property limits ------------------------------------------------------------------


def test_255_properties_are_allowed_not_counting_the_token():
    extra = {f"p{i}": i for i in range(255 - 3)}  # + time, distinct_id, $insert_id
    assert len(accepted_one(mp_event(**extra)).properties) == 255


def test_256_properties_are_refused():
    extra = {f"p{i}": i for i in range(256 - 3)}
    rejection = rejected_one(mp_event(**extra))
    assert (rejection.field, rejection.reason) == ("properties", "too_many_properties")
    assert "256" in rejection.message


def test_nesting_three_deep_is_allowed():
    """Depth counts containers from the property value down: a (1) > b (2) > c (3)."""
    value = {"b": {"c": [1, "x", None]}, "d": {"e": {"f": 1}}}
    assert accepted_one(mp_event(a=value)).properties["a"] == value


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"b": {"c": {"d": {}}}}, "properties.a.b.c.d"),
        ([[[[]]]], "properties.a[0][0][0]"),
        ([1, {"b": [{"c": 1}]}], "properties.a[1].b[0]"),
    ],
)
def test_nesting_four_deep_is_refused_naming_the_first_container_too_deep(value, field):
    rejection = rejected_one(mp_event(a=value))
    assert (rejection.field, rejection.reason) == (field, "too_deep")
    assert rejection.message == f"{field} nests objects or arrays more than 3 deep"


def test_long_strings_are_truncated_at_any_depth():
    props = accepted_one(
        mp_event(s="x" * 256, ok="y" * 255, nested={"list": ["z" * 1000, "short"]})
    ).properties
    assert props["s"] == "x" * 255
    assert props["ok"] == "y" * 255
    assert props["nested"] == {"list": ["z" * 255, "short"]}


def test_a_long_event_name_is_truncated_like_a_value():
    assert accepted_one(mp_event("e" * 300)).name == "e" * 255


def test_property_names_are_kept_whole():
    name = "n" * 300
    assert name in accepted_one(mp_event(**{name: 1})).properties


def test_limits_are_configurable():
    limits = {"max_properties": 4, "max_string": 3, "max_depth": 1}
    assert run([mp_event(a="abcd")], **limits).accepted[0][1].properties["a"] == "abc"
    assert run([mp_event(a={"b": {}})], **limits).rejected[0].reason == "too_deep"
    assert run([mp_event(a=1, b=2)], **limits).rejected[0].reason == "too_many_properties"
