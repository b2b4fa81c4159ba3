"""The storage seam: what the rest of idmerge asks of an event store.

A backend keeps, per project, the events (each under the id it was stored with),
the identity log, the current id -> resolved-id mapping, the profile updates with
each profile's current state, and the ingestion warnings, and writes a batch of all
of them in one transaction. :class:`~idmerge.storage.memory.MemoryStore` is the
reference backend the fast tests use; :class:`~idmerge.storage.duckdb.DuckDBStore`
is the embedded default. One contract suite runs against both.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

import pyarrow as pa

from idmerge.identity import LogColumns, LogEntry, Resolutions
from idmerge.projects import Project

#: The tables (and their columns) that query SQL may read, as DuckDB declares them in
#: ``duckdb_schema.py``; every backend answers :meth:`Store.query` over these.
QUERY_TABLES = ("events", "identity_log", "identity_mapping", "profile_updates", "profiles")


class StoredEvent(NamedTuple):
    seq: int  # the project's ingestion sequence number
    name: str
    #: the id the event was stored under; readers resolve it through the mapping at
    #: query time, except in ``legacy`` mode, where it was resolved at ingestion and
    #: must not be re-attributed (legacy is not retroactive)
    distinct_id: str
    time: int  # ms since the epoch, as the event says
    insert_id: str | None
    properties: str  # JSON object text, with the engine's annotations
    received_at: int  # ms since the epoch, when the server accepted it


class StoredProfileUpdate(NamedTuple):
    """One profile operation as applied: the append-only source of every profile."""

    seq: int  # the project's ingestion sequence number (shared with events)
    kind: str  # ProfileKind value: "user" or "group"
    group_key: str  # "" for users
    distinct_id: str  # the id the update was sent to
    #: the profile it was applied to: ``distinct_id`` resolved through the identity
    #: engine when the update was applied (groups: ``distinct_id`` itself)
    target: str
    op: str  # ProfileOp value, e.g. "$set"
    value: str  # JSON text of the operation's argument
    time: int  # ms since the epoch ($time, else arrival)
    ignore_time: bool
    received_at: int


class StoredProfile(NamedTuple):
    """A profile's current state: the fold of its updates in ``$time`` order."""

    kind: str
    group_key: str
    target: str  # the id the profile belongs to (see StoredProfileUpdate.target)
    properties: str  # JSON object text; includes $last_seen unless never touched
    deleted: bool  # a $delete was the last word; kept so a later $set starts afresh
    updated_at: int  # ms, the latest update time folded in


class SavedFunnel(NamedTuple):
    """A funnel definition kept for ``/funnels?funnel_id=`` (Mixpanel saves funnels in
    its UI; idmerge through its own API)."""

    funnel_id: int  # unique across projects, as Mixpanel's are
    name: str
    steps: str  # JSON text: [{"event": name, "where": expression or null}, ...]
    length: int  # the conversion window, in length_unit
    length_unit: str  # second | minute | hour | day
    created_at: int  # ms since the epoch


class IngestionWarning(NamedTuple):
    """A rejected event or profile update, or a refused identity event, with why."""

    seq: int  # from the project's ingestion sequence; newest first = highest seq
    received_at: int  # ms since the epoch
    endpoint: str  # e.g. "/import", "/track", "/v1/batch"
    #: the stored event's seq when the event was stored (a refused identity event);
    #: None when the record was rejected and not stored
    event_seq: int | None
    record_index: int | None  # the record's position in its request
    insert_id: str | None
    distinct_id: str | None
    event: str | None  # the event name, when there was one
    field: str | None  # the offending field, e.g. "properties.time"
    reason: str  # a reason code (errJunkId, ...) or a validation code
    message: str  # plain words naming the problem
    payload: str | None  # the record as received (JSON text, cut to 4 KiB)


