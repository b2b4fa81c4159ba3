"""Segment / Customer.io Data Pipelines messages as engine events and profile updates.

The whole request is refused (:class:`~idmerge.errors.BadRequest`, 400, naming the
message and field) when any message is bad, as Segment answers past its limits:
a body that is not an object, ``batch`` not an array, a missing or unknown ``type``,
neither ``userId`` nor ``anonymousId`` (``alias`` needs ``userId`` and
``previousId``; ``group`` a ``groupId``; ``track`` an ``event``), a field of the wrong
type, a ``messageId`` over 100 characters, a date that is not ISO-8601, a string that
is not valid UTF-8, a message over 32 KB or a batch over 500 KB (sizes of the JSON
encoding). Ids may be strings or numbers (written out as strings).

Time: ``t`` = ``timestamp``, else ``originalTimestamp``; when ``sentAt`` (the
message's, else the batch's) is also given, the event time is ``receivedAt - (sentAt
- t)``, Segment's clock-skew correction; else ``t``; else ``receivedAt`` (the
server's clock; a ``receivedAt`` in the message is ignored).
``messageId`` becomes the event's ``insert_id`` (its dedup key); none is invented.

Translation, per identity mode (``identity.md``):

- Identity properties: in ``simplified`` and ``cdp``, ``$user_id`` = ``userId`` and
  ``$device_id`` = ``anonymousId`` when present; in ``original`` and ``legacy``,
  ``distinct_id`` = ``userId``, else ``anonymousId``. They override properties of
  the same name.
- ``track``: the event, its ``properties`` plus the identity properties.
  ``page`` is ``Loaded a Page`` and ``screen`` ``Loaded a Screen``, with ``name`` and
  ``category`` (when sent) added to the properties.
- ``identify``: a user-profile ``$set`` of ``traits`` (none when ``traits`` is empty)
  on ``userId``, else on the anonymous id as the mode stores it (``$device:`` +
  ``anonymousId`` in ``simplified``/``cdp``, ``anonymousId`` otherwise); and an event
  ``$identify``: in ``simplified``/``cdp`` carrying the identity properties (``cdp``
  links on it; ``simplified`` ignores ``$identify`` by spec and links on the next
  message carrying both ids, which Segment SDKs send); in ``original`` carrying
  ``$identified_id`` = ``userId`` and ``$anon_id`` = ``anonymousId`` when both are
  given, else just ``distinct_id``; in ``legacy`` just ``distinct_id`` (ignored).
- ``alias`` (``userId`` U, ``previousId`` P): an event ``$create_alias`` with
  ``alias`` = U and ``distinct_id`` = P, in every mode.
- ``group``: a group-profile ``$set`` of ``traits`` on ``groupId``, under the group key
  ``groupId``; no event.

Decisions: ``context`` (library, page, device, ip, ...) is kept whole under the
event property ``context`` unless the properties already have one (a batch's own
``context`` is merged into each message's, the message winning, as Segment does); ``integrations``
(routing for Segment destinations) is dropped. Mixpanel's property limits do not
apply: Segment bounds a message at 32 KB and its SDKs nest freely. All events are
untrusted; times are in milliseconds.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import msgspec

from idmerge.errors import BadRequest
from idmerge.identity.model import DEVICE_ID_MODES, Event, Mode
from idmerge.identity.policy import DEVICE_PREFIX
from idmerge.profiles.model import ProfileKind, ProfileOp, ProfileUpdate
from idmerge.wire.values import kind_of, shown, utf8_flaw

CALLS = ("track", "identify", "alias", "page", "screen", "group")
MAX_MESSAGE_BYTES = 32 * 1024
MAX_BATCH_BYTES = 500 * 1024
MAX_MESSAGE_ID = 100
GROUP_KEY = "groupId"

_EVENT_NAMES = {"page": "Loaded a Page", "screen": "Loaded a Screen"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)
_encode = msgspec.json.Encoder().encode


class SegmentBatch(NamedTuple):
    write_key: str | None  # writeKey from the body, if any
    events: list[tuple[int, Event]]  # (index, event) in message order
    profiles: list[tuple[int, ProfileUpdate]]


def segment_batch(body: Any, *, call: str | None, mode: Mode, received_at: int) -> SegmentBatch:
    """Translate one request: a single message of type ``call``, or, with ``call``
    None, a ``/v1/batch`` body ``{"batch": [...]}`` whose messages carry ``type``."""
    if type(body) is not dict:
        raise BadRequest(f"the body is {kind_of(body)}, not a JSON object")
    write_key = body.get("writeKey")
    if write_key is not None and type(write_key) is not str:
        raise BadRequest(f"writeKey {shown(write_key)} is not a string")
    size = _size(body, "body")
    if call is None:
        messages, shared = _batch(body, size)
    else:
        if call not in CALLS:
            raise BadRequest(f"unknown call {call!r}; expected one of {', '.join(CALLS)}")
        if size > MAX_MESSAGE_BYTES:
            raise BadRequest(f"the message is {size} bytes; Segment's limit is 32 KB")
        messages, shared = [body], _Shared(None, None)
    out = SegmentBatch(write_key, [], [])
    for index, message in enumerate(messages):
        where = f"batch[{index}]." if call is None else ""
        if type(message) is not dict:
            raise BadRequest(f"{where.rstrip('.')} is {kind_of(message)}, not an object")
        kind = call or _type(message, where)
        _Message(message, where, mode, received_at, shared).translate(kind, index, out)
    return out


class _Shared(NamedTuple):
    """What a batch says for all its messages."""

    context: dict[str, Any] | None
    sent_at: int | None


def _batch(body: dict[str, Any], size: int) -> tuple[list[Any], _Shared]:
    if size > MAX_BATCH_BYTES:
        raise BadRequest(f"the batch is {size} bytes; Segment's limit is 500 KB")
    messages = body.get("batch")
    if type(messages) is not list:
        raise BadRequest(f"batch is {kind_of(messages)}, not an array of messages")
    if size > MAX_MESSAGE_BYTES:  # else no message in it can be over the limit
        for index, message in enumerate(messages):
            found = _size(message, f"batch[{index}]")
            if found > MAX_MESSAGE_BYTES:
                raise BadRequest(f"batch[{index}] is {found} bytes; Segment's limit is 32 KB")
    context = _object(body, "context", "")
    return messages, _Shared(context or None, _instant(body, "sentAt", ""))


def _size(value: Any, where: str) -> int:
    try:
        return len(_encode(value))
    except UnicodeEncodeError:
        flaw = utf8_flaw(value, where)
        raise BadRequest(flaw.message if flaw else f"{where} is not valid UTF-8") from None


def _type(message: dict[str, Any], where: str) -> str:
    kind = message.get("type")
    if kind is None:
        raise BadRequest(f"{where}type is missing")
    if kind not in CALLS:
        raise BadRequest(f"{where}type {shown(kind)} is not one of {', '.join(CALLS)}")
    return str(kind)


class _Message:
    """One message's fields, checked as they are read."""

    def __init__(
        self, message: dict[str, Any], where: str, mode: Mode, received_at: int, shared: _Shared
    ) -> None:
        self.message = message
        self.where = where
        self.mode = mode
        self.user = _id(message, "userId", where)
        self.anon = _id(message, "anonymousId", where)
        self.time = _event_time(message, where, received_at, shared.sent_at)
        self.insert_id = _message_id(message, where)
        context = _object(message, "context", where)
        if shared.context:
            context = {**shared.context, **context}
        self.context = context

    def translate(self, kind: str, index: int, out: SegmentBatch) -> None:
        subject = self.where.rstrip(".") or "the message"
        if kind == "alias":
            previous = _id(self.message, "previousId", self.where)
            if not self.user or not previous:
                raise BadRequest(f"{subject}: an alias needs both userId and previousId")
            self.event(out, index, "$create_alias", {"alias": self.user, "distinct_id": previous})
            return
        if not self.user and not self.anon:
            raise BadRequest(f"{subject} has neither userId nor anonymousId")
        if kind == "identify":
            self.identify(out, index)
        elif kind == "group":
            self.group(out, index)
        else:
            self.track(out, index, kind)

    def track(self, out: SegmentBatch, index: int, kind: str) -> None:
        props = dict(_object(self.message, "properties", self.where))
        if kind == "track":
            name = self.message.get("event")
            if name is None or name == "":
                raise BadRequest(f"{self.where}event is missing")
            if type(name) is not str:
                raise BadRequest(f"{self.where}event {shown(name)} is not a string")
        else:
            name = _EVENT_NAMES[kind]
            for key in ("name", "category"):
                if self.message.get(key) is not None:
                    props[key] = self.message[key]
        props.update(self.identity())
        self.event(out, index, name, props)

    def identify(self, out: SegmentBatch, index: int) -> None:
        traits = _object(self.message, "traits", self.where)
        if traits:
            owner = self.user or (DEVICE_PREFIX + self.anon if self.device_mode else self.anon)
            update = ProfileUpdate(ProfileKind.USER, owner, ProfileOp.SET, traits, self.time)
            out.profiles.append((index, update))
        if self.mode is Mode.ORIGINAL and self.user and self.anon:
            props = {"$identified_id": self.user, "$anon_id": self.anon, "distinct_id": self.user}
        else:
            props = self.identity()
        self.event(out, index, "$identify", props)

    def group(self, out: SegmentBatch, index: int) -> None:
        group_id = _id(self.message, "groupId", self.where)
        if not group_id:
            raise BadRequest(f"{self.where}groupId is missing")
        traits = _object(self.message, "traits", self.where)
        if traits:
            update = ProfileUpdate(
                ProfileKind.GROUP, group_id, ProfileOp.SET, traits, self.time, group_key=GROUP_KEY
            )
            out.profiles.append((index, update))

    @property
    def device_mode(self) -> bool:
        return self.mode in DEVICE_ID_MODES

    def identity(self) -> dict[str, str]:
        if not self.device_mode:
            return {"distinct_id": self.user or self.anon}
        ids = {}
        if self.user:
            ids["$user_id"] = self.user
        if self.anon:
            ids["$device_id"] = self.anon
        return ids

    def event(self, out: SegmentBatch, index: int, name: str, props: dict[str, Any]) -> None:
        if self.context and "context" not in props:
            props["context"] = self.context
        out.events.append((index, Event(name, props, self.time, self.insert_id, trusted=False)))


