"""The identity engine of one project: events in, outcomes and identity changes out.

Pure: no I/O, no clock, no globals. The caller numbers the events (the ingestion
sequence), stores what :meth:`IdentityEngine.apply` returns, and persists the log
entries; :meth:`IdentityEngine.replay` rebuilds the same engine from that log.

Every identity event that changed something, or was refused or ignored, is logged;
a ``noop`` that changed nothing is not (once a user has logged in, nearly every event
of theirs is one). So the log is small, a rebuild is fast, and undoing an event gives
exactly the clusters of a log that never had it: a later re-send of the same pair,
which was a ``noop`` then, does not bring the undone link back.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from operator import attrgetter
from typing import Final

from idmerge.identity.cdp import CdpRules
from idmerge.identity.clusters import Clusters
from idmerge.identity.legacy import LegacyRules
from idmerge.identity.model import (
    FAILURE_DESCRIPTION,
    SPLIT_OPS,
    Decision,
    Event,
    LogColumns,
    LogEntry,
    Mode,
    Op,
    Outcome,
    Reason,
    Resolutions,
    Step,
)
from idmerge.identity.original import OriginalRules
from idmerge.identity.policy import Policy
from idmerge.identity.rules import Rules
from idmerge.identity.simplified import SimplifiedRules

#: Refusals that depend on nothing but the ids and the policy.
SCREENING_REASONS: Final = frozenset({Reason.JUNK_ID, Reason.SAME_IDS, Reason.ANON_NOT_GUID})


@dataclass(frozen=True, slots=True)
class Applied:
    """The engine's answer to a run of events, one list entry per event."""

    distinct_ids: list[str]  # the id to store each event under
    annotations: list[Mapping[str, str]]  # properties to write onto each event
    outcomes: list[Outcome | None]  # None: no identity meaning
    entries: LogColumns  # the identity-log entries to persist, in order


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why an id resolves the way it does."""

    distinct_id: str
    resolved_distinct_id: str
    cluster: list[str]
    history: list[LogEntry]


def _rules(policy: Policy, clusters: Clusters, seen: Iterable[str]) -> Rules:
    if policy.mode is Mode.SIMPLIFIED:
        return SimplifiedRules(policy, clusters)
    if policy.mode is Mode.ORIGINAL:
        return OriginalRules(policy, clusters)
    if policy.mode is Mode.LEGACY:
        return LegacyRules(policy, clusters)
    return CdpRules(policy, clusters, seen)


def _written_on_failure(mode: Mode) -> tuple[str, ...]:
    rules = _rules(Policy.for_mode(mode), Clusters(), ())
    if rules.describes_failures:
        return (rules.failure_property, FAILURE_DESCRIPTION)
    return (rules.failure_property,)


#: worked out once: importing an export with ``--mode-of-origin`` asks per record
_FAILURE_PROPERTIES = {mode: _written_on_failure(mode) for mode in Mode}


def failure_properties(mode: Mode) -> tuple[str, ...]:
    """The properties ``mode`` writes onto an event it refuses (see ``_with_failure``)."""
    return _FAILURE_PROPERTIES[mode]


class IdentityEngine:
    """Clusters, the explain history and the delivered-event set of one project."""

    def __init__(self, policy: Policy, *, seen_ids: Iterable[str] = ()) -> None:
        """``seen_ids``: ids events were already stored under (``cdp`` needs them)."""
        self.policy = policy
        self.clusters = Clusters()
        self._rules = _rules(policy, self.clusters, seen_ids)
        #: insert_ids of the logged identity events: a second delivery is not applied
        self._delivered: set[str] = set()
        #: every entry logged, applied or replayed; the rest refer to it by index
        self._log = LogColumns()
        # refused, ignored, undone and split entries, by every id they name
        self._notes: dict[str, list[int]] = {}
        # Move the containers just made (the columns, the sets) to the collector's
        # oldest generation while they are empty: left young, they grow to millions
        # of items, and each of the young collections that promote them walks every
        # item (0.33 s of a 1M-event pass). The young generations hold a few hundred
        # objects at most, so this collection is short.
        gc.collect(1)

    # -- ingestion ---------------------------------------------------------------

    def apply(self, event: Event, seq: int) -> Step:
        """Apply one event, numbered ``seq`` in the project's ingestion order."""
        applied = self.apply_many((event,), seq)
        entry = applied.entries[0] if len(applied.entries) else None
        return Step(applied.distinct_ids[0], applied.annotations[0], applied.outcomes[0], entry)

    def apply_many(self, events: Iterable[Event], first_seq: int) -> Applied:
        """Apply events numbered from ``first_seq`` on, in order.

        This loop runs once per ingested event, so it works on plain tuples and local
        names, and what it keeps it keeps in columns (no object per event for the
        collector to visit); :meth:`apply` is the same for one event.
        """
        rules, delivered, log = self._rules, self._delivered, self._log
        start = len(log)
        # a list, numbered from 0: compiled, that loop is a C loop over the list's
        # items (``enumerate`` with a start, or over any iterable, calls the builtin)
        batch: list[Event] = events if isinstance(events, list) else list(events)
        distinct_ids: list[str] = []
        annotations_of: list[Mapping[str, str]] = []
        outcomes: list[Outcome | None] = []
        with paused_gc():
            for offset, event in enumerate(batch):
                seq = first_seq + offset
                distinct_id, annotations, op, ids, outcome, reason = rules.read(event)
                if op is not None:
                    insert_id = event.insert_id
                    decision: Decision
                    if insert_id is not None and insert_id in delivered:
                        decision = None  # a second delivery, applied already
                    elif op is Op.NONE:
                        decision = (outcome or Outcome.IGNORED, reason)
                    else:
                        decision = rules.decide(op, ids)
                    if decision is None:
                        outcome = Outcome.NOOP  # nothing changed, so nothing to log
                    else:
                        outcome, reason = decision
                        index = log.add(
                            seq, op, ids, outcome, reason, event.name, insert_id, event.time
                        )
                        self._remember(index, op, ids, outcome, insert_id)
                        if reason is not None and outcome is Outcome.REFUSED:
                            annotations = self._with_failure(annotations, reason)
                distinct_ids.append(distinct_id)
                annotations_of.append(annotations)
                outcomes.append(outcome)
            return Applied(distinct_ids, annotations_of, outcomes, log.since(start))

    def _with_failure(self, annotations: Mapping[str, str], reason: Reason) -> dict[str, str]:
        """The event's annotations plus the failure properties of its mode."""
        rules = self._rules
        failed = {**annotations, rules.failure_property: reason.value}
        if rules.describes_failures:
            failed[FAILURE_DESCRIPTION] = reason.description
        return failed

    def _remember(
        self, index: int, op: Op, ids: tuple[str, ...], outcome: Outcome, insert_id: str | None
    ) -> None:
        """Index the entry logged at ``index`` (whose fields follow) for explain, and
        mark its delivery as applied."""
        if insert_id is not None and op not in SPLIT_OPS:
            self._delivered.add(insert_id)
        if outcome is Outcome.LINKED or outcome is Outcome.MERGED:
            cluster = self.clusters.built  # the link or merge this entry records
            assert cluster >= 0
            self.clusters.record(cluster, index)
        elif outcome is not Outcome.NOOP:
            notes = self._notes
            for distinct_id in ids:
                notes.setdefault(distinct_id, []).append(index)

    # -- reading -----------------------------------------------------------------

    def resolve(self, distinct_id: str) -> str:
        return self.clusters.resolve(distinct_id)

    def cluster(self, distinct_id: str) -> list[str]:
        """Every id of ``distinct_id``'s cluster, its resolved id first."""
        members = self.clusters.members(distinct_id)
        resolved = self.clusters.resolve(distinct_id)
        return [resolved, *sorted(x for x in members if x != resolved)]

    def explain(self, distinct_id: str) -> Explanation:
        """The cluster of ``distinct_id`` and every outcome that touched one of its ids.

        ``noop`` outcomes are left out: they are numerous and changed nothing.
        """
        members = self.cluster(distinct_id)
        indexes = set(self.clusters.history(self.clusters.get(distinct_id)))
        for member in members:
            indexes.update(self._notes.get(member, ()))
        log = self._log
        history = sorted((log[index] for index in indexes), key=attrgetter("seq"))
        return Explanation(distinct_id, members[0], members, history)

    def mapping(self) -> Iterator[tuple[str, str]]:
        """``(id, resolved id)`` for every id that resolves to another id."""
        return self.clusters.mapping()

    def drain_changes(self) -> Resolutions:
        """The ids whose resolution changed since the last call, with their resolved ids."""
        return self.clusters.drain_changes()

    @property
    def seen_ids(self) -> set[str]:
        """Ids events were stored under, as far as the mode tracks them (``cdp``)."""
        return self._rules.seen if isinstance(self._rules, CdpRules) else set()

    # -- rebuilding --------------------------------------------------------------

    @classmethod
    def replay(
        cls, policy: Policy, log: Iterable[LogEntry], *, seen_ids: Iterable[str] = ()
    ) -> IdentityEngine:
        """Rebuild an engine from a project's identity log, in sequence order.

        Split entries take effect over the whole log: an undone event is skipped, and
        so is every event before a detach that named the detached id. All other
        events are decided again, so later events may now link what the undone one
        had kept apart.

        A project's policy is fixed once it holds data, so the checks that depend on
        nothing but the ids and the policy (junk ids, same ids, GUID shape) are not
        run again: an entry one of them refused keeps its outcome, and the others
        skip them. (A future change of policy must re-screen the log first.)
        """
        entries = log if isinstance(log, list) else list(log)
        undone: set[int] = set()
        detached: dict[str, int] = {}
        last, in_order = -1, True
        for entry in entries:
            in_order = in_order and entry.seq > last
            last = entry.seq
            if entry.op is Op.UNDO:
                undone.update(entry.undoes)
            elif entry.op is Op.DETACH:
                detached[entry.ids[0]] = entry.seq
        if not in_order:  # a stored log is in order already; a caller's may not be
            entries = sorted(entries, key=attrgetter("seq"))
        undo, detach, noop, none = Op.UNDO, Op.DETACH, Outcome.NOOP, Op.NONE
        splits = bool(undone or detached)
        with paused_gc():
            engine = cls(policy, seen_ids=seen_ids)
            rules = engine._rules
            engine.clusters.tracking = False
            columns = engine._log = LogColumns.of(entries)  # the outcomes corrected below
            for index, entry in enumerate(entries):
                seq, op, ids, stored, stored_reason, _, insert_id, _, _ = entry
                outcome, reason = stored, stored_reason
                if splits and (
                    op is undo
                    or op is detach
                    or seq in undone
                    or any(detached.get(x, -1) > seq for x in ids)
                ):
                    if op is not undo and op is not detach:
                        outcome, reason = Outcome.UNDONE, None
                elif op is not none and reason not in SCREENING_REASONS:
                    decision = rules.redecide(op, ids)
                    outcome, reason = (noop, None) if decision is None else decision
                if outcome is not stored or reason is not stored_reason:
                    columns.outcome[index], columns.reason[index] = outcome, reason
                engine._remember(index, op, ids, outcome, insert_id)
        engine.clusters.tracking = True
        return engine


