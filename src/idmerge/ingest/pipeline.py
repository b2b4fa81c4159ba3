"""One project's write path: number the events, apply the identity engine, commit.

The engine's state advances in memory as events are applied; the batch's events,
identity-log entries and mapping changes are then committed in one transaction. If
anything on the way fails, the engine is rebuilt from the store, so memory never runs
ahead of what is durable.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from idmerge.errors import SplitRefused
from idmerge.identity import (
    Applied,
    Event,
    IdentityEngine,
    LogEntry,
    Mode,
    paused_gc,
    split_entry,
)
from idmerge.projects import Project
from idmerge.storage.base import Store, StoredEvent, WriteBatch

#: Properties that identify the sender, not the event; never stored.
_NOT_STORED = frozenset({"token"})


def _properties_json(event: Event, annotations: Mapping[str, str]) -> str:
    """The event's properties as stored: what was sent, less the token, plus the
    engine's annotations."""
    properties = {k: v for k, v in event.properties.items() if k not in _NOT_STORED}
    properties.update(annotations)
    return json.dumps(properties, ensure_ascii=False, separators=(",", ":"))


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


class ProjectWriter:
    """The single writer of one project: owns its identity engine and sequence."""

    def __init__(self, store: Store, project: Project) -> None:
        self.store = store
        self.project = project
        self._reload()

    def _reload(self) -> None:
        self.engine = load_engine(self.store, self.project)
        self._next_seq = self.store.last_seq(self.project.id) + 1

    @property
    def next_seq(self) -> int:
        """The sequence number the next event (or split) will get."""
        return self._next_seq

    def ingest(self, events: Sequence[Event], *, received_at: int) -> Applied:
        """Apply and durably store ``events``, in order; answer what the engine did.

        Should anything fail on the way (an event the engine or the JSON encoder
        chokes on, a refused commit), nothing of the batch is stored and the engine
        is rebuilt from the store, so memory never runs ahead of the disk.
        """
        first = self._next_seq
        with self._all_or_nothing():
            applied = self.engine.apply_many(events, first)
            stored = [
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
            ]
            self.store.commit(
                self.project.id, WriteBatch(stored, applied.entries, self.engine.drain_changes())
            )
        self._next_seq = first + len(events)
        return applied

    def split(
        self,
        *,
        time: int,
        insert_id: str | None = None,
        event_seq: int | None = None,
        detach: str | None = None,
    ) -> SplitResult:
        """Undo one identity event, or detach one id, and rebuild every cluster."""
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
        affected = {x for distinct_id in entry.ids for x in self.engine.cluster(distinct_id)}
        rebuilt = IdentityEngine.replay(
            self.project.policy(), [*log, entry], seen_ids=self.engine.seen_ids
        )
        batch = WriteBatch(log=[entry], mapping=list(rebuilt.mapping()), replace_mapping=True)
        with self._all_or_nothing():
            self.store.commit(self.project.id, batch)
        self.engine = rebuilt
        self._next_seq += 1
        return SplitResult(entry, {x: rebuilt.cluster(x) for x in sorted(affected)})

    @contextmanager
    def _all_or_nothing(self) -> Iterator[None]:
        """On any failure inside, rebuild the engine from the store and re-raise."""
        try:
            yield
        except BaseException:
            self._reload()
            raise
