"""Segment / Customer.io messages as engine events and profile updates.

Spec: ingestion-api.md (Segment / Customer.io-compatible endpoints); identity.md
(modes); peers.md §1.1-1.3 (the Segment spec, HTTP API limits, clock skew).
"""

from __future__ import annotations

from typing import Any

import pytest

from idmerge.errors import BadRequest
from idmerge.identity.model import Event, Mode
from idmerge.profiles.model import ProfileKind, ProfileOp, ProfileUpdate
from idmerge.wire.segment import SegmentBatch, segment_batch

RECEIVED = 1_700_000_000_000  # 2023-11-14T22:13:20Z
DEVICE_MODES = [Mode.SIMPLIFIED, Mode.CDP]
MIXPANEL_MODES = [Mode.ORIGINAL, Mode.LEGACY]


def one(call: str, mode: Mode = Mode.CDP, **message: Any) -> SegmentBatch:
    return segment_batch(message, call=call, mode=mode, received_at=RECEIVED)


def batch(*messages: Any, mode: Mode = Mode.CDP, **body: Any) -> SegmentBatch:
    return segment_batch(
        {"batch": list(messages), **body}, call=None, mode=mode, received_at=RECEIVED
    )


def only_event(result: SegmentBatch) -> Event:
    [(index, event)] = result.events
    assert index == 0
    return event


# -- track, page, screen ----------------------------------------------------------------


@pytest.mark.parametrize("mode", DEVICE_MODES)
def test_track_carries_user_and_device_ids_in_device_modes(mode):
    event = only_event(
        one(
            "track",
            mode,
            event="Order Completed",
            userId="u1",
            anonymousId="a1",
            properties={"revenue": 9.5},
            messageId="m-1",
        )
    )
    assert event == Event(
        "Order Completed",
        {"revenue": 9.5, "$user_id": "u1", "$device_id": "a1"},
        time=RECEIVED,
        insert_id="m-1",
        trusted=False,
    )


@pytest.mark.parametrize("mode", MIXPANEL_MODES)
@pytest.mark.parametrize(
    ("ids", "distinct_id"),
    [({"userId": "u1", "anonymousId": "a1"}, "u1"), ({"anonymousId": "a1"}, "a1")],
)
def test_track_carries_one_distinct_id_in_mixpanel_modes(mode, ids, distinct_id):
    event = only_event(one("track", mode, event="E", **ids))
    assert event.properties == {"distinct_id": distinct_id}


def test_identity_properties_override_properties_of_the_same_name():
    event = only_event(one("track", event="E", userId="u1", properties={"$user_id": "forged"}))
    assert event.properties["$user_id"] == "u1"


@pytest.mark.parametrize(
    ("call", "name"), [("page", "Loaded a Page"), ("screen", "Loaded a Screen")]
)
def test_page_and_screen_become_loaded_events_with_name_and_category(call, name):
    event = only_event(
        one(call, anonymousId="a1", name="Pricing", category="Docs", properties={"path": "/p"})
    )
    assert (event.name, event.properties) == (
        name,
        {"path": "/p", "name": "Pricing", "category": "Docs", "$device_id": "a1"},
    )


def test_a_page_without_name_adds_none():
    assert "name" not in only_event(one("page", anonymousId="a1")).properties


def test_context_is_kept_and_integrations_dropped():
    context = {"ip": "203.0.113.9", "library": {"name": "analytics.js"}, "page": {"path": "/"}}
    event = only_event(
        one("track", event="E", userId="u1", context=context, integrations={"All": False})
    )
    assert event.properties["context"] == context
    assert "integrations" not in event.properties


def test_a_context_property_sent_wins_over_the_message_context():
    event = only_event(
        one("track", event="E", userId="u1", context={"ip": "x"}, properties={"context": "mine"})
    )
    assert event.properties["context"] == "mine"


