"""The write path over the real DuckDB file: one transaction a batch, state rebuilt on
start exactly as it was, splits durable."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from idmerge.errors import ModeFrozen, SplitRefused
from idmerge.identity import Event, IdentityEngine, Mode, Outcome
from idmerge.ingest import ProjectWriter
from idmerge.projects import create_project, get_project, set_mode
from idmerge.storage.duckdb import DuckDBStore, open_store

from streams import mixed_stream

T0 = 1_700_000_000_000


def writer_for(data_dir: Path, mode: Mode) -> tuple[DuckDBStore, ProjectWriter]:
    store = open_store(data_dir)
    if not store.projects():
        create_project(store, "app", mode, now=T0)
    return store, ProjectWriter(store, get_project(store, "app"))


def snapshot(engine: IdentityEngine, ids: set[str]) -> dict[str, object]:
    return {x: (engine.resolve(x), engine.cluster(x), engine.explain(x)) for x in sorted(ids)}


def all_ids(events: list[Event], engine: IdentityEngine) -> set[str]:
    ids = {x for pair in engine.mapping() for x in pair}
    for event in events:
        for key in ("distinct_id", "$user_id", "alias", "$anon_distinct_id"):
            value = event.properties.get(key)
            if isinstance(value, str):
                ids.add(value)
        if isinstance(event.properties.get("$device_id"), str):
            ids.add("$device:" + event.properties["$device_id"])
    return ids


@pytest.mark.parametrize("mode", list(Mode))
def test_restart_answers_exactly_as_before(tmp_path: Path, mode: Mode) -> None:
    """A restarted engine resolves and explains every id as before, and the stored
    mapping equals both the incremental mapping and a rebuild from the log."""
    events = mixed_stream(mode, 700, seed=3)
    store, writer = writer_for(tmp_path, mode)
    for start in range(0, len(events), 50):
        writer.ingest(events[start : start + 50], received_at=T0)
    ids = all_ids(events, writer.engine)
    before = snapshot(writer.engine, ids)
    incremental = sorted(writer.engine.mapping())
    assert incremental, "the stream should have produced some merges"
    assert list(store.read_mapping(1)) == incremental
    store.close()

    store, restarted = writer_for(tmp_path, mode)
    assert snapshot(restarted.engine, ids) == before
    assert sorted(restarted.engine.mapping()) == incremental
    rebuilt = IdentityEngine.replay(restarted.project.policy(), store.read_log(1))
    assert sorted(rebuilt.mapping()) == incremental
    store.close()


def test_events_keep_the_id_they_were_ingested_with(tmp_path: Path) -> None:
    """Simplified: anonymous events stay stored as $device:D; the mapping resolves them."""
    store, writer = writer_for(tmp_path, Mode.SIMPLIFIED)
    writer.ingest([Event("view", {"$device_id": "D1"}, T0)], received_at=T0)
    writer.ingest([Event("login", {"$device_id": "D1", "$user_id": "U1"}, T0 + 1)], received_at=T0)
    stored = [(e.name, e.distinct_id) for e in store.read_events(1)]
    assert stored == [("view", "$device:D1"), ("login", "U1")]
    assert list(store.read_mapping(1)) == [("$device:D1", "U1")]
    store.close()


def test_legacy_stores_the_resolved_id_at_ingestion(tmp_path: Path) -> None:
    """Legacy: events after an alias are stored under its target; earlier ones are not."""
    store, writer = writer_for(tmp_path, Mode.LEGACY)
    writer.ingest(
        [
            Event("view", {"distinct_id": "U"}, T0),
            Event("$create_alias", {"distinct_id": "D1", "alias": "U"}, T0 + 1),
            Event("view", {"distinct_id": "U"}, T0 + 2),
        ],
        received_at=T0,
    )
    events = list(store.read_events(1))
    assert [e.distinct_id for e in events] == ["U", "D1", "D1"]
    assert '"$distinct_id_before_identity":"U"' in events[2].properties
    store.close()


def test_annotations_and_no_token_in_stored_properties(tmp_path: Path) -> None:
    """The outcome is written onto the stored event; the project token is not stored."""
    store, writer = writer_for(tmp_path, Mode.ORIGINAL)
    writer.ingest(
        [Event("$identify", {"token": "t", "distinct_id": "U1", "$anon_distinct_id": "bob"}, T0)],
        received_at=T0,
    )
    (stored,) = store.read_events(1)
    assert '"$failure_reason":"errAnonDistinctIdNonGUIDForm"' in stored.properties
    assert "$failure_description" in stored.properties
    assert "token" not in stored.properties
    store.close()


def test_failed_batch_leaves_memory_and_disk_agreeing(tmp_path: Path) -> None:
    """A batch the store refuses is not half-applied: the engine is rebuilt from disk."""
    store, writer = writer_for(tmp_path, Mode.SIMPLIFIED)
    writer.ingest([Event("login", {"$device_id": "D1", "$user_id": "U1"}, T0)], received_at=T0)
    broken = Event(None, {"distinct_id": "x"}, T0)  # type: ignore[arg-type]
    with pytest.raises(Exception):  # noqa: B017 - DuckDB's constraint error
        writer.ingest(
            [Event("login", {"$device_id": "D2", "$user_id": "U1"}, T0), broken], received_at=T0
        )
    assert writer.engine.resolve("$device:D2") == "$device:D2"
    assert writer.engine.resolve("$device:D1") == "U1"
    assert [e.seq for e in store.read_events(1)] == [0]
    applied = writer.ingest([Event("v", {"$device_id": "D3"}, T0)], received_at=T0)
    assert applied.distinct_ids == ["$device:D3"]
    assert [e.seq for e in store.read_events(1)] == [0, 1]
    store.close()


def test_batch_failing_before_commit_is_not_half_applied(tmp_path: Path) -> None:
    """An event that fails after the engine took the batch (here: a property JSON cannot
    encode) leaves neither the engine nor the store with any of the batch."""
    store, writer = writer_for(tmp_path, Mode.SIMPLIFIED)
    unencodable = Event("view", {"distinct_id": "x", "tags": object()}, T0)
    with pytest.raises(TypeError):
        writer.ingest(
            [Event("login", {"$device_id": "D1", "$user_id": "U1"}, T0), unencodable],
            received_at=T0,
        )
    assert writer.engine.resolve("$device:D1") == "$device:D1"
    assert list(store.read_events(1)) == []
    assert writer.next_seq == 0
    store.close()


def test_duplicate_after_restart_changes_nothing(tmp_path: Path) -> None:
    """The delivered set is rebuilt from the log, so a retry after a restart is harmless."""
    alias = Event("$create_alias", {"distinct_id": "X", "alias": "A"}, T0, insert_id="alias-1")
    store, writer = writer_for(tmp_path, Mode.ORIGINAL)
    writer.ingest([alias], received_at=T0)
    store.close()
    store, writer = writer_for(tmp_path, Mode.ORIGINAL)
    applied = writer.ingest([alias], received_at=T0)
    assert len(applied.entries) == 0
    assert applied.outcomes == [Outcome.NOOP]
    assert "$failure_reason" not in applied.annotations[0]
    assert [h.outcome for h in writer.engine.explain("A").history] == [Outcome.MERGED]
    assert len(list(store.read_events(1))) == 2  # storage keeps both deliveries
    store.close()


def test_split_is_durable_and_explained(tmp_path: Path) -> None:
    """Undoing a merge survives a restart, rewrites the mapping, and shows in history."""
    store, writer = writer_for(tmp_path, Mode.ORIGINAL)
    merge = Event("$merge", {"$distinct_ids": ["U1", "U2"]}, T0, "m1", trusted=True)
    later = Event("$merge", {"$distinct_ids": ["U3", "U4"]}, T0 + 5, "m2", trusted=True)
    writer.ingest([merge, later], received_at=T0)
    result = writer.split(insert_id="m1", time=T0 + 10)
    assert result.clusters == {"U1": ["U1"], "U2": ["U2"]}
    assert list(store.read_mapping(1)) == [("U4", "U3")]
    with pytest.raises(SplitRefused, match="undone already"):
        writer.split(insert_id="m1", time=T0 + 11)
    with pytest.raises(SplitRefused, match="no identity event"):
        writer.split(insert_id="nope", time=T0 + 11)
    store.close()

    store, writer = writer_for(tmp_path, Mode.ORIGINAL)
    assert writer.engine.resolve("U2") == "U2"
    assert writer.engine.resolve("U4") == "U3"
    outcomes = [h.outcome for h in writer.engine.explain("U1").history]
    assert outcomes == [Outcome.UNDONE, Outcome.SPLIT]
    applied = writer.ingest([Event("view", {"distinct_id": "U2"}, T0 + 20)], received_at=T0)
    assert applied.distinct_ids == ["U2"]
    assert [e.seq for e in store.read_events(1)][-1] > result.entry.seq
    store.close()


def test_mode_frozen_once_data_arrives(tmp_path: Path) -> None:
    """The mode changes freely while the project is empty, and never after."""
    store, writer = writer_for(tmp_path, Mode.SIMPLIFIED)
    assert set_mode(store, "app", "original").mode is Mode.ORIGINAL
    assert set_mode(store, "app", Mode.SIMPLIFIED).mode is Mode.SIMPLIFIED
    writer.ingest([Event("view", {"distinct_id": "u"}, T0)], received_at=T0)
    with pytest.raises(ModeFrozen, match="already holds data"):
        set_mode(store, "app", "legacy")
    assert get_project(store, "app").mode is Mode.SIMPLIFIED
    store.close()


def test_second_process_gets_a_clear_lock_error(tmp_path: Path) -> None:
    """Only one process may own the database; another is told so, not crashed."""
    store = open_store(tmp_path)
    code = (
        "import sys\n"
        "from idmerge.storage.duckdb import open_store\n"
        "from idmerge.errors import StoreLocked\n"
        "try:\n    open_store(sys.argv[1])\n"
        "except StoreLocked as e:\n    print('LOCKED', e.status)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.startswith("LOCKED 503"), out.stderr
    store.close()
