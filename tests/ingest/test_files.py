"""Importing exported history from files (``idmerge.ingest.files``): Mixpanel JSON
lines, gzip, a JSON array, Segment messages; identity events take effect as over
HTTP, rejects keep their line, and a second import changes no report."""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from idmerge.identity import Mode
from idmerge.ingest import ProjectWriter
from idmerge.ingest.files import (
    CHUNK,
    TRANSACTION_RECORDS,
    WriterDestination,
    import_file,
    reject_path,
)
from idmerge.projects import create_project
from idmerge.query.buckets import Buckets
from idmerge.query.segmentation import SegmentationSpec, segmentation
from idmerge.storage.duckdb import DuckDBStore, open_store

MAY_1 = 1_714_521_600  # seconds
ANON = "00000000-0000-4000-8000-000000000001"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    opened = open_store(tmp_path / "data")
    yield opened
    opened.close()


def writer(store: DuckDBStore, mode: Mode) -> ProjectWriter:
    return ProjectWriter(store, create_project(store, f"p-{mode.value}", mode, now=0))


def record(name: str, n: int, **props: Any) -> dict[str, Any]:
    return {"event": name, "properties": {"time": MAY_1 + n, "$insert_id": f"i{n}", **props}}


def original_export() -> list[dict[str, Any]]:
    """An anonymous visit, the $identify that links it, and the user's purchase."""
    return [
        record("App Open", 1, distinct_id=f"$device:{ANON}"),
        record("$identify", 2, distinct_id="ann", **{"$anon_distinct_id": f"$device:{ANON}"}),
        record("Purchase", 3, distinct_id="ann"),
    ]


def write_lines(path: Path, lines: list[bytes]) -> Path:
    data = b"".join(line + b"\n" for line in lines)
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)
    return path


def now() -> int:
    return (MAY_1 + 86_400) * 1000  # the day after: every test event is in the past


def users(w: ProjectWriter, event: str) -> int:
    spec = SegmentationSpec(event, Buckets(dt.date(2024, 5, 1), dt.date(2024, 5, 1)), "unique")
    answer = segmentation(w.store, w.project, spec)
    return int(answer["data"]["values"][event]["2024-05-01"])


@pytest.mark.parametrize("name", ["export.jsonl", "export.jsonl.gz", "export.bin"])
def test_mixpanel_lines_plain_or_gzip_link_identities_as_over_http(
    store: DuckDBStore, tmp_path: Path, name: str
) -> None:
    w = writer(store, Mode.ORIGINAL)
    lines = [msgspec.json.encode(r) for r in original_export()]
    path = write_lines(tmp_path / name, lines)
    if name.endswith(".bin"):  # gzip is told by its bytes, not its name
        path.write_bytes(gzip.compress(path.read_bytes()))
    report = import_file(WriterDestination(w, "mixpanel", now), path)
    assert (report.records, report.imported, report.rejected) == (3, 3, 0)
    assert report.rejects_path is None and not reject_path(path).exists()
    assert w.engine.resolve(f"$device:{ANON}") == "ann"
    assert dict(store.read_mapping(w.project.id)) == {f"$device:{ANON}": "ann"}
    assert users(w, "App Open") == 1 and users(w, "Purchase") == 1


def test_rejects_keep_their_line_reason_and_record_and_become_warnings(
    store: DuckDBStore, tmp_path: Path
) -> None:
    w = writer(store, Mode.SIMPLIFIED)
    good = record("App Open", 1, distinct_id="a")
    lines = [
        msgspec.json.encode(good),
        b"",  # blank lines are skipped, not rejected
        b"{not json",
        msgspec.json.encode({"properties": {"distinct_id": "b", "time": MAY_1}}),  # no event
        msgspec.json.encode(record("View", 4, distinct_id="undefined")),  # a junk id
    ]
    path = write_lines(tmp_path / "export.jsonl", lines)
    report = import_file(WriterDestination(w, "mixpanel", now), path)
    assert (report.records, report.imported, report.rejected) == (3, 1, 3)
    assert report.rejects_path == reject_path(path)
    rejects = [json.loads(line) for line in reject_path(path).read_text().splitlines()]
    assert [(r["line"], r["reason"]) for r in sorted(rejects, key=lambda r: r["line"])] == [
        (3, "invalid_json"),
        (4, "missing_field"),
        (5, "junk_id"),
    ]
    assert all(r["message"] and r["record"] is not None for r in rejects)
    warnings = store.read_warnings(w.project.id)
    assert sorted(x.reason for x in warnings) == ["junk_id", "missing_field"]
    assert {x.endpoint for x in warnings} == {"idmerge import"}
    # a clean rerun replaces the reject file of the last run
    write_lines(path, [msgspec.json.encode(good)])
    assert import_file(WriterDestination(w, "mixpanel", now), path).rejected == 0
    assert not reject_path(path).exists()


