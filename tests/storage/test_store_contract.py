"""The contract every storage backend keeps (run against each by the ``store`` fixture)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import duckdb
import pytest

from idmerge.errors import StoreUnavailable
from idmerge.identity import LogColumns, LogEntry, Mode, Op, Outcome, Reason, Resolutions
from idmerge.projects import Project
from idmerge.storage.base import (
    IngestionWarning,
    Store,
    StoredEvent,
    StoredProfile,
    StoredProfileUpdate,
    WriteBatch,
)
from idmerge.storage.duckdb import SCHEMA_VERSION, DuckDBStore


def project(pid: int = 1, name: str = "app", mode: Mode = Mode.ORIGINAL) -> Project:
    return Project(pid, name, f"token{pid}xx", f"secret{pid}xx", mode, 1_700_000_000_000)


def event(seq: int, distinct_id: str = "u1", insert_id: str | None = "i") -> StoredEvent:
    return StoredEvent(seq, "view", distinct_id, 1000 + seq, insert_id, '{"a":1}', 5)


def entry(seq: int, *ids: str, undoes: tuple[int, ...] = ()) -> LogEntry:
    return LogEntry(seq, Op.MERGE, ids, Outcome.MERGED, None, "$merge", None, 7, undoes)


def test_projects_round_trip_and_replace_by_id(store: Store) -> None:
    """A saved project reads back equal; saving the same id again replaces it."""
    first = replace(project(), max_cluster_ids=20, junk_ids=("nobody",))
    store.save_project(first)
    store.save_project(project(2, "other", Mode.CDP))
    assert store.projects() == [first, project(2, "other", Mode.CDP)]
    store.save_project(replace(first, mode=Mode.LEGACY))
    assert store.projects()[0].mode is Mode.LEGACY


def test_empty_project_holds_no_data(store: Store) -> None:
    """A new project holds no data and has no sequence number yet."""
    store.save_project(project())
    assert not store.holds_data(1)
    assert store.last_seq(1) == -1
    assert list(store.read_log(1)) == []
    assert list(store.read_events(1)) == []
    assert list(store.read_events_deduplicated(1)) == []
    assert list(store.read_profile_updates(1)) == []
    assert list(store.read_profiles(1)) == []
    assert store.read_warnings(1) == []


def test_batch_writes_events_log_and_mapping(store: Store) -> None:
    """One commit writes all three parts, and each reads back as written."""
    store.save_project(project())
    log = [
        entry(1, "a", "b"),
        LogEntry(2, Op.UNDO, ("a",), Outcome.SPLIT, Reason.UNDO_EVENT, "$split", None, 9, (1,)),
    ]
    store.commit(
        1,
        WriteBatch(
            [event(0), event(1, "a")], LogColumns.of(log), Resolutions.of([("b", "a"), ("a", "a")])
        ),
    )
    assert store.holds_data(1)
    assert store.last_seq(1) == 2
    assert list(store.read_events(1)) == [event(0), event(1, "a")]
    assert list(store.read_log(1)) == log
    assert list(store.read_mapping(1)) == [("b", "a")]
    assert sorted(store.distinct_ids(1)) == ["a", "u1"]


@pytest.mark.parametrize(
    "shapes",
    [(2, 2, 2), (2, 1, 2), (0, 2, 3), (3, 3), (1,)],
    ids=["all-pairs", "a-single", "none-pair-three", "triples", "one"],
)
def test_log_ids_read_back_in_order_whatever_their_count(
    store: Store, shapes: tuple[int, ...]
) -> None:
    """Entries naming two ids (most of a log, decoded by a faster path) and any other
    count read back with each id in its place."""
    store.save_project(project())
    log = [entry(seq, *(f"id{seq}-{k}" for k in range(n))) for seq, n in enumerate(shapes)]
    store.commit(1, WriteBatch(log=LogColumns.of(log)))
    assert list(store.read_log(1)) == log


def test_log_alone_makes_a_project_hold_data(store: Store) -> None:
    """An identity log entry without events still freezes the project's mode."""
    store.save_project(project())
    store.commit(1, WriteBatch(log=LogColumns.of([entry(0, "a", "b")])))
    assert store.holds_data(1)


