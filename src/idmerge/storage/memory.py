"""The reference store: plain Python containers, for fast tests and as the contract."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa

from idmerge.identity import LogColumns, LogEntry, Resolutions
from idmerge.projects import Project
from idmerge.storage.base import (
    QUERY_TABLES,
    IngestionWarning,
    SavedFunnel,
    StoredEvent,
    StoredProfile,
    StoredProfileUpdate,
    WriteBatch,
)
from idmerge.storage.duckdb_schema import (
    EVENT_TABLE_SCHEMA,
    LOG_SCHEMA,
    MAPPING_TABLE_SCHEMA,
    PROFILE_SCHEMA,
    UPDATE_SCHEMA,
    IdKeys,
    events_table,
    log_table,
    mapping_table,
    rows_table,
)

ProfileKey = tuple[str, str, str]  # (kind, group_key, target)
#: the schema of each of ``QUERY_TABLES``, without its project_id column
_QUERY_SCHEMAS = dict(
    zip(
        QUERY_TABLES,
        (EVENT_TABLE_SCHEMA, LOG_SCHEMA, MAPPING_TABLE_SCHEMA, UPDATE_SCHEMA, PROFILE_SCHEMA),
        strict=True,
    )
)


@dataclass
class _ProjectData:
    events: list[StoredEvent] = field(default_factory=list)
    log: list[LogEntry] = field(default_factory=list)
    mapping: dict[str, str] = field(default_factory=dict)
    profile_updates: list[StoredProfileUpdate] = field(default_factory=list)
    profiles: dict[ProfileKey, StoredProfile] = field(default_factory=dict)
    warnings: list[IngestionWarning] = field(default_factory=list)


class MemoryStore:
    def __init__(self) -> None:
        self._projects: dict[int, Project] = {}
        self._data: dict[int, _ProjectData] = {}
        self._funnels: dict[int, tuple[int, SavedFunnel]] = {}  # funnel_id -> (project, it)
        self._last_funnel_id = 0

    def projects(self) -> list[Project]:
        return sorted(self._projects.values(), key=lambda p: p.id)

    def save_project(self, project: Project) -> None:
        self._projects[project.id] = project
        self._data.setdefault(project.id, _ProjectData())

    def holds_data(self, project_id: int) -> bool:
        data = self._data.get(project_id)
        return data is not None and bool(data.events or data.log or data.profile_updates)

    def last_seq(self, project_id: int) -> int:
        data = self._data.get(project_id)
        if data is None:
            return -1
        rows: Iterable[Any] = itertools.chain(
            data.events, data.log, data.profile_updates, data.warnings
        )
        return max((row.seq for row in rows), default=-1)

    def commit(self, project_id: int, batch: WriteBatch) -> None:
        data = self._data[project_id]
        _check(batch)
        mapping = {} if batch.replace_mapping else dict(data.mapping)
        for distinct_id, resolved in batch.mapping:
            if distinct_id == resolved:
                mapping.pop(distinct_id, None)
            else:
                mapping[distinct_id] = resolved
        profiles = dict(data.profiles)
        for profile in batch.profiles:
            profiles[profile.kind, profile.group_key, profile.target] = profile
        # Nothing above can fail half-way through the writes below.
        data.events.extend(batch.events)
        data.log.extend(batch.log)
        data.mapping = mapping
        data.profile_updates.extend(batch.profile_updates)
        data.profiles = profiles
        data.warnings.extend(batch.warnings)

    def prepare_writes(self, project_id: int) -> None:
        pass  # nothing is read: keys are given when a query copies the rows

    def read_log(self, project_id: int) -> Iterator[LogEntry]:
        return iter(sorted(self._data[project_id].log, key=lambda e: e.seq))

    def read_mapping(self, project_id: int) -> Iterator[tuple[str, str]]:
        return iter(sorted(self._data[project_id].mapping.items()))

    def read_events(self, project_id: int) -> Iterator[StoredEvent]:
        return iter(sorted(self._data[project_id].events, key=lambda e: e.seq))

    def read_events_deduplicated(self, project_id: int) -> Iterator[StoredEvent]:
        kept: dict[object, StoredEvent] = {}
        for event in self.read_events(project_id):
            # in seq order, so a later duplicate replaces the kept one; an event
            # without an insert_id is keyed by its own seq, which no other event has
            key = (
                ("seq", event.seq)
                if event.insert_id is None
                else (event.name, event.distinct_id, event.time, event.insert_id)
            )
            kept.pop(key, None)
            kept[key] = event
        return iter(sorted(kept.values(), key=lambda e: e.seq))

    def distinct_ids(self, project_id: int) -> Iterator[str]:
        return iter({e.distinct_id for e in self._data[project_id].events})

    def read_profile_updates(self, project_id: int) -> Iterator[StoredProfileUpdate]:
        return iter(sorted(self._data[project_id].profile_updates, key=lambda u: u.seq))

    def read_profiles(self, project_id: int) -> Iterator[StoredProfile]:
        profiles = self._data[project_id].profiles
        return iter([profiles[key] for key in sorted(profiles)])

    def read_warnings(
        self,
        project_id: int,
        *,
        limit: int | None = None,
        before_seq: int | None = None,
        reason: str | None = None,
    ) -> list[IngestionWarning]:
        warnings = sorted(self._data[project_id].warnings, key=lambda w: w.seq, reverse=True)
        if before_seq is not None:
            warnings = [w for w in warnings if w.seq < before_seq]
        if reason is not None:
            warnings = [w for w in warnings if w.reason == reason]
        return warnings if limit is None else warnings[: max(limit, 0)]

    def save_funnel(
        self, project_id: int, name: str, steps: str, length: int, length_unit: str, now: int
    ) -> SavedFunnel:
        funnel_id = self._last_funnel_id = self._last_funnel_id + 1  # never reused
        funnel = SavedFunnel(funnel_id, name, steps, length, length_unit, now)
        self._funnels[funnel_id] = (project_id, funnel)
        return funnel

    def saved_funnels(self, project_id: int) -> list[SavedFunnel]:
        return [f for pid, f in sorted(self._funnels.values()) if pid == project_id]

    def delete_funnel(self, project_id: int, funnel_id: int) -> bool:
        found = self._funnels.get(funnel_id)
        if found is None or found[0] != project_id:
            return False
        del self._funnels[funnel_id]
        return True

    def query(self, sql: str, params: dict[str, Any] | None = None) -> Iterator[pa.RecordBatch]:
        """The query run by an in-memory DuckDB over Arrow copies of the lists: the
        same SQL, the same answers as the embedded store."""
        tables = self._arrow_tables()
        con = duckdb.connect()
        try:
            for name, table in tables.items():
                con.register(name, table)
            reader = con.sql(sql, params=params or {}).to_arrow_reader(1 << 16)
            yield from reader
        finally:
            con.close()

    def _arrow_tables(self) -> dict[str, pa.Table]:
        """Every project's rows as the DuckDB store's tables (with ``project_id``)."""
        project_id = pa.field("project_id", pa.int32())
        parts = {
            name: [schema.insert(0, project_id).empty_table()]
            for name, schema in _QUERY_SCHEMAS.items()
        }
        for pid, data in sorted(self._data.items()):
            keys = IdKeys({})  # any one key per id will do: queries only join on them
            for name, table in (
                ("events", events_table(data.events, keys)),
                ("identity_log", log_table(LogColumns.of(data.log))),
                (
                    "identity_mapping",
                    mapping_table(Resolutions.of(sorted(data.mapping.items())), keys),
                ),
                ("profile_updates", rows_table(data.profile_updates, UPDATE_SCHEMA)),
                ("profiles", rows_table(list(data.profiles.values()), PROFILE_SCHEMA)),
            ):
                parts[name].append(
                    table.add_column(0, project_id, pa.array([pid] * len(table), pa.int32()))
                )
        return {name: pa.concat_tables(found) for name, found in parts.items()}

    def close(self) -> None:
        pass


#: Per row type, the fields the DuckDB schema declares NOT NULL VARCHAR.
_REQUIRED_TEXT: dict[str, tuple[str, ...]] = {
    "profile update": ("kind", "group_key", "distinct_id", "target", "op", "value"),
    "profile": ("kind", "group_key", "target", "properties"),
    "warning": ("endpoint", "reason", "message"),
}


def _check(batch: WriteBatch) -> None:
    """Refuse the rows the DuckDB schema refuses, before anything is written."""
    for event in batch.events:
        if not isinstance(event.name, str) or not isinstance(event.distinct_id, str):
            raise ValueError(f"event {event.seq}: name and distinct_id must be strings")
    for entry in batch.log:
        if not isinstance(entry.event, str):
            raise ValueError(f"identity log entry {entry.seq}: event must be a string")
    parts: tuple[tuple[str, Iterable[Any]], ...] = (
        ("profile update", batch.profile_updates),
        ("profile", batch.profiles),
        ("warning", batch.warnings),
    )
    for what, rows in parts:
        for row in rows:
            for name in _REQUIRED_TEXT[what]:
                if not isinstance(getattr(row, name), str):
                    raise ValueError(f"{what} {row}: {name} must be a string")
