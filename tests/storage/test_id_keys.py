"""The integer keys reports count people by (schema 5): every id has one, a person's
key is their resolved id's, and a file of schema 4 gains them when opened."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest

from idmerge.errors import StoreUnavailable
from idmerge.identity import Event, Mode, Resolutions
from idmerge.ingest import ProjectWriter
from idmerge.projects import Project
from idmerge.query.resolved import resolved_events
from idmerge.server.state import ServerState
from idmerge.storage import duckdb as duckdb_store
from idmerge.storage.base import Store, StoredEvent, WriteBatch, rows
from idmerge.storage.duckdb import DATABASE_FILE, SCHEMA_VERSION, DuckDBStore, open_store
from idmerge.storage.duckdb_schema import GIVE_KEYS_SQL, KEY_COLUMNS


def project(pid: int = 1, mode: Mode = Mode.ORIGINAL) -> Project:
    return Project(pid, f"app{pid}", f"token{pid}xx", f"secret{pid}xx", mode, 1_700_000_000_000)


def event(seq: int, distinct_id: str, name: str = "view") -> StoredEvent:
    return StoredEvent(seq, name, distinct_id, 1000 + seq, f"i{seq}", "{}", 5)


def keys(store: Store, pid: int = 1) -> dict[str, int]:
    """The project's id keys, checked to be one per id and never shared."""
    sql = "SELECT distinct_id, key FROM identity_keys WHERE project_id = $p"
    found = rows(store, sql, {"p": pid})
    assert len({key for _, key in found}) == len(found) == len({x for x, _ in found})
    return dict(found)  # type: ignore[arg-type]


def people(store: Store, proj: Project) -> list[tuple[str, str, int]]:
    """(stored id, resolved id, person key) of every event, by seq."""
    sql = (
        f"SELECT stored_distinct_id, distinct_id, person FROM ({resolved_events(proj)}) "
        "ORDER BY seq"
    )
    return rows(store, sql, {"project": proj.id})  # type: ignore[return-value]


def assert_one_key_per_person(store: Store, proj: Project) -> None:
    """A person key stands for exactly one resolved id, and the other way round."""
    found = people(store, proj)
    assert (
        len({(resolved, person) for _, resolved, person in found})
        == len({resolved for _, resolved, _ in found})
        == len({person for _, _, person in found})
    )


def test_keys_are_dense_in_first_met_order_and_survive_a_restart(tmp_path: Path) -> None:
    """Ids get 0, 1, 2, ... as writes first name them (events, then the mapping's
    ids); a reopened store goes on from where the file left off."""
    store = open_store(tmp_path)
    store.save_project(project())
    store.commit(
        1,
        WriteBatch(
            [event(0, "b"), event(1, "a"), event(2, "b")], mapping=Resolutions.of([("c", "a")])
        ),
    )
    assert keys(store) == {"b": 0, "a": 1, "c": 2}
    store.close()
    store = open_store(tmp_path)
    store.commit(1, WriteBatch([event(3, "d"), event(4, "a")]))
    assert keys(store) == {"b": 0, "a": 1, "c": 2, "d": 3}
    ids_and_keys = rows(store, "SELECT distinct_id, id_key FROM events ORDER BY seq", {})
    assert ids_and_keys == [("b", 0), ("a", 1), ("b", 0), ("d", 3), ("a", 1)]
    store.close()


def test_keys_read_ahead_of_the_first_write_go_on_from_the_file(tmp_path: Path) -> None:
    """A server reads a project's keys at start (``prepare_writes``), so its first
    write reads nothing more; writes go on from them as if that write had read them."""
    store = open_store(tmp_path)
    store.save_project(project())
    store.commit(1, WriteBatch([event(0, "a"), event(1, "b")]))
    store.close()
    store = open_store(tmp_path)
    store.prepare_writes(1)
    store.prepare_writes(1)  # again: nothing changes
    # what the first write would read now, were the keys not read already
    store._con.execute("UPDATE identity_keys SET key = key + 10")
    store.commit(1, WriteBatch([event(2, "b"), event(3, "c")]))
    found = rows(store, "SELECT distinct_id, id_key FROM events WHERE seq >= 2 ORDER BY seq", {})
    assert found == [("b", 1), ("c", 2)]
    store.close()