def test_mapping_changes_upsert_and_self_rows_delete(store: Store) -> None:
    """A change replaces an id's row; an id resolving to itself loses its row."""
    store.save_project(project())
    store.commit(1, WriteBatch(mapping=Resolutions.of([("b", "a"), ("c", "a")])))
    store.commit(1, WriteBatch(mapping=Resolutions.of([("b", "z"), ("c", "c")])))
    assert list(store.read_mapping(1)) == [("b", "z")]


def test_replace_mapping_drops_every_old_row(store: Store) -> None:
    """After a split the whole mapping is rewritten."""
    store.save_project(project())
    store.commit(1, WriteBatch(mapping=Resolutions.of([("b", "a"), ("c", "a")])))
    store.commit(1, WriteBatch(mapping=Resolutions.of([("d", "e")]), replace_mapping=True))
    assert list(store.read_mapping(1)) == [("d", "e")]


def test_projects_are_isolated(store: Store) -> None:
    """What one project writes never shows in another."""
    store.save_project(project())
    store.save_project(project(2, "two"))
    store.commit(
        1, WriteBatch([event(0)], LogColumns.of([entry(0, "a", "b")]), Resolutions.of([("b", "a")]))
    )
    assert not store.holds_data(2)
    assert list(store.read_mapping(2)) == []
    assert list(store.read_events(2)) == []


def test_duplicates_are_all_kept(store: Store) -> None:
    """Storage keeps every delivery; deduplication is the queries' business."""
    store.save_project(project())
    store.commit(1, WriteBatch([event(0), event(1)]))
    store.commit(1, WriteBatch([event(2)]))
    assert [e.seq for e in store.read_events(1)] == [0, 1, 2]


def test_failed_batch_writes_nothing(store: Store) -> None:
    """A batch that fails half-way leaves events, log and mapping as they were."""
    store.save_project(project())
    store.commit(
        1, WriteBatch([event(0)], LogColumns.of([entry(0, "a", "b")]), Resolutions.of([("b", "a")]))
    )
    bad = LogEntry(2, Op.MERGE, ("x", "y"), Outcome.MERGED, None, None, None, 0)  # type: ignore[arg-type]
    with pytest.raises(Exception):  # noqa: B017 - each backend fails in its own way
        store.commit(
            1, WriteBatch([event(1), event(2)], [bad], Resolutions.of([("y", "x"), ("b", "b")]))
        )
    assert [e.seq for e in store.read_events(1)] == [0]
    assert [e.seq for e in store.read_log(1)] == [0]
    assert list(store.read_mapping(1)) == [("b", "a")]


# -- profiles, warnings, deduplicated reading ------------------------------------


def update(
    seq: int, target: str = "u1", op: str = "$set", kind: str = "user"
) -> StoredProfileUpdate:
    group_key = "company" if kind == "group" else ""
    return StoredProfileUpdate(
        seq, kind, group_key, target, target, op, '{"a":1}', 50 + seq, False, 9
    )


def profile(target: str = "u1", properties: str = '{"a":1}', **fields: Any) -> StoredProfile:
    row = StoredProfile("user", "", target, properties, False, 60)
    return row._replace(**fields)


def warning(seq: int, **fields: Any) -> IngestionWarning:
    row = IngestionWarning(
        seq, 5, "/track", None, 0, None, "null", "view", None, "errJunkId", "junk id", '{"x":1}'
    )
    return row._replace(**fields)


def test_profile_updates_read_back_in_sequence_order(store: Store) -> None:
    """Updates are append-only and read back as written, by seq, whatever the batch order."""
    store.save_project(project())
    store.commit(1, WriteBatch(profile_updates=[update(3), update(1, "g", "$union", "group")]))
    store.commit(1, WriteBatch(profile_updates=[update(4, op="$delete"), update(3)]))
    assert [u.seq for u in store.read_profile_updates(1)] == [1, 3, 3, 4]
    first = next(store.read_profile_updates(1))
    assert first == update(1, "g", "$union", "group")
    assert first.ignore_time is False


