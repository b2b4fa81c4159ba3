"""Export, mappings, activity and explain on resolved ids, through the library over a
real DuckDB file: a merge re-attributes what came before it (except in legacy), and a
split gives it back."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pyarrow.parquet as pq
import pytest

from idmerge.errors import BadRequest, SplitRefused
from idmerge.identity import Mode
from idmerge.ingest import ProjectWriter
from idmerge.projects import Project, create_project
from idmerge.query import discovery
from idmerge.query import identity as tools
from idmerge.query.export import ExportSpec, export_lines
from idmerge.query.mappings import mapping_chunks
from idmerge.storage.duckdb import DuckDBStore, open_store
from journeys import alias, device_id, identify, ingest, journeys, merge, track

D1, D2, D3 = device_id(1), device_id(2), device_id(3)
MAY = ExportSpec(dt.date(2024, 5, 1), dt.date(2024, 5, 31))


@pytest.fixture
def opened(tmp_path: Path) -> Iterator[DuckDBStore]:
    store = open_store(tmp_path)
    yield store
    store.close()


def writer_in(store: DuckDBStore, mode: Mode) -> ProjectWriter:
    project = create_project(store, f"p-{mode.value}", mode, now=0)
    return ProjectWriter(store, project)


def exported(store: DuckDBStore, project: Project, spec: ExportSpec = MAY) -> dict[str, Any]:
    """``$insert_id`` -> exported properties."""
    text = b"".join(export_lines(store, project, spec)).decode()
    lines = [msgspec.json.decode(line) for line in text.splitlines()]
    return {line["properties"]["$insert_id"]: line for line in lines}


def owners(store: DuckDBStore, project: Project) -> dict[str, str]:
    """``$insert_id`` -> the distinct_id export gives it."""
    return {k: v["properties"]["distinct_id"] for k, v in exported(store, project).items()}


def mapping(store: DuckDBStore, project: Project) -> dict[str, str]:
    rows = b"".join(mapping_chunks(store, project, "json")).decode().splitlines()
    return {
        row["distinct_id"]: row["resolved_distinct_id"] for row in map(msgspec.json.decode, rows)
    }


# -- a login re-attributes the anonymous past, in each mode -----------------------

ANONYMOUS_THEN_LOGIN = {
    Mode.SIMPLIFIED: (
        [track("2024-05-01 10:00", "App Open", device=D1)],
        [track("2024-05-01 10:05", "Sign Up", device=D1, user="alice")],
        f"$device:{D1}",
    ),
    Mode.ORIGINAL: (
        [track("2024-05-01 10:00", "App Open", device=D1)],
        [identify("2024-05-01 10:05", D1, "alice")],
        D1,
    ),
    Mode.CDP: (
        [track("2024-05-01 10:00", "App Open", device=D1)],
        [identify("2024-05-01 10:05", D1, "alice")],
        f"$device:{D1}",
    ),
}


@pytest.mark.parametrize("mode", list(ANONYMOUS_THEN_LOGIN))
def test_a_login_re_attributes_earlier_events(opened: DuckDBStore, mode: Mode) -> None:
    before, login, anonymous = ANONYMOUS_THEN_LOGIN[mode]
    writer = writer_in(opened, mode)
    ingest(writer, journeys(mode, {"alice": before}))
    first = exported(opened, writer.project)["alice-0"]["properties"]
    assert first["distinct_id"] == anonymous
    assert first["$distinct_id_before_identity"] == anonymous

    ingest(writer, journeys(mode, {"alice": [*before, *login]})[1:])
    now = exported(opened, writer.project)
    assert now["alice-0"]["properties"]["distinct_id"] == "alice"  # retroactive
    assert now["alice-0"]["properties"]["$distinct_id_before_identity"] == anonymous
    assert now["alice-1"]["properties"]["distinct_id"] == "alice"
    assert mapping(opened, writer.project) == {anonymous: "alice"}
    assert tools.explain(writer, anonymous)["resolved_distinct_id"] == "alice"
    members = discovery.people_ids(writer.engine, mode, [anonymous])
    people = discovery.activity(opened, writer.project, members)
    assert [e["properties"]["$insert_id"] for e in people] == ["alice-0", "alice-1"]
    assert {e["properties"]["distinct_id"] for e in people} == {"alice"}


def test_legacy_resolves_at_ingestion_and_never_re_attributes(opened: DuckDBStore) -> None:
    """An event sent as ``alice`` before the alias stays ``alice``; one sent after it
    is stored (and exported) under the aliased id."""
    writer = writer_in(opened, Mode.LEGACY)
    events = journeys(
        Mode.LEGACY,
        {
            "alice": [
                track("2024-05-01 09:00", "Early", user="alice"),
                track("2024-05-01 10:00", "App Open", device=D1),
                alias("2024-05-01 10:05", "alice", D1),
                track("2024-05-01 10:10", "Purchase", user="alice"),
            ]
        },
    )
    ingest(writer, events)
    owner = owners(opened, writer.project)
    assert owner["alice-0"] == "alice"  # before the alias: not re-attributed
    assert owner["alice-1"] == D1
    assert owner["alice-3"] == D1  # after it: resolved when ingested
    line = exported(opened, writer.project)["alice-3"]["properties"]
    assert line["$distinct_id_before_identity"] == D1  # legacy stored it resolved


# -- export's own rules -------------------------------------------------------------


def test_export_shape_filters_and_units(opened: DuckDBStore) -> None:
    mode = Mode.SIMPLIFIED
    writer = writer_in(opened, mode)
    ingest(
        writer,
        journeys(
            mode,
            {
                "a": [
                    track("2024-04-30 23:59:59", "App Open", device=D1),
                    track("2024-05-01 00:00", "App Open", device=D1, **{"$os": "Linux"}),
                    track("2024-05-02 12:00:00", "Purchase", device=D1, price=10),
                    track("2024-05-03 00:00", "Purchase", device=D1, price=20),
                ]
            },
        ),
        received_at=1_800_000_000_123,
    )
    spec = ExportSpec(dt.date(2024, 5, 1), dt.date(2024, 5, 2))
    lines = exported(opened, writer.project, spec)
    assert sorted(lines) == ["a-1", "a-2"]  # inclusive UTC days, nothing outside
    line = lines["a-2"]
    assert line["event"] == "Purchase"
    assert line["properties"]["time"] == 1714651200  # seconds
    assert line["properties"]["mp_processing_time_ms"] == 1_800_000_000_123
    assert line["properties"]["price"] == 10
    in_ms = exported(
        opened, writer.project, ExportSpec(spec.from_date, spec.to_date, time_in_ms=True)
    )
    assert in_ms["a-2"]["properties"]["time"] == 1714651200000
    only = ExportSpec(MAY.from_date, MAY.to_date, events=("Purchase",))
    assert sorted(exported(opened, writer.project, only)) == ["a-2", "a-3"]
    where = ExportSpec(MAY.from_date, MAY.to_date, where='properties["$os"] == "Linux"')
    assert sorted(exported(opened, writer.project, where)) == ["a-1"]
    limited = ExportSpec(MAY.from_date, MAY.to_date, limit=2)
    assert len(exported(opened, writer.project, limited)) == 2


def test_export_keeps_duplicates(opened: DuckDBStore) -> None:
    """Export is raw, as Mixpanel's: a re-sent event appears twice; reports dedup."""
    mode = Mode.SIMPLIFIED
    writer = writer_in(opened, mode)
    events = journeys(mode, {"a": [track("2024-05-01 10:00", "App Open", device=D1)]})
    ingest(writer, events)
    ingest(writer, events)
    text = b"".join(export_lines(opened, writer.project, MAY)).decode()
    assert len(text.splitlines()) == 2


