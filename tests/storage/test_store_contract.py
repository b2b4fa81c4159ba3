"""The contract every storage backend keeps (run against each by the ``store`` fixture)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from idmerge.identity import LogEntry, Mode, Op, Outcome, Reason
from idmerge.projects import Project
from idmerge.storage.base import Store, StoredEvent, WriteBatch


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


def test_batch_writes_events_log_and_mapping(store: Store) -> None:
    """One commit writes all three parts, and each reads back as written."""
    store.save_project(project())
    log = [
        entry(1, "a", "b"),
        LogEntry(2, Op.UNDO, ("a",), Outcome.SPLIT, Reason.UNDO_EVENT, "$split", None, 9, (1,)),
    ]
    store.commit(1, WriteBatch([event(0), event(1, "a")], log, [("b", "a"), ("a", "a")]))
    assert store.holds_data(1)
    assert store.last_seq(1) == 2
    assert list(store.read_events(1)) == [event(0), event(1, "a")]
    assert list(store.read_log(1)) == log
    assert list(store.read_mapping(1)) == [("b", "a")]
    assert sorted(store.distinct_ids(1)) == ["a", "u1"]


def test_log_alone_makes_a_project_hold_data(store: Store) -> None:
    """An identity log entry without events still freezes the project's mode."""
    store.save_project(project())
    store.commit(1, WriteBatch(log=[entry(0, "a", "b")]))
    assert store.holds_data(1)


def test_mapping_changes_upsert_and_self_rows_delete(store: Store) -> None:
    """A change replaces an id's row; an id resolving to itself loses its row."""
    store.save_project(project())
    store.commit(1, WriteBatch(mapping=[("b", "a"), ("c", "a")]))
    store.commit(1, WriteBatch(mapping=[("b", "z"), ("c", "c")]))
    assert list(store.read_mapping(1)) == [("b", "z")]


def test_replace_mapping_drops_every_old_row(store: Store) -> None:
    """After a split the whole mapping is rewritten."""
    store.save_project(project())
    store.commit(1, WriteBatch(mapping=[("b", "a"), ("c", "a")]))
    store.commit(1, WriteBatch(mapping=[("d", "e")], replace_mapping=True))
    assert list(store.read_mapping(1)) == [("d", "e")]


def test_projects_are_isolated(store: Store) -> None:
    """What one project writes never shows in another."""
    store.save_project(project())
    store.save_project(project(2, "two"))
    store.commit(1, WriteBatch([event(0)], [entry(0, "a", "b")], [("b", "a")]))
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
    store.commit(1, WriteBatch([event(0)], [entry(0, "a", "b")], [("b", "a")]))
    bad = LogEntry(2, Op.MERGE, ("x", "y"), Outcome.MERGED, None, None, None, 0)  # type: ignore[arg-type]
    with pytest.raises(Exception):  # noqa: B017 - each backend fails in its own way
        store.commit(1, WriteBatch([event(1), event(2)], [bad], [("y", "x"), ("b", "b")]))
    assert [e.seq for e in store.read_events(1)] == [0]
    assert [e.seq for e in store.read_log(1)] == [0]
    assert list(store.read_mapping(1)) == [("b", "a")]