def test_profile_updates_alone_make_a_project_hold_data(store: Store) -> None:
    """A profile update freezes the mode like an event; warnings alone do not."""
    store.save_project(project())
    store.save_project(project(2, "two"))
    store.commit(1, WriteBatch(profile_updates=[update(0)]))
    store.commit(2, WriteBatch(warnings=[warning(0)]))
    assert store.holds_data(1)
    assert not store.holds_data(2)


def test_last_seq_covers_every_numbered_table(store: Store) -> None:
    """The highest seq may be an event, a log entry, a profile update or a warning."""
    store.save_project(project())
    store.commit(1, WriteBatch([event(0)], LogColumns.of([entry(1, "a", "b")])))
    assert store.last_seq(1) == 1
    store.commit(1, WriteBatch(profile_updates=[update(2)]))
    assert store.last_seq(1) == 2
    store.commit(1, WriteBatch(warnings=[warning(7)]))
    assert store.last_seq(1) == 7
    store.commit(1, WriteBatch([event(8)]))
    assert store.last_seq(1) == 8


def test_profiles_replace_rows_with_the_same_key(store: Store) -> None:
    """A profile row is keyed by (kind, group_key, target); a new state replaces it."""
    store.save_project(project())
    group = StoredProfile("group", "company", "u1", '{"g":1}', False, 1)
    other_key = group._replace(group_key="team")
    store.commit(1, WriteBatch(profiles=[profile("b"), profile("a"), group, other_key]))
    store.commit(
        1,
        WriteBatch(
            profiles=[
                profile("b", "{}", deleted=True, updated_at=70),
                group._replace(properties="{}"),
            ]
        ),
    )
    assert list(store.read_profiles(1)) == [
        group._replace(properties="{}"),
        other_key,
        profile("a"),
        profile("b", "{}", deleted=True, updated_at=70),
    ]


def test_last_state_of_a_profile_in_one_batch_wins(store: Store) -> None:
    """Two states of one profile in one batch leave one row: the later."""
    store.save_project(project())
    store.commit(
        1, WriteBatch(profiles=[profile(properties='{"a":1}'), profile(properties='{"a":2}')])
    )
    assert list(store.read_profiles(1)) == [profile(properties='{"a":2}')]


def test_warnings_read_newest_first_and_page(store: Store) -> None:
    """Warnings come back by descending seq; limit and before_seq page through them."""
    store.save_project(project())
    first = warning(
        0, event_seq=None, record_index=None, insert_id=None, distinct_id=None, event=None
    )
    store.commit(1, WriteBatch(warnings=[first, warning(2, field="properties.time")]))
    store.commit(1, WriteBatch(warnings=[warning(5), warning(4)]))
    assert [w.seq for w in store.read_warnings(1)] == [5, 4, 2, 0]
    assert store.read_warnings(1)[-1] == first
    assert store.read_warnings(1, limit=2) == [warning(5), warning(4)]
    assert store.read_warnings(1, limit=2, before_seq=4) == [
        warning(2, field="properties.time"),
        first,
    ]
    assert store.read_warnings(1, before_seq=0) == []
    assert store.read_warnings(1, limit=0) == []
    assert store.read_warnings(1, limit=10, before_seq=99)[0].record_index == 0
    junk = warning(6, reason="errJunkId")
    store.commit(1, WriteBatch(warnings=[junk, warning(7, reason="NOT_AN_OBJECT")]))
    assert store.read_warnings(1, reason="errJunkId") == [junk, *store.read_warnings(1)[2:]]
    assert store.read_warnings(1, reason="NOT_AN_OBJECT", limit=5) == [
        warning(7, reason="NOT_AN_OBJECT")
    ]
    assert store.read_warnings(1, reason="errJunkId", before_seq=6, limit=1) == [
        store.read_warnings(1)[2]
    ]
    assert store.read_warnings(1, reason="nothing") == []


