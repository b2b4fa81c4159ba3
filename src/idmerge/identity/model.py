"""The identity engine's vocabulary: what goes in, what comes out, what is logged.

An ingested event enters as an :class:`Event`. The engine answers each one with a
:class:`Step`: the id to store the event under, the properties to write onto it, and,
for an identity event, the :class:`LogEntry` that records what it did. The identity
log is the ordered sequence of those entries; replaying it rebuilds every cluster.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Iterator, Mapping
from functools import partial
from typing import Any, Final, NamedTuple, TypeVar

_T = TypeVar("_T")


class Mode(enum.StrEnum):
    """A project's identity system, frozen once the project holds data."""

    SIMPLIFIED = "simplified"
    ORIGINAL = "original"
    LEGACY = "legacy"
    CDP = "cdp"


#: The modes that store an event under its ``$user_id``, else ``$device:`` +
#: ``$device_id``; the others read its ``distinct_id``.
DEVICE_ID_MODES: Final = frozenset({Mode.SIMPLIFIED, Mode.CDP})
#: Where a mode that describes its failures writes the reason in plain words.
FAILURE_DESCRIPTION: Final = "$failure_description"


class Outcome(enum.StrEnum):
    """What one identity event did."""

    MERGED = "merged"  # two clusters became one
    LINKED = "linked"  # an anonymous device joined a user's cluster
    NOOP = "noop"  # the ids were already together
    IGNORED = "ignored"  # the mode gives this event no identity meaning
    REFUSED = "refused"  # a rule refused the link or merge; see the reason
    SPLIT = "split"  # an operator undid an event or detached an id
    UNDONE = "undone"  # this event's effect was taken back by a later split


class Reason(enum.StrEnum):
    """Why an identity event was refused or ignored, or what a split did.

    Codes spelled ``errXxx`` are Mixpanel's own and appear on stored events exactly
    as Mixpanel writes them; the snake_case codes are idmerge's.
    """

    SAME_IDS = "errSameIDs"
    ANON_NOT_GUID = "errAnonDistinctIdNonGUIDForm"
    ANON_ASSIGNED_ALREADY = "errAnonDistinctIdAssignedAlready"
    MANY_IDS = "errManyIDs"
    ALIAS_ALREADY_EXISTS = "errAliasAlreadyExists"
    JUNK_ID = "errJunkId"
    MERGE_REQUIRES_IMPORT = "merge_requires_import"
    MISSING_ID = "missing_id"
    INVALID_ID = "invalid_id"
    MERGE_NEEDS_TWO_IDS = "merge_needs_two_ids"
    SIMPLIFIED_IGNORES_EVENT = "mode_simplified_ignores_event"
    LEGACY_IGNORES_EVENT = "mode_legacy_ignores_event"
    CDP_IGNORES_EVENT = "mode_cdp_ignores_event"
    UNDO_EVENT = "split_undo_event"
    DETACH_ID = "split_detach_id"

    @property
    def description(self) -> str:
        """The reason in plain words, as written to ``$failure_description``."""
        return _DESCRIPTIONS[self]


_DESCRIPTIONS: dict[Reason, str] = {
    Reason.SAME_IDS: "$anon_id and $identified_id are the same id",
    Reason.ANON_NOT_GUID: "$anon_id did not match the expected GUID pattern",
    Reason.ANON_ASSIGNED_ALREADY: ("the anonymous id is already merged with an identified user"),
    Reason.MANY_IDS: "the merged cluster would exceed the project's size limit",
    Reason.ALIAS_ALREADY_EXISTS: "this alias already points at another id",
    Reason.JUNK_ID: "a placeholder id (such as 'undefined' or 'null') cannot be merged",
    Reason.MERGE_REQUIRES_IMPORT: "$merge is accepted only through the authenticated /import",
    Reason.MISSING_ID: "an id the identity event needs is missing",
    Reason.INVALID_ID: "an id is not a string, or is longer than the limit",
    Reason.MERGE_NEEDS_TWO_IDS: "$distinct_ids must be a list of exactly two ids",
    Reason.SIMPLIFIED_IGNORES_EVENT: (
        "Simplified ID Merge gives $identify, $create_alias and $merge no meaning; "
        "send $device_id and $user_id on an ordinary event instead"
    ),
    Reason.LEGACY_IGNORES_EVENT: "Legacy ID Management only understands $create_alias",
    Reason.CDP_IGNORES_EVENT: "the cdp mode merges through alias, not $merge",
    Reason.UNDO_EVENT: "an operator undid an identity event",
    Reason.DETACH_ID: "an operator detached an id from its cluster",
}


