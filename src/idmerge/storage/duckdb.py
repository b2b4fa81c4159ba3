"""The embedded default store: one DuckDB file, written through Arrow batches.

Row-by-row inserts run at about 2k rows/s in DuckDB, Arrow batches at over 100k
rows/s (see DESIGN.md), so every write here goes through a registered Arrow table,
and a batch (events, identity-log entries, mapping changes, profile updates, profile
states, ingestion warnings) is one transaction. Rows that replace others (mapping,
profiles) are written as one ``DELETE … IN`` plus one ``INSERT`` per batch: single-row
upserts run at a few hundred per second.
Only one process may open the file while it is written; a second gets
:class:`~idmerge.errors.StoreLocked` naming the process that holds it.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa

from idmerge.errors import StoreLocked, StoreUnavailable, first_line
from idmerge.identity import LogEntry, Mode
from idmerge.projects import Project
from idmerge.storage.base import (
    IngestionWarning,
    SavedFunnel,
    StoredEvent,
    StoredProfile,
    StoredProfileUpdate,
    WriteBatch,
)
from idmerge.storage.duckdb_schema import (
    EVENT_COLUMNS,
    EVENT_SCHEMA,
    GIVE_KEYS_SQL,
    KEY_COLUMNS,
    KEY_EVENTS_PER_STEP,
    KEY_EVENTS_SQL,
    KEY_MAPPING_SQL,
    META_SQL,
    PROFILE_COLUMNS,
    PROFILE_SCHEMA,
    SCHEMA_SQL,
    SCHEMA_VERSION,
    UPDATE_COLUMNS,
    UPDATE_SCHEMA,
    WARNING_COLUMNS,
    WARNING_SCHEMA,
    IdKeys,
    log_entries,
    log_table,
    mapping_table,
    rows_table,
    with_id_keys,
)

DATABASE_FILE = "idmerge.duckdb"
_READ_CHUNK = 1 << 18
#: Query results (exports, reports) stream in smaller batches: each becomes Python
#: strings, so the batch size bounds an export's memory (measured, 1M events:
#: peak RSS 937 MB with 2^18-row batches, 372 MB with 2^14, and faster).
_QUERY_CHUNK = 1 << 14
#: DuckDB folds its write-ahead log into the database file once the log reaches this
#: size. Its default (16 MB) checkpoints every ~50k events; each checkpoint rewrites
#: and compresses row groups, and at that rate doubled the cost of a commit (measured:
#: 100 commits of 2,000 events, 1.08 s of COMMIT against 0.44 s at 256 MB). A larger
#: log costs a longer replay on the next start after a crash, not durability.
CHECKPOINT_THRESHOLD = "256MB"
_Row = TypeVar("_Row")
#: the tables a commit only appends to
_APPEND_ONLY = ("events", "identity_log", "identity_keys", "profile_updates", "ingestion_warnings")


def open_store(data_dir: str | Path, *, memory_limit: str | None = None) -> DuckDBStore:
    """Open (creating when missing) the store of a data directory."""
    directory = Path(data_dir)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreUnavailable(f"cannot create data directory {str(directory)!r}: {exc}") from exc
    return DuckDBStore(directory / DATABASE_FILE, memory_limit=memory_limit)


class _OpenFile:
    """What the stores a process opens on one file share: DuckDB lets a process open
    a file more than once, and keys given by two caches of its ids would clash."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # one statement sequence at a time, and one commit
        #: each project's id keys, read from identity_keys at its first write
        self.keys: dict[int, IdKeys] = {}
        #: the projects whose keys were found damaged, and how (read once, not per write)
        self.damaged: dict[int, str] = {}


_OPEN_FILES: weakref.WeakValueDictionary[Path, _OpenFile] = weakref.WeakValueDictionary()
_OPEN_FILES_LOCK = threading.Lock()