def test_numeric_ids_are_written_as_strings():
    event = only_event(one("track", event="E", userId=42, anonymousId=7.0))
    assert (event.properties["$user_id"], event.properties["$device_id"]) == ("42", "7")


# -- identify ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", DEVICE_MODES)
def test_identify_sets_traits_and_sends_the_id_pair_in_device_modes(mode):
    result = one("identify", mode, userId="u1", anonymousId="a1", traits={"email": "x@y.z"})
    assert result.profiles == [
        (0, ProfileUpdate(ProfileKind.USER, "u1", ProfileOp.SET, {"email": "x@y.z"}, RECEIVED))
    ]
    event = only_event(result)
    assert (event.name, event.properties) == ("$identify", {"$user_id": "u1", "$device_id": "a1"})


def test_identify_in_original_is_a_mixpanel_identify():
    event = only_event(one("identify", Mode.ORIGINAL, userId="u1", anonymousId="a1"))
    assert (event.name, event.properties) == (
        "$identify",
        {"$identified_id": "u1", "$anon_id": "a1", "distinct_id": "u1"},
    )


@pytest.mark.parametrize("mode", MIXPANEL_MODES)
def test_identify_with_one_id_is_an_ordinary_event_under_it(mode):
    event = only_event(one("identify", mode, userId="u1"))
    assert (event.name, event.properties) == ("$identify", {"distinct_id": "u1"})


def test_identify_in_legacy_carries_just_the_distinct_id():
    event = only_event(one("identify", Mode.LEGACY, userId="u1", anonymousId="a1"))
    assert event.properties == {"distinct_id": "u1"}


@pytest.mark.parametrize(
    ("mode", "owner"),
    [
        (Mode.SIMPLIFIED, "$device:a1"),
        (Mode.CDP, "$device:a1"),
        (Mode.ORIGINAL, "a1"),
        (Mode.LEGACY, "a1"),
    ],
)
def test_anonymous_traits_land_on_the_anonymous_id_as_the_mode_stores_it(mode, owner):
    result = one("identify", mode, anonymousId="a1", traits={"plan": "free"})
    assert result.profiles[0][1].distinct_id == owner


@pytest.mark.parametrize("traits", [None, {}])
def test_identify_without_traits_makes_no_profile_update(traits):
    result = one("identify", userId="u1", anonymousId="a1", traits=traits)
    assert result.profiles == []
    assert len(result.events) == 1


# -- alias and group ----------------------------------------------------------------------


@pytest.mark.parametrize("mode", list(Mode))
def test_alias_is_a_create_alias_event_in_every_mode(mode):
    event = only_event(one("alias", mode, userId="u1", previousId="a1", messageId="m"))
    assert (event.name, event.properties, event.insert_id) == (
        "$create_alias",
        {"alias": "u1", "distinct_id": "a1"},
        "m",
    )


def test_group_sets_group_traits_and_makes_no_event():
    result = one("group", userId="u1", groupId="acme", traits={"plan": "team"})
    assert result.events == []
    assert result.profiles == [
        (
            0,
            ProfileUpdate(
                ProfileKind.GROUP,
                "acme",
                ProfileOp.SET,
                {"plan": "team"},
                RECEIVED,
                group_key="groupId",
            ),
        )
    ]


# -- time -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # the client clock runs 10 s fast: corrected to receivedAt - (sentAt - timestamp)
        (
            {"timestamp": "2023-11-14T22:12:30Z", "sentAt": "2023-11-14T22:13:30Z"},
            RECEIVED - 60_000,
        ),
        (
            {"originalTimestamp": "2023-11-14T22:12:30Z", "sentAt": "2023-11-14T22:13:30Z"},
            RECEIVED - 60_000,
        ),
        ({"timestamp": "2023-11-14T22:12:30.250Z"}, RECEIVED - 49_750),
        ({"timestamp": "2023-11-15T00:12:30+02:00"}, RECEIVED - 50_000),
        ({"timestamp": "2023-11-14T22:12:30"}, RECEIVED - 50_000),  # no offset: UTC
        ({"originalTimestamp": "2023-11-14T22:12:30Z"}, RECEIVED - 50_000),
        ({"sentAt": "2023-11-14T22:13:30Z"}, RECEIVED),
        ({}, RECEIVED),
    ],
    ids=["skew", "skew-original", "timestamp", "offset", "naive", "original", "sent-only", "none"],
)
def test_event_time(fields, expected):
    assert only_event(one("track", event="E", userId="u1", **fields)).time == expected