@dataclass(slots=True)
class WriteBatch:
    """What one transaction writes for one project."""

    events: list[StoredEvent] = field(default_factory=list)
    log: LogColumns = field(default_factory=LogColumns)  # as the engine hands it over
    #: the ids whose resolution changed, and their resolved ids; an id resolving to
    #: itself has no row.
    mapping: Resolutions = field(default_factory=Resolutions)
    #: drop the project's whole mapping before writing ``mapping`` (after a split)
    replace_mapping: bool = False
    profile_updates: list[StoredProfileUpdate] = field(default_factory=list)
    #: the new state of every profile the batch changed, replacing the row with the
    #: same (kind, group_key, target); within a batch the last one for a key wins
    profiles: list[StoredProfile] = field(default_factory=list)
    warnings: list[IngestionWarning] = field(default_factory=list)


def rows(store: Store, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """The rows of a read-only query (:meth:`Store.query`), as tuples: for the small
    answers readers shape in Python."""
    found: list[tuple[Any, ...]] = []
    for batch in store.query(sql, params):
        found.extend(zip(*(column.to_pylist() for column in batch.columns), strict=True))
    return found


class Store(Protocol):
    def projects(self) -> list[Project]: ...

    def save_project(self, project: Project) -> None:
        """Insert the project, or replace the row with the same id."""

    def holds_data(self, project_id: int) -> bool:
        """True once any event, identity-log entry or profile update was written for
        the project (its mode is frozen from then on); warnings alone do not count."""

    def last_seq(self, project_id: int) -> int:
        """The highest sequence number written for the project (events, log entries,
        profile updates, warnings), or -1."""

    def commit(self, project_id: int, batch: WriteBatch) -> None:
        """Write the whole batch, or nothing of it."""

    def prepare_writes(self, project_id: int) -> None:
        """Read what writing the project needs in memory (its id keys), which the
        first commit would otherwise read: a server calls it at start."""

    def read_log(self, project_id: int) -> Iterator[LogEntry]:
        """The identity log, in sequence order."""

    def read_mapping(self, project_id: int) -> Iterator[tuple[str, str]]: ...

    def read_events(self, project_id: int) -> Iterator[StoredEvent]:
        """Every stored event, in sequence order (duplicates included)."""

    def read_events_deduplicated(self, project_id: int) -> Iterator[StoredEvent]:
        """The events queries count, in sequence order: of the events sharing
        ``(name, distinct_id, time, insert_id)`` only the one stored last (highest seq);
        an event without an insert_id is never a duplicate."""

    def distinct_ids(self, project_id: int) -> Iterator[str]:
        """Every id some event was stored under."""

    def read_profile_updates(self, project_id: int) -> Iterator[StoredProfileUpdate]:
        """Every profile update, in sequence order."""

    def read_profiles(self, project_id: int) -> Iterator[StoredProfile]:
        """Every profile's current state (deleted ones included), ordered by (kind,
        group_key, target)."""

    def read_warnings(
        self,
        project_id: int,
        *,
        limit: int | None = None,
        before_seq: int | None = None,
        reason: str | None = None,
    ) -> list[IngestionWarning]:
        """Ingestion warnings, newest (highest seq) first; ``before_seq`` pages on;
        ``reason`` keeps only the warnings with that reason code."""

    def save_funnel(
        self, project_id: int, name: str, steps: str, length: int, length_unit: str, now: int
    ) -> SavedFunnel:
        """Keep a new funnel definition under the next free ``funnel_id``."""

    def saved_funnels(self, project_id: int) -> list[SavedFunnel]:
        """The project's funnels, by ``funnel_id``."""

    def delete_funnel(self, project_id: int, funnel_id: int) -> bool:
        """Forget a funnel; False when the project has none with that id."""

    def query(self, sql: str, params: dict[str, Any] | None = None) -> Iterator[pa.RecordBatch]:
        """Run a read-only DuckDB query over the tables ``QUERY_TABLES`` names (each
        with its ``project_id`` column) and stream its result as Arrow batches, from
        one consistent snapshot that concurrent commits do not disturb."""

    def close(self) -> None: ...