class FailingAfterCommit:
    """A connection whose next ``unregister`` (after the batch's COMMIT) raises."""

    def __init__(self, con: Any) -> None:
        self.con = con
        self.armed = True

    def unregister(self, name: str) -> Any:
        self.con.unregister(name)
        if self.armed:
            self.armed = False
            raise duckdb.Error("lost after COMMIT")

    def __getattr__(self, name: str) -> Any:
        return getattr(self.con, name)


def test_a_write_that_fails_after_its_commit_keeps_the_keys_apart(tmp_path: Path) -> None:
    """When a write fails once its rows are stored, its keys are in the file: the next
    new id must not get one of them again."""
    store = open_store(tmp_path)
    store.save_project(project())
    store.commit(1, WriteBatch([event(0, "a"), event(1, "b")]))
    store._con = FailingAfterCommit(store._con)  # type: ignore[assignment]
    with pytest.raises(duckdb.Error):
        store.commit(1, WriteBatch([event(2, "c")]))
    store.commit(1, WriteBatch([event(3, "d")]))
    assert keys(store) == {"a": 0, "b": 1, "c": 2, "d": 3}
    store.close()


def test_two_stores_on_one_file_give_keys_apart(tmp_path: Path) -> None:
    """A process may open one file twice (DuckDB allows it): the stores share the
    keys, so no two ids get the same one."""
    first = open_store(tmp_path)
    second = open_store(tmp_path)
    first.save_project(project())
    first.commit(1, WriteBatch([event(0, "a")]))
    second.commit(1, WriteBatch([event(1, "b")]))
    first.commit(1, WriteBatch([event(2, "c")]))
    assert keys(first) == {"a": 0, "b": 1, "c": 2}
    second.close()
    first.close()


def damage_keys(data_dir: Path, damage: str, ids: tuple[str, ...] = ("a",)) -> None:
    """A store in ``data_dir`` whose project 1 holds an event for each of ``ids``, then
    ``damage`` done to its id keys behind the store's back (the store left closed)."""
    store = open_store(data_dir)
    store.save_project(project())
    store.commit(1, WriteBatch([event(seq, x) for seq, x in enumerate(ids)]))
    store.close()
    con = duckdb.connect(str(data_dir / DATABASE_FILE))
    con.execute(damage)
    con.close()


@pytest.mark.parametrize(
    "damage",
    [
        "INSERT INTO identity_keys VALUES (1, 'c', 1)",  # a key given twice
        "INSERT INTO identity_keys VALUES (1, 'a', 2)",  # an id keyed twice
        "UPDATE identity_keys SET key = 5 WHERE distinct_id = 'b'",  # a gap
    ],
)
def test_damaged_keys_take_no_more_writes(tmp_path: Path, damage: str) -> None:
    """Keys that are not one per id, 0 to n-1, would make new keys clash: the store
    refuses to write the project, naming the problem, and reads still work."""
    damage_keys(tmp_path, damage, ("a", "b"))
    store = open_store(tmp_path)
    with pytest.raises(StoreUnavailable, match="damaged: project 1's id keys"):
        store.commit(1, WriteBatch([event(2, "new")]))
    # the damage is read once: later writes are refused at once, not by reading it all
    store._con.execute("DELETE FROM identity_keys WHERE project_id = 1")
    with pytest.raises(StoreUnavailable, match="damaged: project 1's id keys"):
        store.commit(1, WriteBatch([event(3, "new")]))
    assert [e.distinct_id for e in store.read_events(1)] == ["a", "b"]
    store.close()


