"""The DuckDB store's tables and their Arrow shapes, and the conversions between
rows and Arrow batches (``duckdb.py`` holds the store that uses them)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from idmerge.identity import LogColumns, LogEntry, Op, Outcome, Reason, Resolutions, new_entry

#: 2 added profile_updates, profiles and ingestion_warnings; 3 the index on
#: events.distinct_id; 4 saved_funnels; 5 the ids' integer keys (identity_keys,
#: events.id_key, identity_mapping.id_key and resolved_key). Tables and indexes a
#: version adds, ``CREATE ... IF NOT EXISTS`` brings to an older file; the columns of
#: version 5 are added and filled by the steps below :data:`KEY_COLUMNS`. So opening
#: an older file upgrades it in place (the version is written last: an interrupted
#: upgrade goes on at the next opening). A file written by a newer idmerge is refused
#: rather than misread.
SCHEMA_VERSION = 5

META_SQL = (
    "CREATE TABLE IF NOT EXISTS idmerge_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)"
)
SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS projects (
    id INTEGER PRIMARY KEY,
    name VARCHAR NOT NULL,  -- unique, as are token and secret: create_project checks
    token VARCHAR NOT NULL,
    secret VARCHAR NOT NULL,
    mode VARCHAR NOT NULL,
    created_at BIGINT NOT NULL,
    max_cluster_ids INTEGER,
    max_merges INTEGER,
    junk_ids VARCHAR[]
);
CREATE TABLE IF NOT EXISTS events (
    project_id INTEGER NOT NULL,
    seq BIGINT NOT NULL,
    event VARCHAR NOT NULL,
    distinct_id VARCHAR NOT NULL,
    time BIGINT NOT NULL,
    insert_id VARCHAR,
    properties VARCHAR NOT NULL,
    received_at BIGINT NOT NULL,
    id_key INTEGER  -- distinct_id's key in identity_keys (always set; see below)
);
-- One person's activity is a look-up by the ids of their cluster: without this index
-- it scans every event (measured: ~19 ms per 1M events), with it ~1 ms at any size;
-- it costs ~20% more time inserting events (measured: 600k events in 300 commits).
CREATE INDEX IF NOT EXISTS events_distinct_id ON events (distinct_id);
CREATE TABLE IF NOT EXISTS identity_log (
    project_id INTEGER NOT NULL,
    seq BIGINT NOT NULL,
    op TINYINT NOT NULL,
    ids VARCHAR[] NOT NULL,
    outcome VARCHAR NOT NULL,
    reason VARCHAR,
    event VARCHAR NOT NULL,
    insert_id VARCHAR,
    time BIGINT NOT NULL,
    undoes BIGINT[]
);
CREATE TABLE IF NOT EXISTS identity_mapping (
    project_id INTEGER NOT NULL,
    distinct_id VARCHAR NOT NULL,
    resolved_distinct_id VARCHAR NOT NULL,
    id_key INTEGER,  -- the keys of distinct_id and resolved_distinct_id (always set)
    resolved_key INTEGER
);
-- Every id of a project (stored under by an event, or named by the mapping) has a
-- dense integer key, 0, 1, 2, ... in the order the store first met it (a file
-- upgraded from schema 4 gives the ids it held then in id order). Reports join
-- events to the mapping and count people on these keys instead of the id strings:
-- measured on 10M events over 2M ids, that made them a third to a half faster
-- (benchmarks/README.md).
CREATE TABLE IF NOT EXISTS identity_keys (
    project_id INTEGER NOT NULL,
    distinct_id VARCHAR NOT NULL,
    key INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS profile_updates (  -- append-only, the source of profiles
    project_id INTEGER NOT NULL,
    seq BIGINT NOT NULL,
    kind VARCHAR NOT NULL,
    group_key VARCHAR NOT NULL,
    distinct_id VARCHAR NOT NULL,
    target VARCHAR NOT NULL,
    op VARCHAR NOT NULL,
    value VARCHAR NOT NULL,
    time BIGINT NOT NULL,
    ignore_time BOOLEAN NOT NULL,
    received_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS profiles (  -- one row per (project_id, kind, group_key, target)
    project_id INTEGER NOT NULL,
    kind VARCHAR NOT NULL,
    group_key VARCHAR NOT NULL,
    target VARCHAR NOT NULL,
    properties VARCHAR NOT NULL,
    deleted BOOLEAN NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE SEQUENCE IF NOT EXISTS funnel_ids;  -- a deleted funnel's id is never reused
CREATE TABLE IF NOT EXISTS saved_funnels (
    funnel_id INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    name VARCHAR NOT NULL,
    steps VARCHAR NOT NULL,  -- JSON: [{"event", "where"}, ...]
    length INTEGER NOT NULL,
    length_unit VARCHAR NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS ingestion_warnings (
    project_id INTEGER NOT NULL,
    seq BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    endpoint VARCHAR NOT NULL,
    event_seq BIGINT,
    record_index INTEGER,
    insert_id VARCHAR,
    distinct_id VARCHAR,
    event VARCHAR,
    field VARCHAR,
    reason VARCHAR NOT NULL,
    message VARCHAR NOT NULL,
    payload VARCHAR
);
"""

