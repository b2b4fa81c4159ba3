"""Events as they were sent, read back from where a mode wrote its verdicts onto them:
from a project's own store (for ``idmerge replay``) and from a Mixpanel raw export
(for ``idmerge import --mode-of-origin``).

An identity mode writes onto the events it stores. Taking that back is what lets the
same history be run again under another mode, which then writes its own.

**From the store** (:func:`history`). idmerge stores an event's properties as sent,
less the token, plus the engine's annotations, and every profile update as sent;
both share the project's ingestion sequence, as do the operator's splits in the
identity log. Reading the three back in sequence order gives the stream the project
was built from. What each event gets back, by the mode the project ran:

- every mode: the failure properties (``$failure_reason`` and
  ``$failure_description`` in ``original`` and ``legacy``,
  ``$identity_failure_reason`` in ``simplified`` and ``cdp``) are removed from an
  event whose identity-log entry is a refusal: they were that mode's verdict.
- ``legacy``: an event stored under the id its alias resolved to gets back the
  ``distinct_id`` it was sent with, kept in ``$distinct_id_before_identity``, and
  that property is removed.
- ``simplified``: the ``$user_id`` (or ``$device_id``) that its rule 3 derived from a
  lone ``distinct_id`` is removed.
- an ordinary event sent without ``distinct_id`` (``simplified`` and ``cdp`` store
  under ``$user_id`` / ``$device:`` + ``$device_id``) gets the id it was stored under
  as its ``distinct_id`` when the mode it is replayed under reads ``distinct_id``
  (``original``, ``legacy``), as the JavaScript SDK would have sent it. An identity
  event (``$identify``, ``$create_alias``, ``$merge``) names its ids itself and is
  left as sent.

**Decisions.** A property a sender set to exactly what a mode would have written
(``{"distinct_id": "u1", "$user_id": "u1"}`` in ``simplified``) cannot be told from
the mode's own and is taken back too; every mode reads such an event the same way
with or without it. The store does not keep which path an event came by, and only
``$merge`` depends on it (``original`` takes it from ``/import`` only): a replayed
``$merge`` is trusted, as ``idmerge import`` is, unless the project's own log
refused it with ``merge_requires_import``. Segment messages were translated for the
project's mode when they arrived (see :mod:`idmerge.wire.segment`); replay reads the
translation, as Mixpanel's own Segment destination would have sent it.

**From a Mixpanel export** (:func:`from_export`). A raw export rewrites ``distinct_id``
to the cluster's canonical id and keeps the mode's annotations. With the mode the
exporting project ran (``--mode-of-origin``), each record is read back to what was
sent: ``$distinct_id_before_identity``, when present, is the id it was sent with
(every mode; then removed); else in ``simplified`` the sent id is recoverable from
``$user_id`` / ``$device_id``; in ``original`` and ``legacy`` the canonical id stays
(it belongs to the same cluster, so clusters and reports are unchanged). The mode's
failure properties are removed, whatever the outcome (an export does not say it).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import msgspec

from idmerge.identity import (
    DEVICE_ID_MODES,
    DEVICE_PREFIX,
    Event,
    LogEntry,
    Mode,
    Op,
    Outcome,
    Reason,
    failure_properties,
)
from idmerge.identity.reading import MIXPANEL_IDENTITY_EVENTS, nonempty
from idmerge.profiles.model import ProfileKind, ProfileOp, ProfileUpdate
from idmerge.projects import Project
from idmerge.storage.base import Store, StoredEvent, StoredProfileUpdate

#: Where ``legacy`` (and a raw export, in every mode) keeps the id an event was sent with.
BEFORE_IDENTITY = "$distinct_id_before_identity"

_decode = msgspec.json.Decoder().decode


class Split(NamedTuple):
    """An operator's split in the identity log, to be done again at the same point."""

    entry: LogEntry


#: One step of a project's history: an event, a profile update or a split.
Item = Event | ProfileUpdate | Split


class Recorded(NamedTuple):
    seq: int  # the source project's sequence number
    received_at: int  # when the source project accepted it (a split: its time)
    item: Item