def test_a_batch_sent_at_applies_to_its_messages():
    message = {"type": "track", "event": "E", "userId": "u1", "timestamp": "2023-11-14T22:12:30Z"}
    result = batch(message, sentAt="2023-11-14T22:13:30Z")
    assert result.events[0][1].time == RECEIVED - 60_000


def test_a_message_sent_at_wins_over_the_batch_one():
    message = {
        "type": "track",
        "event": "E",
        "userId": "u1",
        "timestamp": "2023-11-14T22:12:30Z",
        "sentAt": "2023-11-14T22:12:40Z",
    }
    result = batch(message, sentAt="2023-11-14T22:13:30Z")
    assert result.events[0][1].time == RECEIVED - 10_000


# -- batches ----------------------------------------------------------------------------


def test_a_batch_keeps_message_order_and_indices():
    result = batch(
        {"type": "identify", "userId": "u1", "traits": {"a": 1}},
        {"type": "group", "userId": "u1", "groupId": "g", "traits": {"b": 2}},
        {"type": "track", "userId": "u1", "event": "E"},
        writeKey="KEY",
    )
    assert result.write_key == "KEY"
    assert [(i, e.name) for i, e in result.events] == [(0, "$identify"), (2, "E")]
    assert [(i, u.kind) for i, u in result.profiles] == [
        (0, ProfileKind.USER),
        (1, ProfileKind.GROUP),
    ]


def test_a_batch_context_is_merged_into_each_message():
    result = batch(
        {"type": "track", "userId": "u1", "event": "E", "context": {"ip": "1.2.3.4"}},
        context={"library": {"name": "analytics-python"}, "ip": "9.9.9.9"},
    )
    assert result.events[0][1].properties["context"] == {
        "library": {"name": "analytics-python"},
        "ip": "1.2.3.4",
    }


def test_an_empty_batch_is_fine():
    assert batch() == SegmentBatch(None, [], [])


def test_the_type_of_a_single_call_comes_from_the_endpoint():
    event = only_event(one("track", type="identify", event="E", userId="u1"))
    assert event.name == "E"


# -- refusals: the whole request ---------------------------------------------------------