#: Upgrading a file of schema 4 or older to 5, in steps that can each be run again:
#: the key columns (:data:`KEY_COLUMNS`, added where missing), then a key for every id
#: without one (in id order, after the project's highest key), then the keys of the
#: rows that have none, events a range of ``seq`` at a time.
KEY_COLUMNS = (
    ("events", "id_key"),
    ("identity_mapping", "id_key"),
    ("identity_mapping", "resolved_key"),
)
GIVE_KEYS_SQL = """
INSERT INTO identity_keys
SELECT n.project_id, n.distinct_id, (coalesce(k.top, -1)
       + row_number() OVER (PARTITION BY n.project_id ORDER BY n.distinct_id))::INTEGER
FROM (SELECT project_id, distinct_id FROM events
      UNION SELECT project_id, distinct_id FROM identity_mapping
      UNION SELECT project_id, resolved_distinct_id FROM identity_mapping) n
LEFT JOIN (SELECT project_id, max(key) AS top FROM identity_keys GROUP BY project_id) k
  ON k.project_id = n.project_id
WHERE NOT EXISTS (SELECT 1 FROM identity_keys i
                  WHERE i.project_id = n.project_id AND i.distinct_id = n.distinct_id)
"""
KEY_EVENTS_SQL = """
UPDATE events SET id_key = k.key FROM identity_keys k
WHERE k.project_id = events.project_id AND k.distinct_id = events.distinct_id
  AND events.project_id = $p AND events.seq >= $first AND events.seq < $end
  AND events.id_key IS NULL
"""
KEY_MAPPING_SQL = """
UPDATE identity_mapping SET id_key = k.key, resolved_key = r.key
FROM identity_keys k, identity_keys r
WHERE k.project_id = identity_mapping.project_id
  AND k.distinct_id = identity_mapping.distinct_id
  AND r.project_id = identity_mapping.project_id
  AND r.distinct_id = identity_mapping.resolved_distinct_id
  AND (identity_mapping.id_key IS NULL OR identity_mapping.resolved_key IS NULL)
"""
#: Events keyed per transaction while upgrading: one transaction for all of them
#: ran out of memory under a ``memory_limit`` of 512 MB on 10M events.
KEY_EVENTS_PER_STEP = 1_000_000

EVENT_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("event", pa.string()),
        ("distinct_id", pa.string()),
        ("time", pa.int64()),
        ("insert_id", pa.string()),
        ("properties", pa.string()),
        ("received_at", pa.int64()),
    ]
)
LOG_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("op", pa.int8()),
        ("ids", pa.list_(pa.string())),
        ("outcome", pa.string()),
        ("reason", pa.string()),
        ("event", pa.string()),
        ("insert_id", pa.string()),
        ("time", pa.int64()),
        ("undoes", pa.list_(pa.int64())),
    ]
)
#: the events table (without project_id): a stored event and its id's key
EVENT_TABLE_SCHEMA = EVENT_SCHEMA.append(pa.field("id_key", pa.int32()))
#: the identity_mapping table (without project_id)
MAPPING_TABLE_SCHEMA = pa.schema(
    [
        ("distinct_id", pa.string()),
        ("resolved_distinct_id", pa.string()),
        ("id_key", pa.int32()),
        ("resolved_key", pa.int32()),
    ]
)
KEYS_SCHEMA = pa.schema([("distinct_id", pa.string()), ("key", pa.int32())])
UPDATE_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("kind", pa.string()),
        ("group_key", pa.string()),
        ("distinct_id", pa.string()),
        ("target", pa.string()),
        ("op", pa.string()),
        ("value", pa.string()),
        ("time", pa.int64()),
        ("ignore_time", pa.bool_()),
        ("received_at", pa.int64()),
    ]
)
PROFILE_SCHEMA = pa.schema(
    [
        ("kind", pa.string()),
        ("group_key", pa.string()),
        ("target", pa.string()),
        ("properties", pa.string()),
        ("deleted", pa.bool_()),
        ("updated_at", pa.int64()),
    ]
)
WARNING_SCHEMA = pa.schema(
    [
        ("seq", pa.int64()),
        ("received_at", pa.int64()),
        ("endpoint", pa.string()),
        ("event_seq", pa.int64()),
        ("record_index", pa.int32()),
        ("insert_id", pa.string()),
        ("distinct_id", pa.string()),
        ("event", pa.string()),
        ("field", pa.string()),
        ("reason", pa.string()),
        ("message", pa.string()),
        ("payload", pa.string()),
    ]
)
EVENT_COLUMNS = "seq, event, distinct_id, time, insert_id, properties, received_at"
UPDATE_COLUMNS = ", ".join(UPDATE_SCHEMA.names)
PROFILE_COLUMNS = ", ".join(PROFILE_SCHEMA.names)
WARNING_COLUMNS = ", ".join(WARNING_SCHEMA.names)