class Op(enum.IntEnum):
    """The identity operation an event asks for, as kept in the log.

    ``ids`` of a log entry are ordered per operation, the side that names the known
    user (whose resolved id survives a merge) always first:

    - ``LINK``: (user id, ``$device:`` id)
    - ``IDENTIFY``: (``$identified_id``, ``$anon_id``)
    - ``ALIAS``: (existing ``distinct_id``, ``alias``)
    - ``MERGE``: the two ``$distinct_ids`` in the order sent
    - ``FOLD``: (``userId``, then each of ``previousId`` / ``$device:previousId``
      that existed when the alias arrived)
    - ``NONE``: whatever ids the event named; its outcome does not depend on state
    - ``UNDO``: no ids; ``undoes`` holds the sequence numbers taken back
    - ``DETACH``: (the detached id,)
    """

    NONE = 0
    LINK = 1
    IDENTIFY = 2
    ALIAS = 3
    MERGE = 4
    FOLD = 5
    UNDO = 6
    DETACH = 7


STATEFUL_OPS: Final = frozenset({Op.LINK, Op.IDENTIFY, Op.ALIAS, Op.MERGE, Op.FOLD})
SPLIT_OPS: Final = frozenset({Op.UNDO, Op.DETACH})


class Event(NamedTuple):
    """An ingested event as the engine sees it (Mixpanel's shape).

    Segment/Customer.io messages arrive here already translated: ``userId`` as
    ``$user_id``, ``anonymousId`` as ``$device_id``, and an ``alias`` message as a
    ``$create_alias`` event whose ``alias`` is the ``userId`` and whose
    ``distinct_id`` is the ``previousId`` (the form Mixpanel's own destination sends).
    """

    name: str
    properties: Mapping[str, Any]
    time: int = 0  # milliseconds since the epoch, as the event says
    insert_id: str | None = None
    trusted: bool = False  # came through an authenticated path (/import)


class LogEntry(NamedTuple):
    """One identity event (or split) in the project's identity log."""

    seq: int
    op: Op
    ids: tuple[str, ...]
    outcome: Outcome
    reason: Reason | None
    event: str
    insert_id: str | None
    time: int
    undoes: tuple[int, ...] = ()


#: ``new_entry((seq, op, ids, outcome, reason, event, insert_id, time, undoes))`` is
#: ``LogEntry(...)`` without the Python-level ``__new__`` a named tuple has: the engine
#: builds one per logged event, and a rebuild one per stored log row; that call was
#: ~0.2 us of each (a tenth of the cost of logging an event)
new_entry: Final = partial(tuple.__new__, LogEntry)