def test_new_tables_are_isolated_per_project(store: Store) -> None:
    """Profile updates, profiles and warnings of one project never show in another."""
    store.save_project(project())
    store.save_project(project(2, "two"))
    store.commit(
        1, WriteBatch(profile_updates=[update(0)], profiles=[profile()], warnings=[warning(1)])
    )
    store.commit(2, WriteBatch(profiles=[profile(properties="{}")]))
    assert list(store.read_profile_updates(2)) == []
    assert list(store.read_profiles(2)) == [profile(properties="{}")]
    assert list(store.read_profiles(1)) == [profile()]
    assert store.read_warnings(2) == []
    assert store.last_seq(2) == -1


def dup(seq: int, insert_id: str | None = "i", name: str = "view", time: int = 1000) -> StoredEvent:
    return StoredEvent(seq, name, "u1", time, insert_id, f'{{"n":{seq}}}', 5)


def test_deduplicated_events_keep_the_last_delivery(store: Store) -> None:
    """Same (event, distinct_id, time, insert_id): the highest seq is kept, in seq order."""
    store.save_project(project())
    store.commit(1, WriteBatch([dup(0), dup(1, "j"), dup(2)]))
    store.commit(1, WriteBatch([dup(3, "j"), dup(4), dup(5, "k")]))
    assert list(store.read_events_deduplicated(1)) == [dup(3, "j"), dup(4), dup(5, "k")]
    assert [e.seq for e in store.read_events(1)] == [0, 1, 2, 3, 4, 5]


