"""Mixpanel events from ``/import`` and ``/track``, checked record by record.

A record that breaks a rule becomes a :class:`Rejection` (its index, the field, a
reason code and a message naming the bad value); the others become engine
:class:`~idmerge.identity.model.Event` s, in request order. Checks stop at a record's
first problem, so each refused record has one rejection. Property limits are in
:mod:`idmerge.wire.values`; profile updates in :mod:`idmerge.wire.engage`.

``/import`` (trusted): ``event`` (a non-empty string), ``properties`` (an object),
``properties.time`` (seconds, or milliseconds when >= 1e11; from 1971-01-01 to one
hour ahead), ``properties.distinct_id`` and ``properties.$insert_id`` (1 to 36
letters, digits or ``-``, not a junk value) are required. A junk id is refused.

``/track`` (untrusted): ``time`` may be absent (arrival time) and must lie within
the last 5 days and the next hour; ``$insert_id`` is optional; junk ids are stored
(the engine refuses them any link, with ``errJunkId``).

Decisions:

- **Which id.** In ``simplified`` and ``cdp``, whose engines store an event under
  ``$user_id``, else ``$device:`` + ``$device_id``, else ``distinct_id``, any one of
  the three (a non-empty string) satisfies the id requirement, and the junk check
  applies to the one the event is stored under. ``original`` and ``legacy`` need
  ``distinct_id``. An empty string counts as absent on both endpoints.
- **Integer ids** (``distinct_id``, ``$user_id``, ``$device_id``), which
  mixpanel-python passes through when its caller gives a number, are stored as
  their decimal strings. Any other non-string id is ``invalid_type``.
- **Identity events** (``$identify``, ``$create_alias``, ``$merge``) need no
  ``time``, ``$insert_id`` or ``distinct_id``, even on ``/import``: Mixpanel documents
  their payloads without them, and mixpanel-python's ``merge()`` sends none. The
  engine reads the ids they name and records ``missing_id`` when one is absent.
- **``$insert_id`` on /track**: 1 to 64 characters of letters, digits, ``-`` or
  ``_``. The official SDKs send at most 36 of ``[A-Za-z0-9-]`` (mixpanel-js 16 base-36
  characters, mixpanel-python a 32-digit hex UUID); server-side libraries seen in
  the wild send 64-digit SHA-256 hex digests. Anything else is refused rather than
  stored without a dedup key.
- **Stored properties** are the ones sent, less ``token``, with long strings
  truncated; ``time`` keeps the value sent (``Event.time`` holds the milliseconds).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from idmerge.errors import PayloadTooLarge
from idmerge.identity.model import DEVICE_ID_MODES, Event, Mode
from idmerge.identity.policy import Policy
from idmerge.identity.reading import MIXPANEL_IDENTITY_EVENTS
from idmerge.wire.engage import profile_updates
from idmerge.wire.results import EventBatch, Rejection, RejectReason, rejection
from idmerge.wire.values import (
    DEFAULT_LIMITS,
    Flaw,
    Limits,
    clean_properties,
    epoch_ms,
    kind_of,
    shown,
    utf8_ok,
)

__all__ = [
    "EventBatch",
    "Limits",
    "RejectReason",
    "Rejection",
    "import_events",
    "profile_updates",
    "record_token",
    "track_events",
]

_IMPORT_INSERT_ID = re.compile("[A-Za-z0-9-]{1,36}").fullmatch
_TRACK_INSERT_ID = re.compile("[A-Za-z0-9_-]{1,64}").fullmatch
_TIME = "properties.time"
_INSERT_ID = "properties.$insert_id"


def import_events(
    records: Sequence[Any],
    *,
    policy: Policy,
    mode: Mode,
    now_ms: int,
    limits: Limits = DEFAULT_LIMITS,
) -> EventBatch:
    """Check ``/import`` records; the accepted ones become trusted events."""
    return _events(records, _Rules(policy, mode, now_ms, limits, trusted=True))


def track_events(
    records: Sequence[Any],
    *,
    policy: Policy,
    mode: Mode,
    now_ms: int,
    limits: Limits = DEFAULT_LIMITS,
) -> EventBatch:
    """Check ``/track`` records; the accepted ones become untrusted events."""
    return _events(records, _Rules(policy, mode, now_ms, limits, trusted=False))


def record_token(record: Any) -> str | None:
    """``properties.token`` of a ``/track`` record, when it is a string."""
    if type(record) is dict:
        props = record.get("properties")
        if type(props) is dict:
            token = props.get("token")
            if type(token) is str:
                return token
    return None


def _events(records: Sequence[Any], rules: _Rules) -> EventBatch:
    if len(records) > rules.limits.max_events:
        raise PayloadTooLarge(
            f"{len(records)} events in one request; at most {rules.limits.max_events} allowed"
        )
    accepted: list[tuple[int, Event]] = []
    rejected: list[Rejection] = []
    read = rules.read
    for index, record in enumerate(records):
        result = read(record)
        if isinstance(result, Flaw):
            rejected.append(_rejected(index, record, result))
        else:
            accepted.append((index, result))
    return EventBatch(accepted, rejected)


def _rejected(index: int, record: Any, flaw: Flaw) -> Rejection:
    props: Any = record.get("properties") if type(record) is dict else None
    if type(props) is not dict:
        props = {}
    return rejection(
        index,
        flaw,
        insert_id=props.get("$insert_id"),
        distinct_id=props.get("distinct_id") or props.get("$user_id"),
        event=record.get("event") if type(record) is dict else None,
    )


class _Rules:
    """One request's checks, with everything that does not vary per record bound once."""

    def __init__(self, policy: Policy, mode: Mode, now_ms: int, limits: Limits, *, trusted: bool):
        self.limits = limits
        self.trusted = trusted
        self.now_ms = now_ms
        self.is_junk = policy.is_junk
        self.device_mode = mode in DEVICE_ID_MODES
        # the order in which the engine picks the id an event is stored under
        self.id_keys = (
            ("$user_id", "$device_id", "distinct_id") if self.device_mode else ("distinct_id",)
        )
        self.latest = now_ms + limits.future_ms
        self.future_words = f"is more than {_duration(limits.future_ms)} in the future"
        if trusted:
            self.earliest = limits.min_time_ms
            self.past_words = f"is before {_date(limits.min_time_ms)}"
            self.past_reason = RejectReason.TIME_OUT_OF_RANGE
            self.insert_id_ok = _IMPORT_INSERT_ID
            self.insert_id_form = "1 to 36 letters, digits or '-'"
        else:
            self.earliest = max(now_ms - limits.track_max_age_ms, limits.min_time_ms)
            self.past_words = (
                f"is more than {_duration(limits.track_max_age_ms)} old: "
                "/track takes recent events only; send older ones to /import"
            )
            self.past_reason = RejectReason.TOO_OLD_FOR_TRACK
            self.insert_id_ok = _TRACK_INSERT_ID
            self.insert_id_form = "1 to 64 letters, digits, '-' or '_'"

    def read(self, record: Any) -> Event | Flaw:
        """The event ``record`` stands for, or its first problem."""
        if type(record) is not dict:
            message = f"the record is {kind_of(record)}, not an object"
            return Flaw("record", RejectReason.NOT_AN_OBJECT, message)
        name = record.get("event")
        if type(name) is not str or not name or not (name.isascii() or utf8_ok(name)):
            return _bad_name(name)
        props = record.get("properties")
        if type(props) is not dict:
            if props is None:
                return Flaw("properties", RejectReason.MISSING_FIELD, "properties is missing")
            message = f"properties is {kind_of(props)}, not an object"
            return Flaw("properties", RejectReason.INVALID_TYPE, message)
        relaxed = name in MIXPANEL_IDENTITY_EVENTS
        time = self.time(props.get("time"), relaxed)
        if isinstance(time, Flaw):
            return time
        ids = self.ids(props, relaxed)
        if isinstance(ids, Flaw):
            return ids
        insert_id = self.insert_id(props.get("$insert_id"), relaxed)
        if isinstance(insert_id, Flaw):
            return insert_id
        stored = clean_properties(props, self.limits)
        if isinstance(stored, Flaw):
            return stored
        if ids:
            stored.update(ids)
        if len(name) > self.limits.max_string:
            name = name[: self.limits.max_string]
        return Event(name, stored, time, insert_id, self.trusted)

    def time(self, value: Any, relaxed: bool) -> int | Flaw:
        if value is None:
            if self.trusted and not relaxed:
                return Flaw(_TIME, RejectReason.MISSING_FIELD, "properties.time is missing")
            return self.now_ms
        ms = epoch_ms(value)
        if ms is None:
            message = f"properties.time {shown(value)} is not a number of seconds or milliseconds"
            return Flaw(_TIME, RejectReason.INVALID_TIME, message)
        if ms > self.latest:
            message = f"properties.time {shown(value)} {self.future_words}"
            return Flaw(_TIME, RejectReason.TIME_OUT_OF_RANGE, message)
        if ms < self.earliest:
            return Flaw(
                _TIME, self.past_reason, f"properties.time {shown(value)} {self.past_words}"
            )
        return ms

    def ids(self, props: dict[str, Any], relaxed: bool) -> dict[str, str] | Flaw:
        """Integer ids written as strings (usually none), or the ids' first problem."""
        written: dict[str, str] = {}
        stored_under: tuple[str, str] | None = None
        for key in self.id_keys:
            value = props.get(key)
            if value is None:
                continue
            if type(value) is not str:
                if type(value) is not int:
                    message = f"properties.{key} {shown(value)} is not a string"
                    return Flaw(f"properties.{key}", RejectReason.INVALID_TYPE, message)
                value = written[key] = str(value)
            if stored_under is None and value:
                stored_under = (key, value)
        if stored_under is None:
            if relaxed:
                return written
            message = "properties.distinct_id is missing or empty"
            if self.device_mode:
                message += ", and neither $user_id nor $device_id is given"
            return Flaw("properties.distinct_id", RejectReason.MISSING_FIELD, message)
        key, value = stored_under
        if self.trusted and self.is_junk(value):
            message = f"properties.{key} {shown(value)} is a placeholder, not an id"
            return Flaw(f"properties.{key}", RejectReason.JUNK_ID, message)
        return written

    def insert_id(self, value: Any, relaxed: bool) -> str | Flaw | None:
        if value is None:
            if self.trusted and not relaxed:
                return Flaw(_INSERT_ID, RejectReason.MISSING_FIELD, f"{_INSERT_ID} is missing")
            return None
        if type(value) is str and self.insert_id_ok(value):
            if not (self.trusted and self.is_junk(value)):
                return value
            message = f"{_INSERT_ID} {shown(value)} is a placeholder value"
        else:
            message = f"{_INSERT_ID} {shown(value)} is not {self.insert_id_form}"
        return Flaw(_INSERT_ID, RejectReason.INVALID_INSERT_ID, message)


def _bad_name(name: Any) -> Flaw:
    if name is None or name == "":
        return Flaw("event", RejectReason.MISSING_FIELD, "event is missing or empty")
    if type(name) is not str:
        return Flaw("event", RejectReason.INVALID_TYPE, f"event {shown(name)} is not a string")
    return Flaw("event", RejectReason.INVALID_UTF8, f"event {shown(name)} is not valid UTF-8")


def _duration(ms: int) -> str:
    for unit, size in (("day", 86_400_000), ("hour", 3_600_000), ("minute", 60_000)):
        if ms % size == 0:
            count = ms // size
            return f"one {unit}" if count == 1 else f"{count} {unit}s"
    return f"{ms} ms"


def _date(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).date().isoformat()
