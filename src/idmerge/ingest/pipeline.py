"""One project's write path: number what arrives, apply the identity engine and the
profile updates, commit.

Requests reach a :class:`ProjectWriter` as :class:`Submission` s: the events, profile
updates and rejected records of one request for one project. Several submissions are
written together in one transaction (the server's group commit). The engine's and the
profiles' state advance in memory as a batch is staged; if anything on the way fails,
both are rebuilt from the store, so memory never runs ahead of what is durable.

Within a submission the events are applied first and the profile updates after them,
so an update resolves its ``$distinct_id`` through the identity changes of its own
request.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import msgspec

from idmerge.errors import SplitRefused
from idmerge.identity import (
    Applied,
    Event,
    IdentityEngine,
    LogColumns,
    LogEntry,
    Mode,
    Outcome,
    Resolutions,
    paused_gc,
    split_entry,
)
from idmerge.profiles.book import ProfileBook
from idmerge.profiles.model import ProfileKind, ProfileUpdate
from idmerge.projects import Project
from idmerge.storage.base import (
    IngestionWarning,
    Store,
    StoredEvent,
    StoredProfile,
    StoredProfileUpdate,
    WriteBatch,
)
from idmerge.wire.mixpanel import Rejection

#: Properties that identify the sender, not the event; never stored.
_NOT_STORED = frozenset({"token"})
#: How much of a rejected record a warning keeps.
PAYLOAD_LIMIT = 4096

_encode = msgspec.json.Encoder().encode


def _properties_json(event: Event, annotations: Mapping[str, str]) -> str:
    """The event's properties as stored: what was sent, less the token, plus the
    engine's annotations."""
    properties = event.properties
    if annotations or "token" in properties:  # else, as most often, encode as it is
        stored = {**properties, **annotations}  # a C-level copy: faster than filtering
        for key in _NOT_STORED:
            stored.pop(key, None)
        properties = stored
    return _encode(properties).decode()


def _payload(record: Any) -> str | None:
    try:
        text = _encode(record).decode()
    except (TypeError, ValueError, OverflowError):  # not JSON-able: keep its repr
        text = repr(record)
    return text[:PAYLOAD_LIMIT]


@dataclass(frozen=True, slots=True)
class Submission:
    """What one request brings to one project."""

    endpoint: str  # e.g. "/import", for the warnings
    received_at: int  # ms since the epoch
    events: Sequence[tuple[int, Event]] = ()  # (index in the request, event)
    profile_updates: Sequence[tuple[int, ProfileUpdate]] = ()
    rejections: Sequence[Rejection] = ()
    #: the request's records, to keep a rejected one in its warning
    records: Sequence[Any] = ()


@dataclass(slots=True)
class Receipt:
    """What the writer did with one submission, once it is durable."""

    events: int = 0  # events stored
    profile_updates: int = 0
    outcomes: list[Outcome | None] = field(default_factory=list)  # one per event
    warnings: list[IngestionWarning] = field(default_factory=list)


def load_engine(store: Store, project: Project) -> IdentityEngine:
    """Rebuild a project's identity engine from its stored identity log."""
    with paused_gc():  # millions of small tuples, no cycles: see paused_gc
        log = list(store.read_log(project.id))
    seen = store.distinct_ids(project.id) if project.mode is Mode.CDP else ()
    return IdentityEngine.replay(project.policy(), log, seen_ids=seen)


@dataclass(frozen=True, slots=True)
class SplitResult:
    entry: LogEntry  # the split as recorded in the identity log
    clusters: dict[str, list[str]]  # every affected id -> its cluster after the split
    resolved: dict[str, str]  # every affected id -> its resolved id after the split
    before: dict[str, str]  # every affected id -> its resolved id before the split
    committed: bool  # False for a dry run: nothing was written, the engine is as it was