class DuckDBStore:
    """Every project's events, identity log, mapping, profiles and ingestion warnings
    in one DuckDB file."""

    def __init__(self, path: str | Path, *, memory_limit: str | None = None) -> None:
        """``memory_limit`` (e.g. ``"2GB"``) caps DuckDB's memory, its page cache
        included: without it the cache grows with every block a query reads (measured:
        a 10M-event export peaked at 1.6 GB; at 256MB, 0.44 GB, as fast)."""
        self.path = Path(path)
        # DuckDB reads (and checks) its config values itself: nothing is put in SQL text
        config: dict[str, str | bool | int | float | list[str]] = {}
        if memory_limit is not None:
            config["memory_limit"] = memory_limit
        try:
            self._con = duckdb.connect(str(self.path), config=config)
        except duckdb.IOException as exc:
            if "lock" in str(exc).lower():
                raise StoreLocked(
                    f"the database {str(self.path)!r} is in use by another process "
                    f"(stop it, or point this one at another data directory): {exc}"
                ) from exc
            raise StoreUnavailable(f"cannot open {str(self.path)!r}: {exc}") from exc
        except duckdb.Error as exc:  # a config value DuckDB refuses
            raise StoreUnavailable(f"cannot open {str(self.path)!r}: {exc}") from exc
        with _OPEN_FILES_LOCK:
            shared = _OPEN_FILES.get(self.path.resolve())
            if shared is None:
                shared = _OPEN_FILES[self.path.resolve()] = _OpenFile()
        self._shared = shared  # kept alive while this store is
        self._lock = shared.lock
        self._keys = shared.keys
        self._damaged = shared.damaged
        self._names = itertools.count()
        with self._lock:
            self._con.execute(f"SET checkpoint_threshold = '{CHECKPOINT_THRESHOLD}'")
            self._open_schema()

    def _open_schema(self) -> None:
        con = self._con
        con.execute(META_SQL)
        row = con.execute("SELECT value FROM idmerge_meta WHERE key = 'schema_version'").fetchall()
        found = int(row[0][0]) if row else None
        if found is not None and found > SCHEMA_VERSION:
            con.close()
            raise StoreUnavailable(
                f"{str(self.path)!r} was written by a newer idmerge (schema {found}; this "
                f"one knows up to {SCHEMA_VERSION}): upgrade idmerge to open it"
            )
        con.execute(SCHEMA_SQL)
        if found is not None and found < 5:
            try:
                self._add_id_keys()
            except duckdb.Error as exc:
                con.close()
                raise StoreUnavailable(
                    f"cannot upgrade {str(self.path)!r} to schema {SCHEMA_VERSION} (integer "
                    f"keys for every id): {first_line(exc)}. Nothing was lost; the upgrade "
                    "goes on where it stopped at the next start (with more memory, if "
                    "that is what ran out)"
                ) from exc
        if found != SCHEMA_VERSION:
            con.execute(
                "INSERT OR REPLACE INTO idmerge_meta VALUES ('schema_version', ?)",
                [str(SCHEMA_VERSION)],
            )

    def _add_id_keys(self) -> None:
        """Upgrade a file of schema 4 or older: give every id a key and every row its
        keys, in steps that each commit and can each be run again (measured: 18 s and
        570 MB for 10M events over 2M ids, within a ``memory_limit`` of 512MB)."""
        con = self._con
        have = set(con.execute("SELECT table_name, column_name FROM duckdb_columns()").fetchall())
        for table, column in KEY_COLUMNS:
            if (table, column) not in have:
                con.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER")
        self._step(GIVE_KEYS_SQL, {})
        spans = con.execute(
            "SELECT project_id, min(seq), max(seq) FROM events WHERE id_key IS NULL GROUP BY 1"
        ).fetchall()
        for project_id, low, high in spans:
            for first in range(low, high + 1, KEY_EVENTS_PER_STEP):
                span = {"p": project_id, "first": first, "end": first + KEY_EVENTS_PER_STEP}
                self._step(KEY_EVENTS_SQL, span)
                con.execute("CHECKPOINT")  # else the updated rows pile up in memory
        self._step(KEY_MAPPING_SQL, {})

    def _step(self, sql: str, params: dict[str, int]) -> None:
        """One statement in a transaction of its own."""
        with self._transaction() as con:
            con.execute(sql, params)

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """``BEGIN`` ... ``COMMIT`` on the connection, rolled back when anything in it
        fails (the caller holds the lock)."""
        con = self._con
        try:
            con.execute("BEGIN TRANSACTION")
            yield con
            con.execute("COMMIT")
        except BaseException:
            # A failure before BEGIN took effect leaves nothing to roll back; the
            # error worth reporting is the first one, not the rollback's.
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise

    def _keys_of(self, project_id: int) -> IdKeys:
        """The project's id keys, read at its first write or :meth:`prepare_writes`
        (the caller holds the lock): ~100 bytes of memory per id, read in ~1.5 s for
        2M ids."""
        keys = self._keys.get(project_id)
        if keys is None:
            if project_id in self._damaged:
                raise StoreUnavailable(self._damaged[project_id])
            table = self._con.sql(
                "SELECT distinct_id, key FROM identity_keys WHERE project_id = $p",
                params={"p": project_id},
            ).to_arrow_table()
            given = table.column(1).to_pylist()
            known = dict(zip(table.column(0).to_pylist(), given, strict=True))
            if (
                len(known) != len(given)
                or len(set(given)) != len(given)
                or (given and max(given) != len(given) - 1)
            ):
                # new keys would clash with the ones there: refuse to write rather
                # than merge people in every report
                damage = self._damaged[project_id] = (
                    f"{str(self.path)!r} is damaged: project {project_id}'s id keys are not "
                    f"one key per id, 0 to n-1 ({len(given)} rows, {len(known)} ids, "
                    f"{len(set(given))} keys); it takes no more writes"
                )
                raise StoreUnavailable(damage)
            keys = self._keys[project_id] = IdKeys(known)
        return keys

    # -- projects ----------------------------------------------------------------

    def projects(self) -> list[Project]:
        with self._lock:
            rows = self._con.execute(
                "SELECT id, name, token, secret, mode, created_at, max_cluster_ids, "
                "max_merges, junk_ids FROM projects ORDER BY id"
            ).fetchall()
        return [
            Project(
                id=row[0],
                name=row[1],
                token=row[2],
                secret=row[3],
                mode=Mode(row[4]),
                created_at=row[5],
                max_cluster_ids=row[6],
                max_merges=row[7],
                junk_ids=None if row[8] is None else tuple(row[8]),
            )
            for row in rows
        ]

    def save_project(self, project: Project) -> None:
        with self._lock:
            self._con.execute(
                "INSERT OR REPLACE INTO projects VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",  # by id
                [
                    project.id,
                    project.name,
                    project.token,
                    project.secret,
                    project.mode.value,
                    project.created_at,
                    project.max_cluster_ids,
                    project.max_merges,
                    None if project.junk_ids is None else list(project.junk_ids),
                ],
            )

    def holds_data(self, project_id: int) -> bool:
        with self._lock:
            row = self._con.execute(
                "SELECT EXISTS (SELECT 1 FROM events WHERE project_id = $p) "
                "OR EXISTS (SELECT 1 FROM identity_log WHERE project_id = $p) "
                "OR EXISTS (SELECT 1 FROM profile_updates WHERE project_id = $p)",
                {"p": project_id},
            ).fetchall()[0]
        return bool(row[0])

    def last_seq(self, project_id: int) -> int:
        with self._lock:
            row = self._con.execute(
                "SELECT greatest("
                "(SELECT max(seq) FROM events WHERE project_id = $p), "
                "(SELECT max(seq) FROM identity_log WHERE project_id = $p), "
                "(SELECT max(seq) FROM profile_updates WHERE project_id = $p), "
                "(SELECT max(seq) FROM ingestion_warnings WHERE project_id = $p))",
                {"p": project_id},
            ).fetchall()[0]
        return -1 if row[0] is None else int(row[0])

    # -- writing -----------------------------------------------------------------

    def commit(self, project_id: int, batch: WriteBatch) -> None:
        # built before the store-wide lock: only the id keys need it
        tables: dict[str, pa.Table] = {}
        if batch.events:
            tables["events"] = rows_table(batch.events, EVENT_SCHEMA)  # keys added below
        if batch.log:
            tables["identity_log"] = log_table(batch.log)
        if batch.profile_updates:
            tables["profile_updates"] = rows_table(batch.profile_updates, UPDATE_SCHEMA)
        if batch.profiles:
            # the last state of a profile in the batch wins, as a replacement would
            latest = {(p.kind, p.group_key, p.target): p for p in batch.profiles}
            tables["profiles"] = rows_table(list(latest.values()), PROFILE_SCHEMA)
        if batch.warnings:
            tables["ingestion_warnings"] = rows_table(batch.warnings, WARNING_SCHEMA)
        with self._lock:
            keys = self._keys_of(project_id)
            try:
                self._write(project_id, batch, tables, keys)
            except BaseException:
                # the file holds the keys the write gave or not (it may have failed
                # after its COMMIT): forget them all, the next write reads the file
                del self._keys[project_id]
                raise
            keys.fresh = []

    def prepare_writes(self, project_id: int) -> None:
        with self._lock:
            self._keys_of(project_id)

    def _write(
        self, project_id: int, batch: WriteBatch, tables: dict[str, pa.Table], keys: IdKeys
    ) -> None:
        """The transaction of :meth:`commit` (the caller holds the lock)."""
        con = self._con
        if batch.events:
            tables["events"] = with_id_keys(tables["events"], batch.events, keys)
        if batch.mapping:
            tables["identity_mapping"] = mapping_table(batch.mapping, keys)
        if keys.fresh:
            tables["identity_keys"] = keys.fresh_table()
        names = {table: f"batch_{table}_{next(self._names)}" for table in tables}
        for table, arrow in tables.items():
            con.register(names[table], arrow)
        try:
            with self._transaction():
                for table in _APPEND_ONLY:
                    if table in names:
                        con.execute(
                            f"INSERT INTO {table} SELECT $p, * FROM {names[table]}",
                            {"p": project_id},
                        )
                if batch.replace_mapping:
                    con.execute(
                        "DELETE FROM identity_mapping WHERE project_id = $p", {"p": project_id}
                    )
                if "identity_mapping" in names:
                    changes = names["identity_mapping"]
                    if not batch.replace_mapping:
                        con.execute(
                            "DELETE FROM identity_mapping WHERE project_id = $p AND distinct_id "
                            f"IN (SELECT distinct_id FROM {changes})",
                            {"p": project_id},
                        )
                    con.execute(
                        f"INSERT INTO identity_mapping SELECT $p, * "
                        f"FROM {changes} WHERE distinct_id <> resolved_distinct_id",
                        {"p": project_id},
                    )
                if "profiles" in names:
                    states = names["profiles"]
                    con.execute(
                        "DELETE FROM profiles WHERE project_id = $p AND (kind, group_key, target) "
                        f"IN (SELECT kind, group_key, target FROM {states})",
                        {"p": project_id},
                    )
                    con.execute(
                        f"INSERT INTO profiles SELECT $p, * FROM {states}", {"p": project_id}
                    )
        finally:
            for name in names.values():
                con.unregister(name)

    # -- reading -----------------------------------------------------------------

    def _stream(
        self, query: str, params: dict[str, Any], chunk: int = _READ_CHUNK
    ) -> Iterator[pa.RecordBatch]:
        """Arrow batches of a query, read lazily on a cursor of its own: a snapshot
        that concurrent writes do not disturb."""
        with self._lock:
            cursor = self._con.cursor()
        try:
            reader: pa.RecordBatchReader = cursor.sql(query, params=params).to_arrow_reader(chunk)
            yield from reader
        finally:
            cursor.close()

    def query(self, sql: str, params: dict[str, Any] | None = None) -> Iterator[pa.RecordBatch]:
        return self._stream(sql, params or {}, _QUERY_CHUNK)

    def read_log(self, project_id: int) -> Iterator[LogEntry]:
        batches = self._stream(
            "SELECT seq, op, ids, outcome, reason, event, insert_id, time, undoes "
            "FROM identity_log WHERE project_id = $p ORDER BY seq",
            {"p": project_id},
        )
        return itertools.chain.from_iterable(map(log_entries, batches))

    def read_mapping(self, project_id: int) -> Iterator[tuple[str, str]]:
        for batch in self._stream(
            "SELECT distinct_id, resolved_distinct_id FROM identity_mapping "
            "WHERE project_id = $p ORDER BY distinct_id",
            {"p": project_id},
        ):
            yield from zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True)

    def _rows(self, row: Callable[..., _Row], query: str, params: dict[str, Any]) -> Iterator[_Row]:
        """The query's rows as ``row`` tuples (its columns in the tuple's order)."""
        for batch in self._stream(query, params):
            columns = [column.to_pylist() for column in batch.columns]
            yield from itertools.starmap(row, zip(*columns, strict=True))

    def read_events(self, project_id: int) -> Iterator[StoredEvent]:
        return self._rows(
            StoredEvent,
            f"SELECT {EVENT_COLUMNS} FROM events WHERE project_id = $p ORDER BY seq",
            {"p": project_id},
        )

    def read_events_deduplicated(self, project_id: int) -> Iterator[StoredEvent]:
        return self._rows(
            StoredEvent,
            f"SELECT {EVENT_COLUMNS} FROM events WHERE project_id = $p "
            "QUALIFY insert_id IS NULL OR row_number() OVER ("
            "PARTITION BY event, distinct_id, time, insert_id ORDER BY seq DESC) = 1 "
            "ORDER BY seq",
            {"p": project_id},
        )

    def distinct_ids(self, project_id: int) -> Iterator[str]:
        for batch in self._stream(
            "SELECT DISTINCT distinct_id FROM events WHERE project_id = $p", {"p": project_id}
        ):
            yield from batch.column(0).to_pylist()

    def read_profile_updates(self, project_id: int) -> Iterator[StoredProfileUpdate]:
        return self._rows(
            StoredProfileUpdate,
            f"SELECT {UPDATE_COLUMNS} FROM profile_updates WHERE project_id = $p ORDER BY seq",
            {"p": project_id},
        )

    def read_profiles(self, project_id: int) -> Iterator[StoredProfile]:
        return self._rows(
            StoredProfile,
            f"SELECT {PROFILE_COLUMNS} FROM profiles WHERE project_id = $p "
            "ORDER BY kind, group_key, target",
            {"p": project_id},
        )

    def read_warnings(
        self,
        project_id: int,
        *,
        limit: int | None = None,
        before_seq: int | None = None,
        reason: str | None = None,
    ) -> list[IngestionWarning]:
        query = f"SELECT {WARNING_COLUMNS} FROM ingestion_warnings WHERE project_id = $p"
        params: dict[str, Any] = {"p": project_id}
        if before_seq is not None:
            query += " AND seq < $before"
            params["before"] = before_seq
        if reason is not None:
            query += " AND reason = $reason"
            params["reason"] = reason
        query += " ORDER BY seq DESC"
        if limit is not None:
            query += " LIMIT $limit"
            params["limit"] = max(limit, 0)
        return list(self._rows(IngestionWarning, query, params))

    # -- saved funnels ------------------------------------------------------------

    def save_funnel(
        self, project_id: int, name: str, steps: str, length: int, length_unit: str, now: int
    ) -> SavedFunnel:
        with self._lock:
            row = self._con.execute(
                "INSERT INTO saved_funnels VALUES (nextval('funnel_ids'), ?, ?, ?, ?, ?, ?) "
                "RETURNING funnel_id",
                [project_id, name, steps, length, length_unit, now],
            ).fetchone()
        assert row is not None
        return SavedFunnel(int(row[0]), name, steps, length, length_unit, now)

    def saved_funnels(self, project_id: int) -> list[SavedFunnel]:
        return list(
            self._rows(
                SavedFunnel,
                "SELECT funnel_id, name, steps, length, length_unit, created_at "
                "FROM saved_funnels WHERE project_id = $p ORDER BY funnel_id",
                {"p": project_id},
            )
        )

    def delete_funnel(self, project_id: int, funnel_id: int) -> bool:
        with self._lock:
            row = self._con.execute(
                "DELETE FROM saved_funnels WHERE project_id = ? AND funnel_id = ? RETURNING 1",
                [project_id, funnel_id],
            ).fetchall()
        return bool(row)

    def close(self) -> None:
        with self._lock:
            self._con.close()
            self._keys.clear()  # another process may write the file once it is closed
            self._damaged.clear()