def rows_table(rows: list[Any], schema: pa.Schema) -> pa.Table:
    """An Arrow table of named-tuple rows whose fields are ``schema``'s columns."""
    if not rows:
        return schema.empty_table()
    columns = list(zip(*rows, strict=True))
    return pa.table(
        [pa.array(c, f.type) for c, f in zip(columns, schema, strict=True)], schema=schema
    )


class IdKeys:
    """The integer keys of one project's ids (the ``identity_keys`` table): dense, 0,
    1, 2, ... in the order writes first name the ids. A write's new ids get their
    keys at once and are listed in :attr:`fresh` until the write is stored."""

    def __init__(self, known: dict[str, int]) -> None:
        self.known = known
        #: the ids given keys by the write under way, in key order
        self.fresh: list[str] = []

    def column(self, ids: list[str]) -> pa.Array:
        """The keys of ``ids``, in order, giving new ones where needed."""
        known = self.known
        new = [x for x in ids if x not in known]
        if new:
            new = list(dict.fromkeys(new))  # once each, in first-met order
            known.update(zip(new, range(len(known), len(known) + len(new)), strict=True))
            self.fresh += new
        return pa.array([known[x] for x in ids], pa.int32())

    def fresh_table(self) -> pa.Table:
        first = len(self.known) - len(self.fresh)
        return pa.table(
            [
                pa.array(self.fresh, pa.string()),
                pa.array(range(first, len(self.known)), pa.int32()),
            ],
            schema=KEYS_SCHEMA,
        )


def events_table(events: list[Any], keys: IdKeys) -> pa.Table:
    """Rows of ``events`` (without project_id) for stored events, with their ids' keys."""
    return with_id_keys(rows_table(events, EVENT_SCHEMA), events, keys)


def with_id_keys(table: pa.Table, events: list[Any], keys: IdKeys) -> pa.Table:
    """``table``, the rows of ``events``, with their ids' keys: the part of
    :func:`events_table` that needs the keys (a commit builds the rest unlocked)."""
    return table.append_column("id_key", keys.column([event.distinct_id for event in events]))


def mapping_table(mapping: Resolutions, keys: IdKeys) -> pa.Table:
    """Rows of ``identity_mapping`` (without project_id)."""
    ids, resolved = mapping.ids, mapping.resolved
    return pa.table(
        [
            pa.array(ids, pa.string()),
            pa.array(resolved, pa.string()),
            keys.column(ids),
            keys.column(resolved),
        ],
        schema=MAPPING_TABLE_SCHEMA,
    )


def log_table(entries: LogColumns) -> pa.Table:
    """Rows of ``identity_log`` (without project_id), from the log's own columns."""
    return pa.table(
        [
            pa.array(entries.seq, pa.int64()),
            pa.array([int(op) for op in entries.op], pa.int8()),
            pa.array(entries.ids(), pa.list_(pa.string())),
            pa.array([outcome.value for outcome in entries.outcome], pa.string()),
            pa.array([None if r is None else r.value for r in entries.reason], pa.string()),
            pa.array(entries.event, pa.string()),
            pa.array(entries.insert_id, pa.string()),
            pa.array(entries.time, pa.int64()),
            pa.array([list(u) if u else None for u in entries.undoes_column()]),
        ],
        schema=LOG_SCHEMA,
    )


_OPS = {int(op): op for op in Op}
_OUTCOMES = {o.value: o for o in Outcome}
_REASONS: dict[str | None, Reason | None] = {r.value: r for r in Reason}
_REASONS[None] = None


def log_entries(batch: pa.RecordBatch) -> Iterator[LogEntry]:
    """Decode a batch of log rows column by column (a rebuild reads every row, and a
    row-by-row conversion was several times slower)."""
    ids_column = batch.column(2)
    flat = ids_column.flatten().to_pylist()  # the rows' ids, one after the other
    ids: list[tuple[str, ...]] | zip[tuple[str, str]]
    lengths = pc.min_max(pc.list_value_length(ids_column)).as_py()
    if lengths == {"min": 2, "max": 2}:
        ids = zip(flat[0::2], flat[1::2], strict=True)  # every entry names two ids, as most do
    else:
        offsets = ids_column.offsets.to_pylist()  # into the whole array's values
        start = offsets[0]
        ids = [tuple(flat[a - start : b - start]) for a, b in itertools.pairwise(offsets)]
    undoes_column = batch.column(8)
    undoes: list[tuple[int, ...]] = (
        [()] * len(batch)
        if undoes_column.null_count == len(batch)
        else [() if u is None else tuple(u) for u in undoes_column.to_pylist()]
    )
    ops = [_OPS[o] for o in batch.column(1).to_pylist()]
    outcomes = [_OUTCOMES[o] for o in batch.column(3).to_pylist()]
    reasons = [_REASONS[r] for r in batch.column(4).to_pylist()]
    return map(
        new_entry,
        zip(
            batch.column(0).to_pylist(),
            ops,
            ids,
            outcomes,
            reasons,
            batch.column(5).to_pylist(),
            batch.column(6).to_pylist(),
            batch.column(7).to_pylist(),
            undoes,
            strict=True,
        ),
    )