def split_entry(
    log: Iterable[LogEntry],
    engine: IdentityEngine,
    *,
    seq: int,
    time: int,
    insert_id: str | None = None,
    event_seq: int | None = None,
    detach: str | None = None,
) -> LogEntry | str:
    """The log entry that undoes one identity event or detaches one id.

    Exactly one of ``insert_id``, ``event_seq`` and ``detach`` names the target.
    Answers a sentence saying what is wrong when the target cannot be split.
    """
    if sum(x is not None for x in (insert_id, event_seq, detach)) != 1:
        return "name exactly one of an insert_id, an event sequence number or an id to detach"
    if detach is not None:
        if engine.clusters.size(detach) == 1:
            return f"{detach!r} is not linked to any other id"
        return LogEntry(
            seq,
            Op.DETACH,
            (detach,),
            Outcome.SPLIT,
            Reason.DETACH_ID,
            "$split",
            None,
            time,
        )
    entries = list(log)
    already: set[int] = set()
    for entry in entries:
        if entry.op is Op.UNDO:
            already.update(entry.undoes)
    targets = [
        e.seq
        for e in entries
        if e.op not in SPLIT_OPS
        and e.op is not Op.NONE
        and (e.insert_id == insert_id if insert_id is not None else e.seq == event_seq)
    ]
    what = f"insert_id {insert_id!r}" if insert_id is not None else f"sequence number {event_seq}"
    if not targets:
        return f"no identity event with {what} in this project"
    targets = [s for s in targets if s not in already]
    if not targets:
        return f"the identity event with {what} is undone already"
    wanted = set(targets)
    ids = tuple(dict.fromkeys(x for e in entries if e.seq in wanted for x in e.ids))
    return LogEntry(
        seq,
        Op.UNDO,
        ids,
        Outcome.SPLIT,
        Reason.UNDO_EVENT,
        "$split",
        None,
        time,
        tuple(targets),
    )


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector over a bulk loop.

    The engine's objects hold no reference cycles, so the collector finds nothing in
    them, yet its young-generation passes over millions of new tuples cost a quarter
    of the loop's time (measured in benchmarks/); reference counting still frees
    everything as usual.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