def test_a_json_array_and_chunks_past_a_transaction(store: DuckDBStore, tmp_path: Path) -> None:
    w = writer(store, Mode.SIMPLIFIED)
    size = TRANSACTION_RECORDS + 500
    records = [record("Tick", n, distinct_id=f"d{n % 7}") for n in range(size)]
    records[CHUNK + 10] = {"event": "Tick"}  # in the second part of the first transaction
    records[size - 1] = {"event": "Tick"}
    path = tmp_path / "array.json"
    path.write_bytes(b"  \n" + msgspec.json.encode(records))
    seen: list[tuple[int, int]] = []
    report = import_file(
        WriterDestination(w, "mixpanel", now), path, progress=lambda *a: seen.append(a)
    )
    assert (report.records, report.imported, report.rejected) == (size, size - 2, 2)
    assert seen == [(TRANSACTION_RECORDS - 1, 1), (499, 1)]  # one transaction each
    rejects = [json.loads(x) for x in reject_path(path).read_text().splitlines()]
    assert [r["line"] for r in rejects] == [CHUNK + 11, size]


def test_importing_again_changes_no_report_and_no_cluster(
    store: DuckDBStore, tmp_path: Path
) -> None:
    w = writer(store, Mode.ORIGINAL)
    path = write_lines(tmp_path / "e.jsonl", [msgspec.json.encode(r) for r in original_export()])
    import_file(WriterDestination(w, "mixpanel", now), path)
    log, mapping = list(store.read_log(w.project.id)), dict(store.read_mapping(w.project.id))
    answers = users(w, "App Open"), users(w, "Purchase")
    import_file(WriterDestination(w, "mixpanel", now), path)
    assert dict(store.read_mapping(w.project.id)) == mapping
    assert [e.outcome for e in store.read_log(w.project.id)][: len(log)] == [e.outcome for e in log]
    assert (users(w, "App Open"), users(w, "Purchase")) == answers
    assert len(list(store.read_events_deduplicated(w.project.id))) == 3


def test_segment_messages_in_cdp(store: DuckDBStore, tmp_path: Path) -> None:
    w = writer(store, Mode.CDP)
    stamp = "2024-05-01T10:00:00.000Z"
    messages = [
        {"type": "track", "anonymousId": "anon-1", "event": "App Open", "timestamp": stamp,
         "messageId": "m1"},
        {"type": "identify", "anonymousId": "anon-1", "userId": "ann", "timestamp": stamp,
         "traits": {"plan": "pro"}, "messageId": "m2"},
        {"type": "teleport", "userId": "ann", "messageId": "m3"},
        {"type": "track", "userId": "ann", "event": "Purchase", "timestamp": stamp,
         "messageId": "m4"},
    ]  # fmt: skip
    path = write_lines(tmp_path / "archive.jsonl", [msgspec.json.encode(m) for m in messages])
    report = import_file(WriterDestination(w, "segment", now), path)
    assert (report.records, report.rejected) == (4, 1)
    assert report.imported == 3  # records accepted
    assert w.engine.resolve("$device:anon-1") == "ann"  # cdp stores anonymous ids so
    (reject,) = [json.loads(x) for x in reject_path(path).read_text().splitlines()]
    assert (reject["line"], reject["reason"]) == (3, "invalid_message")
    assert "teleport" in reject["message"]


def test_an_array_element_that_is_not_json_is_rejected_with_its_number(
    store: DuckDBStore, tmp_path: Path
) -> None:
    w = writer(store, Mode.SIMPLIFIED)
    good = msgspec.json.encode(record("App Open", 1, distinct_id="a"))
    path = tmp_path / "array.json.gz"
    path.write_bytes(gzip.compress(b"[" + good + b", {not json}, " + good + b"]"))
    report = import_file(WriterDestination(w, "mixpanel", now), path)
    assert (report.records, report.imported, report.rejected) == (2, 2, 1)
    (reject,) = [json.loads(x) for x in reject_path(path).read_text().splitlines()]
    assert (reject["line"], reject["reason"], reject["record"]) == (2, "invalid_json", "{not json}")