def _id(message: dict[str, Any], key: str, where: str) -> str:
    """The id in ``key`` as a string; "" when absent."""
    value = message.get(key)
    if value is None or type(value) is str:
        return value or ""
    if type(value) is int:
        return str(value)
    if type(value) is float:
        return str(int(value)) if value.is_integer() else repr(value)
    raise BadRequest(f"{where}{key} {shown(value)} is not a string or a number")


def _object(message: dict[str, Any], key: str, where: str) -> dict[str, Any]:
    value = message.get(key)
    if value is None:
        return {}
    if type(value) is not dict:
        raise BadRequest(f"{where}{key} is {kind_of(value)}, not an object")
    return value


def _message_id(message: dict[str, Any], where: str) -> str | None:
    value = message.get("messageId")
    if value is None or value == "":
        return None
    if type(value) is not str:
        raise BadRequest(f"{where}messageId {shown(value)} is not a string")
    if len(value) > MAX_MESSAGE_ID:
        raise BadRequest(f"{where}messageId is {len(value)} characters; at most 100 allowed")
    return value


def _event_time(
    message: dict[str, Any], where: str, received_at: int, batch_sent: int | None
) -> int:
    stamped = _instant(message, "timestamp", where)
    original = _instant(message, "originalTimestamp", where)
    sent = _instant(message, "sentAt", where)
    client = stamped if stamped is not None else original
    if sent is None:
        sent = batch_sent
    if client is None:
        return received_at
    return client if sent is None else received_at - (sent - client)


def _instant(message: dict[str, Any], key: str, where: str) -> int | None:
    """An ISO-8601 date in ``key`` as ms since the epoch (no offset means UTC)."""
    value = message.get(key)
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if type(value) is str else None
    except ValueError:
        moment = None
    if moment is None:
        raise BadRequest(f"{where}{key} {shown(value)} is not an ISO-8601 date")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MS
