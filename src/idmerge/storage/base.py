"""The storage seam: what the rest of idmerge asks of an event store.

A backend keeps, per project, the events (each under the id it was stored with),
the identity log, and the current id -> resolved-id mapping, and writes a batch of
all three in one transaction. :class:`~idmerge.storage.memory.MemoryStore` is the
reference backend the fast tests use; :class:`~idmerge.storage.duckdb.DuckDBStore`
is the embedded default. One contract suite runs against both.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

from idmerge.identity import LogEntry
from idmerge.projects import Project


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


@dataclass(slots=True)
class WriteBatch:
    """What one transaction writes for one project."""

    events: list[StoredEvent] = field(default_factory=list)
    log: list[LogEntry] = field(default_factory=list)
    #: ``(id, resolved id)`` of ids whose resolution changed; an id resolving to itself
    #: has no row.
    mapping: list[tuple[str, str]] = field(default_factory=list)
    #: drop the project's whole mapping before writing ``mapping`` (after a split)
    replace_mapping: bool = False


class Store(Protocol):
    def projects(self) -> list[Project]: ...

    def save_project(self, project: Project) -> None:
        """Insert the project, or replace the row with the same id."""

    def holds_data(self, project_id: int) -> bool:
        """True once any event or identity-log entry was written for the project."""

    def last_seq(self, project_id: int) -> int:
        """The highest sequence number written for the project, or -1."""

    def commit(self, project_id: int, batch: WriteBatch) -> None:
        """Write the whole batch, or nothing of it."""

    def read_log(self, project_id: int) -> Iterator[LogEntry]:
        """The identity log, in sequence order."""

    def read_mapping(self, project_id: int) -> Iterator[tuple[str, str]]: ...

    def read_events(self, project_id: int) -> Iterator[StoredEvent]:
        """Every stored event, in sequence order (duplicates included)."""

    def distinct_ids(self, project_id: int) -> Iterator[str]:
        """Every id some event was stored under."""

    def close(self) -> None: ...
