"""``/engage`` and ``/groups`` records as profile updates.

Spec: ingestion-api.md (/engage and /groups); mixpanel.md §2.4-2.5, §4.2 (what
mixpanel-python sends) and mixpanel-js ``mixpanel-people.js`` (its extra keys).
"""

from __future__ import annotations

from typing import Any

import pytest

from idmerge.errors import PayloadTooLarge
from idmerge.profiles.model import ProfileKind, ProfileOp, ProfileUpdate
from idmerge.wire.mixpanel import Limits, Rejection, profile_updates

from .samples import NOW_MS, NOW_S

USER, GROUP = ProfileKind.USER, ProfileKind.GROUP


def user(**fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"$token": "TOKEN", "$distinct_id": "u1"}
    record.update(fields)
    return {k: v for k, v in record.items() if v is not None}


def group(**fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {"$token": "TOKEN", "$group_key": "company", "$group_id": "acme"}
    record.update(fields)
    return {k: v for k, v in record.items() if v is not None}


def updates_of(record: Any, kind: ProfileKind = USER) -> list[ProfileUpdate]:
    updates, rejected = profile_updates([record], kind=kind, now_ms=NOW_MS)
    assert rejected == []
    assert all(index == 0 and token == "TOKEN" for index, token, _ in updates)
    return [update for _, _, update in updates]


def rejected_one(record: Any, kind: ProfileKind = USER) -> Rejection:
    updates, rejected = profile_updates([record], kind=kind, now_ms=NOW_MS)
    assert updates == []
    [rejection] = rejected
    return rejection


def test_a_set_becomes_one_update():
    [update] = updates_of(user(**{"$set": {"plan": "pro"}, "$time": NOW_S - 10}))
    assert update == ProfileUpdate(USER, "u1", ProfileOp.SET, {"plan": "pro"}, NOW_MS - 10_000)


def test_the_time_defaults_to_arrival_and_takes_milliseconds():
    assert updates_of(user(**{"$set": {}}))[0].time == NOW_MS
    assert updates_of(user(**{"$set": {}, "$time": NOW_MS - 5}))[0].time == NOW_MS - 5


def test_ignore_time_is_read_as_a_flag():
    assert updates_of(user(**{"$set": {}, "$ignore_time": True}))[0].ignore_time
    assert not updates_of(user(**{"$set": {}, "$ignore_time": False}))[0].ignore_time


def test_several_operations_come_out_in_a_fixed_order():
    record = user(**{"$unset": ["a"], "$add": {"n": 1}, "$set_once": {"b": 1}, "$set": {"c": 1}})
    assert [u.op for u in updates_of(record)] == [
        ProfileOp.SET,
        ProfileOp.SET_ONCE,
        ProfileOp.ADD,
        ProfileOp.UNSET,
    ]


@pytest.mark.parametrize(
    ("op", "value"),
    [
        ("$set", {"a": 1}),
        ("$set_once", {"a": 1}),
        ("$add", {"n": 1, "m": -2.5}),
        ("$union", {"tags": ["a", "b"]}),
        ("$append", {"$transactions": {"$amount": 9.5}}),
        ("$remove", {"tags": "a"}),
        ("$unset", ["a", "b"]),
        ("$delete", ""),
        ("$delete", None),
    ],
)
def test_every_operation_is_accepted_with_its_value(op, value):
    [update] = updates_of({"$token": "TOKEN", "$distinct_id": "u1", op: value})
    assert (update.op, update.value) == (op, value)


def test_mixpanel_js_extras_are_accepted():
    record = user(
        **{
            "$set": {"a": 1},
            "$device_id": "d1",
            "$user_id": "u1",
            "$had_persisted_distinct_id": True,
            "$ip": "0",
            "$ignore_alias": False,
            "$mp_metadata": {"$mp_session_id": "x"},
        }
    )
    assert len(updates_of(record)) == 1


def test_an_integer_distinct_id_is_written_out():
    assert updates_of(user(**{"$distinct_id": 42, "$set": {}}))[0].distinct_id == "42"


def test_a_group_update_names_its_key_and_id():
    [update] = updates_of(group(**{"$set": {"plan": "team"}, "$group_id": 7}), GROUP)
    assert (update.kind, update.group_key, update.distinct_id) == (GROUP, "company", "7")


BAD_USER_RECORDS = [
    ("not-object", ["$set"], "record", "not_an_object"),
    ("no-token", user(**{"$token": None, "$set": {}}), "$token", "missing_field"),
    ("token-number", user(**{"$token": 5, "$set": {}}), "$token", "invalid_type"),
    ("no-distinct-id", user(**{"$distinct_id": None, "$set": {}}), "$distinct_id", "missing_field"),
    (
        "empty-distinct-id",
        user(**{"$distinct_id": "", "$set": {}}),
        "$distinct_id",
        "missing_field",
    ),
    (
        "float-distinct-id",
        user(**{"$distinct_id": 1.5, "$set": {}}),
        "$distinct_id",
        "invalid_type",
    ),
    (
        "bool-distinct-id",
        user(**{"$distinct_id": True, "$set": {}}),
        "$distinct_id",
        "invalid_type",
    ),
    ("no-operation", user(), "record", "no_operation"),
    ("misspelt-op", user(**{"$sett": {"a": 1}}), "$sett", "unknown_field"),
    ("no-dollar", user(**{"set": {"a": 1}, "$set": {}}), "set", "unknown_field"),
    ("set-list", user(**{"$set": ["a"]}), "$set", "invalid_type"),
    ("add-string", user(**{"$add": {"n": "1"}}), "$add.n", "invalid_type"),
    ("add-bool", user(**{"$add": {"n": True}}), "$add.n", "invalid_type"),
    ("union-scalar", user(**{"$union": {"tags": "a"}}), "$union.tags", "invalid_type"),
    ("unset-object", user(**{"$unset": {"a": 1}}), "$unset", "invalid_type"),
    ("unset-numbers", user(**{"$unset": [1]}), "$unset", "invalid_type"),
    ("time-string", user(**{"$set": {}, "$time": "now"}), "$time", "invalid_time"),
    ("bad-utf8", user(**{"$set": {"a": ["\udcff"]}}), "$set.a[0]", "invalid_utf8"),
    ("bad-utf8-name", user(**{"$set": {"\ud800": 1}}), "$set.\\ud800", "invalid_utf8"),
]


@pytest.mark.parametrize(
    ("record", "field", "reason"),
    [case[1:] for case in BAD_USER_RECORDS],
    ids=[case[0] for case in BAD_USER_RECORDS],
)
def test_a_bad_user_update_is_refused_naming_field_and_reason(record, field, reason):
    rejection = rejected_one(record)
    assert (rejection.field, rejection.reason) == (field, reason)


@pytest.mark.parametrize(
    ("record", "field", "reason"),
    [
        (group(**{"$add": {"n": 1}}), "$add", "invalid_operation"),
        (group(**{"$append": {"a": 1}}), "$append", "invalid_operation"),
        (group(**{"$group_key": None, "$set": {}}), "$group_key", "missing_field"),
        (group(**{"$group_id": None, "$set": {}}), "$group_id", "missing_field"),
        (group(**{"$distinct_id": "u1", "$set": {}}), "$distinct_id", "unknown_field"),
    ],
    ids=["add", "append", "no-key", "no-id", "distinct-id"],
)
def test_a_bad_group_update_is_refused(record, field, reason):
    rejection = rejected_one(record, GROUP)
    assert (rejection.field, rejection.reason) == (field, reason)


def test_a_record_with_one_bad_operation_yields_no_update_at_all():
    rejection = rejected_one(user(**{"$set": {"a": 1}, "$add": {"n": "x"}}))
    assert rejection.message == '$add.n "x" is not a number'


def test_the_rejection_names_the_profile_and_unknown_keys():
    rejection = rejected_one(user(**{"$sett": {}, "$foo": 1}))
    assert rejection.distinct_id == "u1"
    assert rejection.message.startswith('unknown key "$sett", "$foo": the operations are $set,')


def test_valid_and_invalid_records_are_reported_by_index():
    records = [user(**{"$set": {}}), user(), user(**{"$unset": ["a"], "$set": {}})]
    updates, rejected = profile_updates(records, kind=USER, now_ms=NOW_MS)
    assert [index for index, _, _ in updates] == [0, 2, 2]
    assert [r.index for r in rejected] == [1]


def test_more_records_than_the_limit_refuse_the_request():
    with pytest.raises(PayloadTooLarge):
        profile_updates([user()] * 3, kind=USER, now_ms=NOW_MS, limits=Limits(max_events=2))