class LogColumns:
    """Identity-log entries held column by column, one list per field.

    The engine keeps every entry it logs for the life of the server (explain reads
    them), and a log entry is a tuple holding enum members: the garbage collector
    must visit it in every collection for as long as it lives. The fields appended
    to these lists are no container of their own, not even the entry's ids: nearly
    every entry names one or two, kept in two columns (``first_id``, ``second_id``:
    None where it names fewer), so the ``ids`` tuple the engine read them into is
    freed (and reused) at once instead of being walked by the collector's next pass
    (the collector's passes were then a tenth of ``original``'s merge time,
    benchmarks/README.md). What only an undo has is kept by index instead of in a
    column: its ids when it names more than two (``wide``), and the sequence numbers
    it undoes (``undoes``). Reading an entry builds its :class:`LogEntry`.
    """

    __slots__ = (
        "event",
        "first_id",
        "insert_id",
        "op",
        "outcome",
        "reason",
        "second_id",
        "seq",
        "time",
        "undoes",
        "wide",
    )

    def __init__(self) -> None:
        self.seq: list[int] = []
        self.op: list[Op] = []
        self.first_id: list[str | None] = []
        self.second_id: list[str | None] = []
        self.wide: dict[int, tuple[str, ...]] = {}  # index -> the ids, when more than two
        self.outcome: list[Outcome] = []
        self.reason: list[Reason | None] = []
        self.event: list[str] = []
        self.insert_id: list[str | None] = []
        self.time: list[int] = []
        self.undoes: dict[int, tuple[int, ...]] = {}  # index -> what it undoes, if anything

    @classmethod
    def of(cls, entries: Iterable[LogEntry]) -> LogColumns:
        """Columns holding ``entries``, in their order."""
        columns = cls()
        rows = entries if isinstance(entries, list) else list(entries)
        if rows:  # transposed in C: a rebuild reads every stored entry
            fields = [list(column) for column in zip(*rows, strict=True)]
            (
                columns.seq,
                columns.op,
                ids,
                columns.outcome,
                columns.reason,
                columns.event,
                columns.insert_id,
                columns.time,
                undoes,
            ) = fields
            for named in ids:
                columns._add_ids(named)
            columns.undoes = {index: seqs for index, seqs in enumerate(undoes) if seqs}
        return columns

    def add(
        self,
        seq: int,
        op: Op,
        ids: tuple[str, ...],
        outcome: Outcome,
        reason: Reason | None,
        event: str,
        insert_id: str | None,
        time: int,
    ) -> int:
        """Append an entry that undoes nothing (what the engine logs as it applies
        events), given by its fields; answers its index."""
        index = len(self.seq)
        self.seq.append(seq)
        self.op.append(op)
        self._add_ids(ids)
        self.outcome.append(outcome)
        self.reason.append(reason)
        self.event.append(event)
        self.insert_id.append(insert_id)
        self.time.append(time)
        return index

    def _add_ids(self, ids: tuple[str, ...]) -> None:
        """Append the ids of the entry at index ``len(self.first_id)``."""
        count = len(ids)
        if count == 2:  # the usual case first
            self.first_id.append(ids[0])
            self.second_id.append(ids[1])
            return
        if count > 2:
            self.wide[len(self.first_id)] = ids
        self.first_id.append(ids[0] if count else None)
        self.second_id.append(ids[1] if count > 1 else None)

    def ids_at(self, index: int) -> tuple[str, ...]:
        """The ids the entry at ``index`` names."""
        if self.wide:
            wide = self.wide.get(index)
            if wide is not None:
                return wide
        first = self.first_id[index]
        if first is None:
            return ()
        second = self.second_id[index]
        return (first,) if second is None else (first, second)

    def ids(self) -> list[tuple[str, ...]]:
        """Every entry's ids, in order (a tuple each, built now)."""
        return [self.ids_at(index) for index in range(len(self.first_id))]

    def undoes_column(self) -> list[tuple[int, ...]]:
        """What each entry undoes, in order (``()`` for all but undo entries)."""
        undoes = self.undoes
        return [undoes.get(index, ()) for index in range(len(self.seq))]

    def extend(self, other: LogColumns) -> None:
        """Append every entry of ``other``, column by column."""
        offset = len(self.seq)
        self.seq.extend(other.seq)
        self.op.extend(other.op)
        self.first_id.extend(other.first_id)
        self.second_id.extend(other.second_id)
        self.wide.update(_shifted(other.wide, offset))
        self.outcome.extend(other.outcome)
        self.reason.extend(other.reason)
        self.event.extend(other.event)
        self.insert_id.extend(other.insert_id)
        self.time.extend(other.time)
        self.undoes.update(_shifted(other.undoes, offset))

    def since(self, start: int) -> LogColumns:
        """The entries from index ``start`` on, as columns of their own."""
        tail = LogColumns()
        tail.seq = self.seq[start:]
        tail.op = self.op[start:]
        tail.first_id = self.first_id[start:]
        tail.second_id = self.second_id[start:]
        tail.wide = _shifted(self.wide, -start, start)
        tail.outcome = self.outcome[start:]
        tail.reason = self.reason[start:]
        tail.event = self.event[start:]
        tail.insert_id = self.insert_id[start:]
        tail.time = self.time[start:]
        tail.undoes = _shifted(self.undoes, -start, start)
        return tail

    def __len__(self) -> int:
        return len(self.seq)

    def __getitem__(self, index: int) -> LogEntry:
        """The entry at ``index`` (an int; for a range of entries, :meth:`since`)."""
        if not isinstance(index, int):
            raise TypeError(f"log columns are indexed by int, not {type(index).__name__}")
        return LogEntry(
            self.seq[index],
            self.op[index],
            self.ids_at(index),
            self.outcome[index],
            self.reason[index],
            self.event[index],
            self.insert_id[index],
            self.time[index],
            self.undoes.get(index, ()),
        )

    def __iter__(self) -> Iterator[LogEntry]:
        return map(
            new_entry,
            zip(
                self.seq,
                self.op,
                self.ids(),
                self.outcome,
                self.reason,
                self.event,
                self.insert_id,
                self.time,
                self.undoes_column(),
                strict=True,
            ),
        )

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LogColumns):
            return NotImplemented
        return (
            self.seq == other.seq
            and self.op == other.op
            and self.first_id == other.first_id
            and self.second_id == other.second_id
            and self.wide == other.wide
            and self.outcome == other.outcome
            and self.reason == other.reason
            and self.event == other.event
            and self.insert_id == other.insert_id
            and self.time == other.time
            and self.undoes == other.undoes
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"LogColumns({list(self)!r})"


def _shifted(by_index: dict[int, _T], by: int, start: int = 0) -> dict[int, _T]:
    """``by_index``'s items from index ``start`` on, their indexes moved by ``by``."""
    if not by_index:  # nearly always: only undo entries put anything here
        return {}
    return {index + by: value for index, value in by_index.items() if index >= start}


class Resolutions:
    """Ids and the id each resolves to now, as two columns: ``resolved[i]`` is
    ``ids[i]``'s. How the engine hands its changed ids to the writer, which stores
    them column by column too: a pair object per id would only be taken apart again
    (and, while alive, walked by the garbage collector)."""

    __slots__ = ("ids", "resolved")

    def __init__(self, ids: list[str] | None = None, resolved: list[str] | None = None) -> None:
        self.ids: list[str] = [] if ids is None else ids
        self.resolved: list[str] = [] if resolved is None else resolved
        if len(self.ids) != len(self.resolved):
            raise ValueError(f"{len(self.ids)} ids but {len(self.resolved)} resolved ids")

    @classmethod
    def of(cls, pairs: Iterable[tuple[str, str]]) -> Resolutions:
        """The columns of ``(id, resolved id)`` pairs, in their order."""
        rows = list(pairs)
        return cls([pair[0] for pair in rows], [pair[1] for pair in rows])

    def __len__(self) -> int:
        return len(self.ids)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        """``(id, resolved id)`` pairs, in order."""
        return zip(self.ids, self.resolved, strict=True)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Resolutions):
            return NotImplemented
        return self.ids == other.ids and self.resolved == other.resolved

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"Resolutions({list(self)!r})"


