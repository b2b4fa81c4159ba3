"""``idmerge import --mode-of-origin``: a raw export of a project in a given mode,
imported into a project of that mode, rebuilds the project: every event under the id
it was first stored under, the same identity log and the same clusters."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import msgspec
import pytest
from test_import_equals_http import records

from clirun import invoker, one_line_error
from idmerge.identity import Mode
from idmerge.ingest import ProjectWriter
from idmerge.ingest.files import WriterDestination, import_file
from idmerge.ingest.history import from_export
from idmerge.projects import Project, create_project
from idmerge.query.export import ExportSpec, export_lines
from idmerge.storage.base import Store
from idmerge.storage.memory import MemoryStore

ORIGINS = (Mode.LEGACY, Mode.ORIGINAL, Mode.SIMPLIFIED)
MAY = ExportSpec(dt.date(2024, 5, 1), dt.date(2024, 5, 3))


def wall() -> int:
    return 1_714_800_000_000


def imported(store: Store, name: str, mode: Mode, path: Path, origin: Mode | None) -> Project:
    project = create_project(store, name, mode, now=0)
    destination = WriterDestination(ProjectWriter(store, project), "mixpanel", wall)
    import_file(destination, path, origin=origin)
    return project


def exported(store: Store, project: Project, path: Path, drop: tuple[str, ...] = ()) -> Path:
    lines = b"".join(export_lines(store, project, MAY)).splitlines()
    with path.open("wb") as out:
        for line in lines:
            record = msgspec.json.decode(line)
            for key in drop:
                record["properties"].pop(key, None)
            out.write(msgspec.json.encode(record) + b"\n")
    return path


def ids_by_event(store: Store, project: Project) -> list[tuple[str, str]]:
    return sorted((e.insert_id or e.name, e.distinct_id) for e in store.read_events(project.id))


def people(store: Store, project: Project) -> set[frozenset[str]]:
    """The clusters, as sets of ids (whichever id each resolves to)."""
    clusters: dict[str, set[str]] = {}
    for distinct_id, resolved in store.read_mapping(project.id):
        clusters.setdefault(resolved, {resolved}).add(distinct_id)
    return {frozenset(c) for c in clusters.values()}


def log(store: Store, project: Project) -> list[tuple[Any, ...]]:
    return [(e.op, e.ids, e.outcome, e.reason, e.event) for e in store.read_log(project.id)]


@pytest.fixture
def source(tmp_path: Path) -> Any:
    def build(mode: Mode) -> tuple[Store, Project]:
        store = MemoryStore()
        path = tmp_path / f"sent-{mode.value}.jsonl"
        path.write_bytes(b"".join(msgspec.json.encode(r) + b"\n" for r in records(mode)))
        return store, imported(store, "source", mode, path, None)

    return build


@pytest.mark.parametrize("mode", ORIGINS)
def test_an_export_read_back_rebuilds_the_project(source: Any, tmp_path: Path, mode: Mode) -> None:
    store, project = source(mode)
    path = exported(store, project, tmp_path / "export.jsonl")
    again = imported(store, "again", mode, path, mode)
    assert ids_by_event(store, again) == ids_by_event(store, project)
    assert log(store, again) == log(store, project)
    assert people(store, again) == people(store, project)
    for event in store.read_events(again.id):  # the origin's verdicts are not carried
        props = msgspec.json.decode(event.properties)
        assert "$distinct_id_before_identity" not in props or mode is Mode.LEGACY


def test_without_the_origin_the_canonical_ids_stay(source: Any, tmp_path: Path) -> None:
    """What the option is for: an export names every event by its cluster's
    canonical id, so an import as it is loses the ids events were sent with."""
    store, project = source(Mode.ORIGINAL)
    path = exported(store, project, tmp_path / "export.jsonl")
    as_is = imported(store, "as-is", Mode.ORIGINAL, path, None)
    assert ids_by_event(store, as_is) != ids_by_event(store, project)


def test_simplified_ids_come_back_from_user_and_device_ids(source: Any, tmp_path: Path) -> None:
    """Mixpanel's export may not carry $distinct_id_before_identity: a Simplified
    project's ids are still recoverable from $user_id / $device_id."""
    store, project = source(Mode.SIMPLIFIED)
    path = exported(store, project, tmp_path / "bare.jsonl", drop=("$distinct_id_before_identity",))
    again = imported(store, "again", Mode.ORIGINAL, path, Mode.SIMPLIFIED)
    sent = {e.insert_id: e.distinct_id for e in store.read_events(project.id)}
    read = {e.insert_id: msgspec.json.decode(e.properties) for e in store.read_events(again.id)}
    for insert_id, props in read.items():
        assert props["distinct_id"] == sent[insert_id]


@pytest.mark.parametrize(
    ("origin", "dropped"),
    [
        (Mode.ORIGINAL, ("$failure_reason", "$failure_description")),
        (Mode.LEGACY, ("$failure_reason", "$failure_description")),
        (Mode.SIMPLIFIED, ("$identity_failure_reason",)),
    ],
)
def test_the_origins_failure_properties_are_dropped(origin: Mode, dropped: tuple[str, ...]) -> None:
    kept = {"plan": "pro", "$failure_reason": "x", "$identity_failure_reason": "y"}
    props = {"distinct_id": "u", "$failure_description": "z", **kept}
    record = {"event": "e", "properties": props}
    read = from_export(record, origin)["properties"]
    assert not set(dropped) & set(read)
    assert read["plan"] == "pro" and read["distinct_id"] == "u"
    assert record["properties"] == props  # the record itself is left alone


@pytest.mark.parametrize("record", [None, [1], "text", {"event": "e"}, {"properties": 3}])
def test_a_record_that_is_no_event_is_left_for_the_import_to_refuse(record: Any) -> None:
    assert from_export(record, Mode.ORIGINAL) == record


def test_the_cli_takes_the_origin_for_mixpanel_files_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = invoker(tmp_path / "data", monkeypatch)
    path = tmp_path / "a.jsonl"
    path.write_text('{"type": "track", "event": "e", "userId": "u"}\n')
    result = run("import", str(path), "--format", "segment", "--mode-of-origin", "original")
    one_line_error(
        result,
        "--mode-of-origin reads Mixpanel raw exports; a Segment archive holds the "
        "messages as they were sent",
    )
    result = run("import", str(path), "--mode-of-origin", "cdp")
    assert result.exit_code == 2 and "'cdp' is not one of" in result.output