def test_deduplication_needs_the_whole_key(store: Store) -> None:
    """A different name, id or time is another event; no insert_id is never a duplicate."""
    store.save_project(project())
    other_id = dup(3)._replace(distinct_id="u2")
    batch = [dup(0), dup(1, name="click"), dup(2, time=1001), other_id, dup(4, None), dup(5, None)]
    store.commit(1, WriteBatch(batch))
    assert [e.seq for e in store.read_events_deduplicated(1)] == [0, 1, 2, 3, 4, 5]
    store.save_project(project(2, "two"))
    store.commit(2, WriteBatch([dup(6)]))  # the same key in another project
    assert [e.seq for e in store.read_events_deduplicated(1)] == [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("bad_part", ["profile_updates", "profiles", "warnings"])
def test_failed_batch_writes_no_profile_or_warning(store: Store, bad_part: str) -> None:
    """A batch failing in any of the new parts writes none of its parts."""
    store.save_project(project())
    store.commit(
        1, WriteBatch(profile_updates=[update(0)], profiles=[profile()], warnings=[warning(1)])
    )
    batch = WriteBatch(
        [event(2)],
        LogColumns.of([entry(3, "a", "b")]),
        [("b", "a")],
        profile_updates=[update(4, "u2")],
        profiles=[profile(properties="{}"), profile("u2")],
        warnings=[warning(5)],
    )
    rows: list[Any] = getattr(batch, bad_part)
    rows.append(rows[-1]._replace(kind=None) if bad_part != "warnings" else warning(6, reason=None))
    with pytest.raises(Exception):  # noqa: B017 - each backend fails in its own way
        store.commit(1, batch)
    assert list(store.read_events(1)) == []
    assert list(store.read_log(1)) == []
    assert list(store.read_mapping(1)) == []
    assert list(store.read_profile_updates(1)) == [update(0)]
    assert list(store.read_profiles(1)) == [profile()]
    assert store.read_warnings(1) == [warning(1)]
    assert store.last_seq(1) == 1


def test_duckdb_file_from_a_newer_idmerge_is_refused(tmp_path: Path) -> None:
    """An older schema is brought up to date on open; a newer one is not misread."""
    path = tmp_path / "t.duckdb"
    DuckDBStore(path).close()
    con = duckdb.connect(str(path))
    con.execute("UPDATE idmerge_meta SET value = '1' WHERE key = 'schema_version'")
    con.close()
    DuckDBStore(path).close()  # an older file opens (the new tables are added)
    con = duckdb.connect(str(path))
    assert con.execute("SELECT value FROM idmerge_meta").fetchall() == [(str(SCHEMA_VERSION),)]
    con.execute("UPDATE idmerge_meta SET value = ?", [str(SCHEMA_VERSION + 1)])
    con.close()
    with pytest.raises(StoreUnavailable, match="newer idmerge"):
        DuckDBStore(path)


def _query_rows(store: Store, sql: str, params: dict[str, Any] | None = None) -> list[Any]:
    rows: list[Any] = []
    for batch in store.query(sql, params):
        rows.extend(zip(*(c.to_pylist() for c in batch.columns), strict=True))
    return rows


def test_query_reads_every_table_per_project(store: Store) -> None:
    """Query SQL sees the tables as DuckDB declares them, ``project_id`` included, in
    every backend alike."""
    store.save_project(project())
    store.save_project(project(2, "other"))
    store.commit(
        1,
        WriteBatch(
            [event(0), event(1, "a")],
            LogColumns.of([entry(2, "a", "b")]),
            Resolutions.of([("b", "a")]),
            profile_updates=[update(3)],
            profiles=[profile()],
        ),
    )
    store.commit(2, WriteBatch([event(0, "z")]))
    assert _query_rows(
        store, "SELECT seq, distinct_id FROM events WHERE project_id = $p ORDER BY seq", {"p": 1}
    ) == [(0, "u1"), (1, "a")]
    assert _query_rows(store, "SELECT count(*) FROM events") == [(3,)]
    assert _query_rows(
        store, "SELECT distinct_id, resolved_distinct_id, project_id FROM identity_mapping"
    ) == [("b", "a", 1)]
    assert _query_rows(store, "SELECT ids, outcome FROM identity_log") == [(["a", "b"], "merged")]
    assert _query_rows(store, "SELECT target, op FROM profile_updates") == [("u1", "$set")]
    assert _query_rows(store, "SELECT target, properties, deleted FROM profiles") == [
        ("u1", '{"a":1}', False)
    ]


def test_query_on_an_empty_store(store: Store) -> None:
    for table in ("events", "identity_log", "identity_mapping", "profile_updates", "profiles"):
        assert _query_rows(store, f"SELECT count(*) FROM {table} WHERE project_id = 1") == [(0,)]


def test_duckdb_refuses_a_memory_limit_that_is_no_size(tmp_path: Path) -> None:
    """The value goes to DuckDB's own config (never into SQL text); DuckDB's refusal
    is a clear StoreUnavailable."""
    with pytest.raises(StoreUnavailable, match="cannot open"):
        DuckDBStore(tmp_path / "t.duckdb", memory_limit="lots'; DROP TABLE events; --")


def test_saved_funnels_are_numbered_across_projects_and_kept_per_project(store: Store) -> None:
    steps = '[{"event": "A", "where": null}, {"event": "B", "where": null}]'
    first = store.save_funnel(1, "signup", steps, 7, "day", now=10)
    second = store.save_funnel(2, "other", steps, 2, "hour", now=20)
    third = store.save_funnel(1, "again", steps, 30, "minute", now=30)
    assert (first.funnel_id, second.funnel_id, third.funnel_id) == (1, 2, 3)
    assert store.saved_funnels(1) == [first, third]
    assert store.saved_funnels(2) == [second]
    assert first.steps == steps and first.length_unit == "day" and first.created_at == 10
    assert not store.delete_funnel(2, first.funnel_id)  # another project's funnel
    assert store.delete_funnel(1, first.funnel_id)
    assert not store.delete_funnel(1, first.funnel_id)
    assert store.saved_funnels(1) == [third]
    assert store.delete_funnel(1, third.funnel_id)
    assert store.save_funnel(1, "next", steps, 1, "day", now=40).funnel_id == 4  # not reused