@pytest.mark.parametrize(
    "params, message",
    [
        ({"from_date": "2024-05-01"}, "to_date is required"),
        ({"from_date": "2024-5-1", "to_date": "2024-05-02"}, "from_date must be a day"),
        ({"from_date": "2024-05-03", "to_date": "2024-05-02"}, "is before from_date"),
        ({"from_date": "2024-05-01", "to_date": "2024-05-02", "limit": "100001"}, "limit"),
        ({"from_date": "2024-05-01", "to_date": "2024-05-02", "event": "[1]"}, "event"),
        ({"from_date": "2024-05-01", "to_date": "2024-05-02", "event": '["a"'}, "event"),
    ],
)
def test_export_parameters_are_checked(params: dict[str, str], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        ExportSpec.from_params(params)


def test_mapping_formats_agree(opened: DuckDBStore) -> None:
    mode = Mode.SIMPLIFIED
    writer = writer_in(opened, mode)
    ingest(
        writer,
        journeys(
            mode,
            {
                "a": [track("2024-05-01 10:00", "Login", device=D1, user="alice")],
                "b": [track("2024-05-01 11:00", "Login", device=D2, user="bob")],
            },
        ),
    )
    expected = {f"$device:{D1}": "alice", f"$device:{D2}": "bob"}
    assert mapping(opened, writer.project) == expected
    csv_text = b"".join(mapping_chunks(opened, writer.project, "csv")).decode()
    assert csv_text.splitlines() == [
        "distinct_id,resolved_distinct_id",
        f"$device:{D1},alice",
        f"$device:{D2},bob",
    ]
    table = pq.read_table(io.BytesIO(b"".join(mapping_chunks(opened, writer.project, "parquet"))))
    assert dict(zip(*table.to_pydict().values(), strict=True)) == expected


# -- split ------------------------------------------------------------------------


def test_a_split_restores_every_answer_and_keeps_later_merges(opened: DuckDBStore) -> None:
    """Original mode: two people merged by a mistaken ``$merge``; undoing it gives
    export, mappings, activity and explain back their pre-merge answers, while a later,
    unrelated login stays merged."""
    mode = Mode.ORIGINAL
    writer = writer_in(opened, mode)
    ingest(
        writer,
        journeys(
            mode,
            {
                "alice": [
                    track("2024-05-01 10:00", "App Open", device=D1),
                    identify("2024-05-01 10:05", D1, "alice"),
                    track("2024-05-01 10:06", "Purchase", user="alice"),
                ],
                "bob": [
                    track("2024-05-02 10:00", "App Open", device=D2),
                    identify("2024-05-02 10:05", D2, "bob"),
                ],
            },
        ),
    )
    before = (owners(opened, writer.project), mapping(opened, writer.project))
    ingest(writer, journeys(mode, {"oops": [merge("2024-05-03 10:00", "alice", "bob")]}))
    assert len(set(owners(opened, writer.project).values())) == 1  # everyone is one person
    ingest(
        writer,
        journeys(
            mode,
            {
                "carol": [
                    track("2024-05-04 10:00", "App Open", device=D3),
                    identify("2024-05-04 10:05", D3, "carol"),
                ]
            },
        ),
    )

    merged = (owners(opened, writer.project), mapping(opened, writer.project))
    preview = tools.split(writer, now_ms=1, insert_id="oops-0", dry_run=True)
    assert preview["dry_run"] is True
    assert preview["moved_ids"] == sorted(["bob", D2])
    assert preview["moved_events"] == 2  # bob's App Open (under D2) and his $identify
    assert (owners(opened, writer.project), mapping(opened, writer.project)) == merged
    assert tools.explain(writer, "bob")["resolved_distinct_id"] == "alice"  # nothing moved

    answer = tools.split(writer, now_ms=1, insert_id="oops-0")
    assert "dry_run" not in answer
    assert (answer["moved_ids"], answer["moved_events"]) == (
        preview["moved_ids"],
        preview["moved_events"],
    )
    assert answer["clusters"] == preview["clusters"]
    assert answer["split"]["outcome"] == "split"
    assert set(answer["clusters"]["bob"]["cluster"]) == {D2, "bob"}
    assert answer["clusters"][D1]["resolved_distinct_id"] == "alice"

    after_owners = owners(opened, writer.project)
    after_mapping = mapping(opened, writer.project)
    carol = {k: v for k, v in after_owners.items() if k.startswith("carol")}
    assert set(carol.values()) == {"carol"}  # the later merge stays
    assert after_mapping.pop(D3) == "carol"
    del after_owners["oops-0"]
    assert {k: v for k, v in after_owners.items() if not k.startswith("carol")} == before[0]
    assert after_mapping == before[1]
    history = tools.explain(writer, "bob")["history"]
    assert history[-1]["outcome"] == "split" and history[-1]["undoes"]
    with pytest.raises(SplitRefused, match="undone already"):
        tools.split(writer, now_ms=2, insert_id="oops-0")


def test_split_by_detaching_an_id(opened: DuckDBStore) -> None:
    mode = Mode.SIMPLIFIED
    writer = writer_in(opened, mode)
    ingest(
        writer,
        journeys(
            mode,
            {
                "a": [
                    track("2024-05-01 10:00", "App Open", device=D1),
                    track("2024-05-01 10:01", "Login", device=D1, user="alice"),
                    track("2024-05-01 10:02", "Login", device=D2, user="alice"),
                ]
            },
        ),
    )
    assert owners(opened, writer.project)["a-0"] == "alice"
    tools.split(writer, now_ms=1, detach=f"$device:{D1}")
    assert owners(opened, writer.project)["a-0"] == f"$device:{D1}"
    assert mapping(opened, writer.project) == {f"$device:{D2}": "alice"}
    with pytest.raises(BadRequest, match="exactly one"):
        tools.split(writer, now_ms=2)