class Step(NamedTuple):
    """The engine's answer to one event."""

    distinct_id: str  # the id to store the event under
    annotations: Mapping[str, str]  # properties ingestion writes onto the event
    outcome: Outcome | None = None  # None: the event has no identity meaning
    #: the identity-log entry to persist; None when nothing changed (a ``noop`` that
    #: changed no state, a duplicate delivery, or no identity meaning)
    entry: LogEntry | None = None


#: What a mode reads from an event before consulting any state, as a plain tuple
#: because one is built per event: ``(distinct_id, annotations, op, ids, outcome,
#: reason)``. ``op`` is None when the event has no identity meaning; ``outcome`` and
#: ``reason`` are set only for ``Op.NONE`` (decided without state).
Reading = tuple[
    str,
    Mapping[str, str],
    "Op | None",
    tuple[str, ...],
    "Outcome | None",
    "Reason | None",
]


NO_ANNOTATIONS: Final[Mapping[str, str]] = {}

#: What a mode's ``decide`` answers: the outcome and its reason, or None when the
#: ids were already together and nothing at all changed (nothing to log).
Decision = tuple[Outcome, Reason | None] | None
LINKED: Final[Decision] = (Outcome.LINKED, None)
MERGED: Final[Decision] = (Outcome.MERGED, None)
NOOP: Final[Decision] = (Outcome.NOOP, None)
REFUSED_JUNK: Final[Decision] = (Outcome.REFUSED, Reason.JUNK_ID)
