"""The reference store: plain Python containers, for fast tests and as the contract."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from idmerge.identity import LogEntry
from idmerge.projects import Project
from idmerge.storage.base import StoredEvent, WriteBatch


@dataclass
class _ProjectData:
    events: list[StoredEvent] = field(default_factory=list)
    log: list[LogEntry] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)


class MemoryStore:
    def __init__(self) -> None:
        self._projects: dict[int, Project] = {}
        self._data: dict[int, _ProjectData] = {}

    def projects(self) -> list[Project]:
        return sorted(self._projects.values(), key=lambda p: p.id)

    def save_project(self, project: Project) -> None:
        self._projects[project.id] = project
        self._data.setdefault(project.id, _ProjectData())

    def holds_data(self, project_id: int) -> bool:
        data = self._data.get(project_id)
        return data is not None and bool(data.events or data.log)

    def last_seq(self, project_id: int) -> int:
        data = self._data.get(project_id)
        if data is None:
            return -1
        seqs = [e.seq for e in data.events[-1:]] + [e.seq for e in data.log[-1:]]
        return max(seqs, default=-1)

    def commit(self, project_id: int, batch: WriteBatch) -> None:
        data = self._data[project_id]
        _check(batch)
        mapping = {} if batch.replace_mapping else dict(data.mapping)
        for distinct_id, resolved in batch.mapping:
            if distinct_id == resolved:
                mapping.pop(distinct_id, None)
            else:
                mapping[distinct_id] = resolved
        # Nothing above can fail half-way through the writes below.
        data.events.extend(batch.events)
        data.log.extend(batch.log)
        data.mapping = mapping

    def read_log(self, project_id: int) -> Iterator[LogEntry]:
        return iter(sorted(self._data[project_id].log, key=lambda e: e.seq))

    def read_mapping(self, project_id: int) -> Iterator[tuple[str, str]]:
        return iter(sorted(self._data[project_id].mapping.items()))

    def read_events(self, project_id: int) -> Iterator[StoredEvent]:
        return iter(sorted(self._data[project_id].events, key=lambda e: e.seq))

    def distinct_ids(self, project_id: int) -> Iterator[str]:
        return iter({e.distinct_id for e in self._data[project_id].events})

    def close(self) -> None:
        pass


def _check(batch: WriteBatch) -> None:
    """Refuse the rows the DuckDB schema refuses, before anything is written."""
    for event in batch.events:
        if not isinstance(event.name, str) or not isinstance(event.distinct_id, str):
            raise ValueError(f"event {event.seq}: name and distinct_id must be strings")
    for entry in batch.log:
        if not isinstance(entry.event, str):
            raise ValueError(f"identity log entry {entry.seq}: event must be a string")