TRACK = {"type": "track", "event": "E", "userId": "u1"}
BAD_BATCHES = [
    ("not-object", [TRACK], "the body is an array, not a JSON object"),
    ("no-batch", {}, "batch is null, not an array of messages"),
    ("batch-object", {"batch": TRACK}, "batch is an object, not an array of messages"),
    ("message-not-object", {"batch": [TRACK, "x"]}, "batch[1] is a string, not an object"),
    ("no-type", {"batch": [TRACK, {"userId": "u1"}]}, "batch[1].type is missing"),
    (
        "unknown-type",
        {"batch": [{**TRACK, "type": "tarck"}]},
        'batch[0].type "tarck" is not one of',
    ),
    (
        "no-ids",
        {"batch": [TRACK, {"type": "track", "event": "E"}]},
        "batch[1] has neither userId nor anonymousId",
    ),
    (
        "empty-ids",
        {"batch": [{"type": "page", "userId": "", "anonymousId": None}]},
        "batch[0] has neither userId nor anonymousId",
    ),
    (
        "alias-no-previous",
        {"batch": [{"type": "alias", "userId": "u1", "anonymousId": "a"}]},
        "batch[0]: an alias needs both userId and previousId",
    ),
    ("group-no-id", {"batch": [{"type": "group", "userId": "u1"}]}, "batch[0].groupId is missing"),
    ("track-no-event", {"batch": [{"type": "track", "userId": "u1"}]}, "batch[0].event is missing"),
    ("track-event-number", {"batch": [{**TRACK, "event": 3}]}, "batch[0].event 3 is not a string"),
    (
        "user-id-bool",
        {"batch": [{**TRACK, "userId": True}]},
        "batch[0].userId true is not a string or a number",
    ),
    (
        "properties-list",
        {"batch": [{**TRACK, "properties": [1]}]},
        "batch[0].properties is an array, not an object",
    ),
    (
        "traits-string",
        {"batch": [{"type": "identify", "userId": "u", "traits": "x"}]},
        "batch[0].traits is a string, not an object",
    ),
    (
        "bad-date",
        {"batch": [{**TRACK, "timestamp": "yesterday"}]},
        'batch[0].timestamp "yesterday" is not an ISO-8601 date',
    ),
    (
        "date-number",
        {"batch": [{**TRACK, "sentAt": 1700000000}]},
        "batch[0].sentAt 1700000000 is not an ISO-8601 date",
    ),
    (
        "bad-batch-date",
        {"batch": [TRACK], "sentAt": "13/11/2023"},
        'sentAt "13/11/2023" is not an ISO-8601 date',
    ),
    (
        "message-id-101",
        {"batch": [{**TRACK, "messageId": "m" * 101}]},
        "batch[0].messageId is 101 characters; at most 100 allowed",
    ),
    (
        "message-id-number",
        {"batch": [{**TRACK, "messageId": 5}]},
        "batch[0].messageId 5 is not a string",
    ),
    ("write-key-number", {"batch": [TRACK], "writeKey": 5}, "writeKey 5 is not a string"),
    (
        "bad-utf8",
        {"batch": [TRACK, {**TRACK, "properties": {"a": "\udcff"}}]},
        "body.batch[1].properties.a is not valid UTF-8",
    ),
]


@pytest.mark.parametrize(
    ("body", "message"),
    [case[1:] for case in BAD_BATCHES],
    ids=[case[0] for case in BAD_BATCHES],
)
def test_a_bad_message_refuses_the_whole_batch(body, message):
    with pytest.raises(BadRequest) as caught:
        segment_batch(body, call=None, mode=Mode.CDP, received_at=RECEIVED)
    assert caught.value.message.startswith(message)
    assert caught.value.status == 400


def test_a_single_call_names_fields_without_an_index():
    with pytest.raises(BadRequest, match=r"^the message has neither userId nor anonymousId$"):
        one("identify", traits={"a": 1})


def test_a_message_id_of_100_characters_is_accepted():
    assert (
        only_event(one("track", event="E", userId="u", messageId="m" * 100)).insert_id == "m" * 100
    )


def test_a_message_over_32_kb_is_refused():
    fits = {**TRACK, "properties": {"p": "x" * (32 * 1024 - 200)}}
    assert len(batch(fits).events) == 1
    too_big = {**TRACK, "properties": {"p": "x" * (32 * 1024)}}
    with pytest.raises(BadRequest, match=r"^batch\[1\] is \d+ bytes; Segment's limit is 32 KB"):
        batch(TRACK, too_big)
    with pytest.raises(BadRequest, match=r"^the message is \d+ bytes; Segment's limit is 32 KB"):
        one("track", **{k: v for k, v in too_big.items() if k != "type"})


def test_a_batch_over_500_kb_is_refused():
    message = {**TRACK, "properties": {"p": "x" * (30 * 1024)}}
    assert len(batch(*[message] * 16).events) == 16
    with pytest.raises(BadRequest, match=r"^the batch is \d+ bytes; Segment's limit is 500 KB"):
        batch(*[message] * 17)


def test_an_unknown_call_is_a_bad_request():
    with pytest.raises(BadRequest, match="unknown call 'trak'"):
        one("trak", event="E", userId="u1")