class ProjectWriter:
    """The single writer of one project: owns its identity engine, its profiles and
    its sequence.

    ``lock`` is held while a batch is staged and committed; readers that want the
    engine or the profiles to agree with what is durable hold it too.
    """

    def __init__(self, store: Store, project: Project) -> None:
        self.store = store
        self.project = project
        self.lock = threading.RLock()
        self._reload()

    def _reload(self) -> None:
        self.engine = load_engine(self.store, self.project)
        self.profiles = ProfileBook.load(self.store.read_profile_updates(self.project.id))
        self._next_seq = self.store.last_seq(self.project.id) + 1

    @property
    def next_seq(self) -> int:
        """The sequence number the next event (or split) will get."""
        return self._next_seq

    def ingest(self, events: Sequence[Event], *, received_at: int) -> Applied:
        """Apply and durably store ``events``, in order; answer what the engine did.

        The library's way in (the server goes through :meth:`write`). Should anything
        fail on the way (an event the engine or the JSON encoder chokes on, a refused
        commit), nothing of the batch is stored and the engine is rebuilt from the
        store, so memory never runs ahead of the disk.
        """
        submission = Submission("library", received_at, list(enumerate(events)))
        with self.lock, self._all_or_nothing():
            staging = _Staging(self, self._next_seq)
            applied = staging.add_events(submission, Receipt())
            self._commit(staging)
        return applied

    def write(self, submissions: Sequence[Submission]) -> list[Receipt]:
        """Apply and durably store several requests' worth, in order, in one
        transaction; answer what was done with each."""
        with self.lock, self._all_or_nothing():
            staging = _Staging(self, self._next_seq)
            receipts = [staging.add(submission) for submission in submissions]
            self._commit(staging)
        return receipts

    def _commit(self, staging: _Staging) -> None:
        batch = staging.batch
        batch.mapping = self.engine.drain_changes()
        batch.profiles = list(staging.profiles.values())
        self.store.commit(self.project.id, batch)
        self._next_seq = staging.seq

    def split(
        self,
        *,
        time: int,
        insert_id: str | None = None,
        event_seq: int | None = None,
        detach: str | None = None,
        dry_run: bool = False,
    ) -> SplitResult:
        """Undo one identity event, or detach one id, and rebuild every cluster; with
        ``dry_run``, only say what the split would do (a preview), writing nothing.

        Holds ``lock`` throughout, so no batch lands between reading the log and
        committing the split (its entries would be missing from the rebuilt engine).
        """
        with self.lock:
            log = list(self.store.read_log(self.project.id))
            entry = split_entry(
                log,
                self.engine,
                seq=self._next_seq,
                time=time,
                insert_id=insert_id,
                event_seq=event_seq,
                detach=detach,
            )
            if isinstance(entry, str):
                raise SplitRefused(entry)
            ids = sorted({x for distinct_id in entry.ids for x in self.engine.cluster(distinct_id)})
            before = {x: self.engine.resolve(x) for x in ids}
            rebuilt = IdentityEngine.replay(
                self.project.policy(), [*log, entry], seen_ids=self.engine.seen_ids
            )
            if not dry_run:
                batch = WriteBatch(
                    log=LogColumns.of([entry]),
                    mapping=Resolutions.of(rebuilt.mapping()),
                    replace_mapping=True,
                )
                with self._all_or_nothing():
                    self.store.commit(self.project.id, batch)
                self.engine = rebuilt
                self._next_seq += 1
        return SplitResult(
            entry,
            {x: rebuilt.cluster(x) for x in ids},
            {x: rebuilt.resolve(x) for x in ids},
            before,
            committed=not dry_run,
        )

    @contextmanager
    def _all_or_nothing(self) -> Iterator[None]:
        """On any failure inside, rebuild the engine from the store and re-raise.

        A store that refuses the project's writes whatever they hold (damaged id
        keys) refuses first, before anything is applied: nothing to rebuild then."""
        self.store.prepare_writes(self.project.id)
        try:
            yield
        except BaseException:
            self._reload()
            raise


class _Staging:
    """One transaction's worth of submissions, numbered and applied in memory."""

    def __init__(self, writer: ProjectWriter, first_seq: int) -> None:
        self.writer = writer
        self.seq = first_seq
        self.batch = WriteBatch()
        self.profiles: dict[tuple[str, str, str], StoredProfile] = {}

    def add(self, submission: Submission) -> Receipt:
        receipt = Receipt()
        if submission.events:
            self.add_events(submission, receipt)
        if submission.profile_updates:
            self._profile_updates(submission, receipt)
        for rejection in submission.rejections:
            records = submission.records
            record = records[rejection.index] if 0 <= rejection.index < len(records) else None
            self._warn(
                receipt,
                submission,
                event_seq=None,
                record_index=rejection.index,
                insert_id=rejection.insert_id,
                distinct_id=rejection.distinct_id,
                event=rejection.event,
                field=rejection.field,
                reason=rejection.reason,
                message=rejection.message,
                payload=None if record is None else _payload(record),
            )
        return receipt

    def add_events(self, submission: Submission, receipt: Receipt) -> Applied:
        first = self.seq
        indexes = [index for index, _ in submission.events]
        events = [event for _, event in submission.events]
        applied = self.writer.engine.apply_many(events, first)
        received_at = submission.received_at
        self.batch.events.extend(
            StoredEvent(
                seq,
                event.name,
                distinct_id,
                event.time,
                event.insert_id,
                _properties_json(event, annotations),
                received_at,
            )
            for seq, event, distinct_id, annotations in zip(
                range(first, first + len(events)),
                events,
                applied.distinct_ids,
                applied.annotations,
                strict=True,
            )
        )
        self.batch.log.extend(applied.entries)  # column by column
        self.seq = first + len(events)
        receipt.events = len(events)
        receipt.outcomes = applied.outcomes
        logged = applied.entries
        for index, (outcome, reason) in enumerate(zip(logged.outcome, logged.reason, strict=True)):
            if outcome is Outcome.REFUSED and reason is not None:
                entry = logged[index]  # built only for the refused ones, to warn
                position = entry.seq - first
                self._warn(
                    receipt,
                    submission,
                    event_seq=entry.seq,
                    record_index=indexes[position],
                    insert_id=entry.insert_id,
                    distinct_id=applied.distinct_ids[position],
                    event=entry.event,
                    field=None,
                    reason=reason.value,
                    message=f"identity event refused ({', '.join(entry.ids)}): "
                    + reason.description,
                    payload=None,
                )
        return applied

    def _profile_updates(self, submission: Submission, receipt: Receipt) -> None:
        resolve = self.writer.engine.resolve
        stored: list[StoredProfileUpdate] = []
        for _, update in submission.profile_updates:
            is_group = update.kind is ProfileKind.GROUP
            stored.append(
                StoredProfileUpdate(
                    self.seq,
                    update.kind.value,
                    update.group_key,
                    update.distinct_id,
                    update.distinct_id if is_group else resolve(update.distinct_id),
                    update.op.value,
                    _encode(update.value).decode(),
                    update.time,
                    update.ignore_time,
                    submission.received_at,
                )
            )
            self.seq += 1
        for profile in self.writer.profiles.apply(stored):
            self.profiles[profile.kind, profile.group_key, profile.target] = profile
        self.batch.profile_updates.extend(stored)
        receipt.profile_updates = len(stored)

    def _warn(self, receipt: Receipt, submission: Submission, **fields: Any) -> None:
        warning = IngestionWarning(
            seq=self.seq, received_at=submission.received_at, endpoint=submission.endpoint, **fields
        )
        self.seq += 1
        self.batch.warnings.append(warning)
        receipt.warnings.append(warning)
