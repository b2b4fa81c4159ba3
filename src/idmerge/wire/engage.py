"""Mixpanel profile updates from ``/engage`` (users) and ``/groups``.

A record names its project (``$token``), its profile (``$distinct_id``; a group by
``$group_key`` and ``$group_id``) and one or more operations; each operation becomes
one :class:`~idmerge.profiles.model.ProfileUpdate`, in the order :class:`ProfileOp`
lists them (``$set``, ``$set_once``, ``$add``, ``$union``, ``$append``, ``$remove``,
``$unset``, ``$delete``). A record with any problem yields no update at all.

Operation values: an object for ``$set``, ``$set_once``, ``$append`` and ``$remove``;
an object of numbers for ``$add``; an object of arrays for ``$union``; an array of
property names for ``$unset``; anything for ``$delete``. Groups take neither
``$add`` nor ``$append``. ``$time`` (seconds, or milliseconds when >= 1e11) orders
updates and defaults to arrival; a truthy ``$ignore_time`` leaves ``$last_seen``.

Decisions:

- **Ids**: a profile id (``$distinct_id``, ``$group_id``) may be a non-empty string or
  an integer, written as its decimal string (Mixpanel takes any property value as a
  group id, and server code often passes numeric user ids).
- **Unknown keys are refused**, naming them, so a misspelt operation (``$sett``, or
  ``set`` without the dollar) is reported instead of silently doing nothing. Known
  are the operations and the modifiers the official SDKs send: ``$ip``,
  ``$ignore_alias``, ``$device_id``, ``$user_id``, ``$had_persisted_distinct_id``
  (mixpanel-js), ``$mp_metadata`` (mixpanel-android), ``$latitude``, ``$longitude``.
- Values are stored as sent (no truncation: profile limits differ from events'),
  but every string in them must be valid UTF-8.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from idmerge.errors import PayloadTooLarge
from idmerge.profiles.model import GROUP_OPS, ProfileKind, ProfileOp, ProfileUpdate
from idmerge.wire.results import Rejection, RejectReason, rejection
from idmerge.wire.values import (
    DEFAULT_LIMITS,
    Flaw,
    Limits,
    coerce_id,
    epoch_ms,
    kind_of,
    printable,
    shown,
    utf8_flaw,
)

_OPS = tuple(ProfileOp)  # also the order a record's updates come out in
_OP_NAMES = frozenset(op.value for op in _OPS)
_OP_LIST = ", ".join(op.value for op in _OPS)
_ID_KEY = {ProfileKind.USER: "$distinct_id", ProfileKind.GROUP: "$group_id"}
_MODIFIERS = frozenset(
    {
        "$token",
        "$time",
        "$ignore_time",
        "$ip",
        "$mp_metadata",
        "$latitude",
        "$longitude",
    }
)
_KNOWN = {
    ProfileKind.USER: _MODIFIERS
    | _OP_NAMES
    | {"$distinct_id", "$ignore_alias", "$device_id", "$user_id", "$had_persisted_distinct_id"},
    ProfileKind.GROUP: _MODIFIERS | _OP_NAMES | {"$group_key", "$group_id"},
}
_OBJECT_OPS = frozenset({ProfileOp.SET, ProfileOp.SET_ONCE, ProfileOp.APPEND, ProfileOp.REMOVE})

Update = tuple[int, str, ProfileUpdate]


def profile_updates(
    records: Sequence[Any],
    *,
    kind: ProfileKind,
    now_ms: int,
    limits: Limits = DEFAULT_LIMITS,
) -> tuple[list[Update], list[Rejection]]:
    """``(index, token, update)`` for every operation of every valid record, in
    request order, and a rejection for each invalid record."""
    if len(records) > limits.max_events:
        raise PayloadTooLarge(
            f"{len(records)} profile updates in one request; at most {limits.max_events} allowed"
        )
    updates: list[Update] = []
    rejected: list[Rejection] = []
    for index, record in enumerate(records):
        result = _read(record, kind, now_ms)
        if isinstance(result, Flaw):
            profile_id = record.get(_ID_KEY[kind]) if type(record) is dict else None
            rejected.append(
                rejection(index, result, insert_id=None, distinct_id=profile_id, event=None)
            )
        else:
            updates.extend((index, token, update) for token, update in result)
    return updates, rejected


def _read(record: Any, kind: ProfileKind, now_ms: int) -> list[tuple[str, ProfileUpdate]] | Flaw:
    if type(record) is not dict:
        message = f"the record is {kind_of(record)}, not an object"
        return Flaw("record", RejectReason.NOT_AN_OBJECT, message)
    token = _required_text(record, "$token", allow_int=False)
    if isinstance(token, Flaw):
        return token
    group_key = ""
    if kind is ProfileKind.GROUP:
        found = _required_text(record, "$group_key", allow_int=False)
        if isinstance(found, Flaw):
            return found
        group_key = found
    profile_id = _required_text(record, _ID_KEY[kind], allow_int=True)
    if isinstance(profile_id, Flaw):
        return profile_id
    unknown = [key for key in record if key not in _KNOWN[kind]]
    if unknown:
        names = ", ".join(shown(key) for key in unknown)
        message = f"unknown key {names}: the operations are {_OP_LIST}"
        return Flaw(printable(unknown[0]), RejectReason.UNKNOWN_FIELD, message)
    ops = [op for op in _OPS if op.value in record]
    if not ops:
        message = f"the update names no operation: expected one of {_OP_LIST}"
        return Flaw("record", RejectReason.NO_OPERATION, message)
    time = _time(record.get("$time"), now_ms)
    if isinstance(time, Flaw):
        return time
    ignore_time = bool(record.get("$ignore_time"))
    updates = []
    for op in ops:
        value = record[op.value]
        flaw = _op_flaw(kind, op, value) or utf8_flaw(value, op.value)
        if flaw is not None:
            return flaw
        update = ProfileUpdate(kind, profile_id, op, value, time, ignore_time, group_key)
        updates.append((token, update))
    return updates


def _required_text(record: dict[str, Any], key: str, *, allow_int: bool) -> str | Flaw:
    value = record.get(key)
    text = coerce_id(value) if allow_int else (value if type(value) is str else None)
    if text:
        return text
    if value is None or value == "":
        return Flaw(key, RejectReason.MISSING_FIELD, f"{key} is missing or empty")
    expected = "a string or an integer" if allow_int else "a string"
    return Flaw(key, RejectReason.INVALID_TYPE, f"{key} {shown(value)} is not {expected}")


def _time(value: Any, now_ms: int) -> int | Flaw:
    if value is None:
        return now_ms
    ms = epoch_ms(value)
    if ms is None:
        message = f"$time {shown(value)} is not a number of seconds or milliseconds"
        return Flaw("$time", RejectReason.INVALID_TIME, message)
    return ms


def _op_flaw(kind: ProfileKind, op: ProfileOp, value: Any) -> Flaw | None:
    if kind is ProfileKind.GROUP and op not in GROUP_OPS:
        message = f"{op.value} is not available for group profiles"
        return Flaw(op.value, RejectReason.INVALID_OPERATION, message)
    if op is ProfileOp.DELETE:
        return None
    if op is ProfileOp.UNSET:
        if type(value) is list and all(type(name) is str for name in value):
            return None
        message = f"{op.value} {shown(value)} is not an array of property names"
        return Flaw(op.value, RejectReason.INVALID_TYPE, message)
    if type(value) is not dict:
        message = f"{op.value} is {kind_of(value)}, not an object"
        return Flaw(op.value, RejectReason.INVALID_TYPE, message)
    if op in _OBJECT_OPS:
        return None
    # $add takes numbers and $union arrays, per property
    want_number = op is ProfileOp.ADD
    for name, item in value.items():
        number = type(item) is int or type(item) is float
        if (want_number and not number) or (not want_number and type(item) is not list):
            expected = "a number" if want_number else "an array"
            field = f"{op.value}.{printable(name)}"
            return Flaw(
                field, RejectReason.INVALID_TYPE, f"{field} {shown(item)} is not {expected}"
            )
    return None