def test_a_write_to_a_damaged_project_is_refused_before_the_engine_is_touched(
    tmp_path: Path,
) -> None:
    """A refused write leaves nothing to undo: the writer does not rebuild its engine
    from the whole store on every retry of it."""
    damage_keys(tmp_path, "INSERT INTO identity_keys VALUES (1, 'b', 0)")  # key 0 twice
    store = open_store(tmp_path)
    writer = ProjectWriter(store, project())
    engine = writer.engine
    for attempt in range(2):
        with pytest.raises(StoreUnavailable, match="damaged"):
            writer.ingest([Event("view", {"distinct_id": f"new{attempt}"})], received_at=0)
        assert writer.engine is engine  # not rebuilt
    assert writer.next_seq == 1
    store.close()


def test_a_server_starts_beside_a_damaged_project(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Damaged keys in one project do not keep the server from starting: it logs
    which project takes no writes."""
    damage_keys(tmp_path, "INSERT INTO identity_keys VALUES (1, 'b', 0)")  # key 0 twice
    state = ServerState.open(open_store(tmp_path))
    assert "project 'app1' takes no writes" in caplog.text
    assert "damaged" in caplog.text
    state.close()


def test_keys_are_per_project(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    store.save_project(project(1))
    store.save_project(project(2))
    store.commit(1, WriteBatch([event(0, "a"), event(1, "b")]))
    store.commit(2, WriteBatch([event(2, "b")]))
    assert keys(store, 1) == {"a": 0, "b": 1}
    assert keys(store, 2) == {"b": 0}
    store.close()


def test_a_failed_batch_gives_no_key(tmp_path: Path) -> None:
    """Keys a batch gave are forgotten when it fails: the next write reuses them, so
    the keys stay dense and the file never holds a key no row was written with."""
    store = open_store(tmp_path)
    store.save_project(project())
    store.commit(1, WriteBatch([event(0, "a")]))
    bad = event(1, "new")._replace(name=None)  # events.event is NOT NULL
    with pytest.raises(duckdb.Error):
        store.commit(1, WriteBatch([bad]))
    store.commit(1, WriteBatch([event(2, "other")]))
    assert keys(store) == {"a": 0, "other": 1}
    store.close()


@pytest.mark.parametrize("mode", [Mode.ORIGINAL, Mode.LEGACY])
def test_a_person_is_the_key_of_their_resolved_id(store: Store, mode: Mode) -> None:
    """Merged ids count as one person, split ones as two again; legacy counts the
    stored id (it is never re-attributed)."""
    proj = project(mode=mode)
    store.save_project(proj)
    store.commit(
        1,
        WriteBatch(
            [event(0, "a"), event(1, "b"), event(2, "c")], mapping=Resolutions.of([("b", "a")])
        ),
    )
    found = people(store, proj)
    if mode is Mode.LEGACY:
        assert len({person for *_, person in found}) == 3
    else:
        assert found[0][2] == found[1][2] != found[2][2]
        assert [resolved for _, resolved, _ in found] == ["a", "a", "c"]
    assert_one_key_per_person(store, proj)
    store.commit(
        1, WriteBatch(mapping=Resolutions.of([("c", "z")]), replace_mapping=True)
    )  # b split off
    found = people(store, proj)
    assert len({person for *_, person in found}) == 3
    if mode is not Mode.LEGACY:
        assert [resolved for _, resolved, _ in found] == ["a", "b", "z"]
    assert_one_key_per_person(store, proj)


#: The tables schema 4 had that schema 5 changes, as schema 4 declared them.
SCHEMA_4 = """
CREATE TABLE idmerge_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
INSERT INTO idmerge_meta VALUES ('schema_version', '4');
CREATE TABLE events (project_id INTEGER NOT NULL, seq BIGINT NOT NULL, event VARCHAR NOT NULL,
    distinct_id VARCHAR NOT NULL, time BIGINT NOT NULL, insert_id VARCHAR,
    properties VARCHAR NOT NULL, received_at BIGINT NOT NULL);
CREATE INDEX events_distinct_id ON events (distinct_id);
CREATE TABLE identity_mapping (project_id INTEGER NOT NULL, distinct_id VARCHAR NOT NULL,
    resolved_distinct_id VARCHAR NOT NULL);
INSERT INTO events VALUES
    (1, 0, 'view', 'dev-1', 1000, 'i0', '{}', 5), (1, 1, 'view', 'user', 1001, 'i1', '{}', 5),
    (1, 2, 'view', 'dev-2', 1002, 'i2', '{}', 5), (1, 3, 'view', 'loner', 1003, 'i3', '{}', 5),
    (2, 4, 'view', 'dev-1', 1004, 'i4', '{}', 5);
INSERT INTO identity_mapping VALUES
    (1, 'dev-1', 'user'), (1, 'dev-2', 'user'), (1, 'alias-only', 'user'), (2, 'dev-1', 'u2');
"""


def test_a_schema_4_file_gains_keys_when_opened(tmp_path: Path) -> None:
    """Opening a file of schema 4 gives every id of every project a key and fills the
    key columns, so reports read it as they read a new file; writes go on densely."""
    con = duckdb.connect(str(tmp_path / DATABASE_FILE))
    con.execute(SCHEMA_4)
    con.close()
    store = DuckDBStore(tmp_path / DATABASE_FILE)
    first, second = project(1), project(2)
    store.save_project(first)
    store.save_project(second)
    version = rows(store, "SELECT value FROM idmerge_meta WHERE key = 'schema_version'", {})
    assert version == [(str(SCHEMA_VERSION),)]
    assert sorted(keys(store, 1).values()) == [0, 1, 2, 3, 4]  # alias-only too
    assert sorted(keys(store, 2)) == ["dev-1", "u2"]
    nulls = rows(
        store,
        "SELECT (SELECT count(*) FROM events WHERE id_key IS NULL), (SELECT count(*) FROM "
        "identity_mapping WHERE id_key IS NULL OR resolved_key IS NULL)",
        {},
    )
    assert nulls == [(0, 0)]
    found = people(store, first)
    assert [resolved for _, resolved, _ in found] == ["user", "user", "user", "loner"]
    assert len({person for *_, person in found}) == 2
    assert_one_key_per_person(store, first)
    assert_one_key_per_person(store, second)
    store.commit(1, WriteBatch([event(5, "fresh")]))
    assert keys(store, 1)["fresh"] == 5
    store.close()


def test_an_interrupted_upgrade_goes_on_at_the_next_opening(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The upgrade commits step by step, and the version comes last: a file left with
    its columns added and some keys given is finished at the next opening, the events
    keyed a few at a time, and reads as one upgraded at once."""
    con = duckdb.connect(str(tmp_path / DATABASE_FILE))
    con.execute(SCHEMA_4)
    con.execute(
        "CREATE TABLE identity_keys (project_id INTEGER NOT NULL, "
        "distinct_id VARCHAR NOT NULL, key INTEGER NOT NULL)"
    )
    for table, column in KEY_COLUMNS:
        con.execute(f"ALTER TABLE {table} ADD COLUMN {column} INTEGER")
    con.execute(GIVE_KEYS_SQL)
    con.execute("UPDATE events SET id_key = 0 WHERE seq = 0")  # the first step's work
    con.close()
    monkeypatch.setattr(duckdb_store, "KEY_EVENTS_PER_STEP", 2)
    store = DuckDBStore(tmp_path / DATABASE_FILE)
    version = rows(store, "SELECT value FROM idmerge_meta WHERE key = 'schema_version'", {})
    assert version == [(str(SCHEMA_VERSION),)]
    first = project(1)
    found = people(store, first)
    assert [resolved for _, resolved, _ in found] == ["user", "user", "user", "loner"]
    assert_one_key_per_person(store, first)
    assert_one_key_per_person(store, project(2))
    assert sorted(keys(store, 1).values()) == [0, 1, 2, 3, 4]
    store.close()