def history(
    store: Store, project: Project, target: Mode, log: Iterable[LogEntry]
) -> Iterator[Recorded]:
    """Every event, profile update and split of ``project`` (whose identity log is
    ``log``), in ingestion order, as it was sent (see the module's rules), to be
    replayed under ``target``."""
    verdicts: dict[int, Reason | None] = {}
    splits: list[Recorded] = []
    for entry in log:
        if entry.op is Op.UNDO or entry.op is Op.DETACH:
            splits.append(Recorded(entry.seq, entry.time, Split(entry)))
        elif entry.outcome is Outcome.REFUSED:
            verdicts[entry.seq] = entry.reason
    events = (
        Recorded(row.seq, row.received_at, stored_event(row, project.mode, target, verdicts))
        for row in store.read_events(project.id)
    )
    updates = (
        Recorded(row.seq, row.received_at, stored_update(row))
        for row in store.read_profile_updates(project.id)
    )
    return heapq.merge(events, updates, iter(splits), key=lambda step: step.seq)


def stored_event(
    row: StoredEvent, mode: Mode, target: Mode, verdicts: Mapping[int, Reason | None]
) -> Event:
    """The event ``row`` was stored from in a ``mode`` project, to be replayed under
    ``target``; ``verdicts`` holds the reason of every event the project refused."""
    props: dict[str, Any] = _decode(row.properties)
    refused = row.seq in verdicts
    if refused:
        for key in failure_properties(mode):
            props.pop(key, None)
    if mode is Mode.LEGACY:
        sent = props.pop(BEFORE_IDENTITY, None)
        if isinstance(sent, str):
            props["distinct_id"] = sent
    elif mode is Mode.SIMPLIFIED:
        _take_back_rule_3(props, row.distinct_id)
    if (
        target not in DEVICE_ID_MODES
        and "distinct_id" not in props
        and row.distinct_id
        and row.name not in MIXPANEL_IDENTITY_EVENTS
    ):
        props["distinct_id"] = row.distinct_id
    trusted = not (refused and verdicts[row.seq] is Reason.MERGE_REQUIRES_IMPORT)
    return Event(row.name, props, row.time, row.insert_id, trusted)


def _take_back_rule_3(props: dict[str, Any], stored: str) -> None:
    """Remove the ``$user_id`` / ``$device_id`` Simplified derived from a lone
    ``distinct_id`` (its rule 3: neither id was sent)."""
    if props.get("distinct_id") != stored:
        return
    user, device = props.get("$user_id"), props.get("$device_id")
    if stored.startswith(DEVICE_PREFIX):
        if device == stored[len(DEVICE_PREFIX) :] and not nonempty(user):
            del props["$device_id"]
    elif user == stored and not nonempty(device):
        del props["$user_id"]


def stored_update(row: StoredProfileUpdate) -> ProfileUpdate:
    """The profile update ``row`` was stored from."""
    return ProfileUpdate(
        ProfileKind(row.kind),
        row.distinct_id,
        ProfileOp(row.op),
        _decode(row.value),
        row.time,
        row.ignore_time,
        row.group_key,
    )


def from_export(record: Any, origin: Mode) -> Any:
    """A Mixpanel raw-export record of a project in mode ``origin``, read back to the
    event that was sent (see the module's rules); anything that is not a record
    with an object of properties is answered as it is, for the import to refuse."""
    if type(record) is not dict or type(record.get("properties")) is not dict:
        return record
    props = dict(record["properties"])
    for key in failure_properties(origin):
        props.pop(key, None)
    sent = props.pop(BEFORE_IDENTITY, None)
    if nonempty(sent):
        props["distinct_id"] = sent
    elif origin is Mode.SIMPLIFIED:
        user, device = props.get("$user_id"), props.get("$device_id")
        if nonempty(user):
            props["distinct_id"] = user
        elif nonempty(device):
            props["distinct_id"] = DEVICE_PREFIX + device
    return {**record, "properties": props}
