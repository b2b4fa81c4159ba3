"""Importing exported history from files (``idmerge.ingest.files``): Mixpanel JSON
lines, gzip, a JSON array, Segment messages; identity events take effect as over
HTTP, rejects keep their line, a second import changes no report, the file is read
as it is imported, and one that breaks off stops the import clearly."""

from __future__ import annotations

import datetime as dt
import gzip
import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from idmerge.errors import BadRequest
from idmerge.identity import Mode
from idmerge.ingest import ProjectWriter, files
from idmerge.ingest.files import (
    CHUNK,
    TRANSACTION_RECORDS,
    WriterDestination,
    import_file,
    reject_path,
    request_parts,
)
from idmerge.projects import create_project
from idmerge.query.buckets import Buckets
from idmerge.query.segmentation import SegmentationSpec, segmentation
from idmerge.storage.duckdb import DuckDBStore, open_store
from idmerge.wire.results import Rejection
from idmerge.wire.segment import MAX_BATCH_BYTES
from idmerge.wire.values import DEFAULT_LIMITS

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
    told: list[tuple[int, int]] = []
    report = import_file(
        WriterDestination(w, "mixpanel", now), path, progress=lambda *a: told.append(a)
    )
    assert (report.records, report.imported, report.rejected) == (3, 1, 3)
    assert told == [(1, 3)]  # the line that is not JSON counted as rejected too
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


class Counting:
    """A destination that keeps nothing: it takes every record, and notes how far
    into the file ``reading`` has got at each send."""

    chunk = 500

    def __init__(self) -> None:
        self.records = 0
        self.read_at: list[int] = []
        self.reading: Any = None

    def send(self, records: list[Any]) -> tuple[int, list[Rejection]]:
        self.records += len(records)
        self.read_at.append(self.reading.tell())
        return len(records), []


@pytest.mark.parametrize("name", ["big.jsonl", "big.jsonl.gz", "big.json"])
def test_records_go_on_as_the_file_is_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """Memory stays flat whatever the file's size: the first records are sent when a
    block of the file has been read, not the whole of it."""
    line = msgspec.json.encode(record("Tick", 1, distinct_id="d", pad="x" * 200))
    count = 10_000
    raw = (
        b"[" + b",\n".join([line] * count) + b"]"
        if name.endswith(".json")
        else b"\n".join([line] * count)
    )
    path = tmp_path / name
    path.write_bytes(gzip.compress(raw) if name.endswith(".gz") else raw)
    destination = Counting()
    opened = files._open

    def watched(path: Path) -> Any:
        destination.reading = opened(path)
        return destination.reading

    monkeypatch.setattr(files, "_open", watched)
    assert import_file(destination, path).imported == count
    assert destination.records == count and len(destination.read_at) == count // 500
    assert destination.read_at[0] < len(raw) // 2, destination.read_at


def test_a_file_that_breaks_off_stops_after_importing_what_came_before(
    store: DuckDBStore, tmp_path: Path
) -> None:
    """A gzip cut short (a copy that did not finish) or a JSON array that ends early:
    the error names the file and the last line read, and the lines before it are
    stored (importing the mended file again is harmless)."""
    w = writer(store, Mode.SIMPLIFIED)
    lines = [msgspec.json.encode(record("Tick", n, distinct_id="a")) for n in range(3_000)]
    whole = gzip.compress(b"".join(line + b"\n" for line in lines))
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(BadRequest, match="Compressed file ended") as refused:
        import_file(WriterDestination(w, "mixpanel", now), cut)
    stored = len(list(store.read_events(w.project.id)))
    assert 0 < stored < 3_000
    assert refused.value.message.startswith(f"{cut} breaks off after line {stored:,}: ")

    array = tmp_path / "short.json"
    array.write_bytes(b"[" + b",".join(lines[:2]) + b', {"event": ')
    with pytest.raises(BadRequest) as refused:
        import_file(WriterDestination(w, "mixpanel", now), array)
    assert refused.value.message == (
        f"{array} breaks off after line 2: the JSON array ends early, in element 3; "
        "the lines before it are imported"
    )


def test_an_unwritable_reject_file_is_a_clear_error(store: DuckDBStore, tmp_path: Path) -> None:
    w = writer(store, Mode.SIMPLIFIED)
    path = write_lines(tmp_path / "export.jsonl", [b"{not json"])
    reject_path(path).mkdir()  # as a read-only directory would refuse it
    with pytest.raises(BadRequest, match=f"cannot write {reject_path(path)}: "):
        import_file(WriterDestination(w, "mixpanel", now), path)


def test_mixpanel_records_go_in_parts_within_imports_limits() -> None:
    """A part holds at most 2,000 records and 10 MB of compact JSON (what /import
    takes); a record alone past 10 MB is a part of its own."""
    small = [{"event": "View", "properties": {"n": n}} for n in range(4_500)]
    assert [(start, len(part)) for start, part in request_parts(small, "mixpanel")] == [
        (0, 2_000),
        (2_000, 2_000),
        (4_000, 500),
    ]
    wide = [{"event": "View", "properties": {"pad": "x" * 6_000, "n": n}} for n in range(2_000)]
    wide.insert(1_800, {"event": "Huge", "properties": {"pad": "x" * (11 * 1024 * 1024)}})
    parts = list(request_parts(wide, "mixpanel"))
    assert [r for _, part in parts for r in part] == wide
    assert [start for start, _ in parts] == [
        0,
        *itertools.accumulate(len(p) for _, p in parts[:-1]),
    ]
    limit = DEFAULT_LIMITS.max_body_bytes
    assert [part for _, part in parts if len(msgspec.json.encode(part)) > limit] == [[wide[1_800]]]
    assert len(parts) == 4  # 10 MB, the rest of the 10.8 MB before the huge one, it, 1.2 MB


def test_segment_messages_go_in_batches_within_segments_limit(
    store: DuckDBStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past 500 KB a ``/v1/batch`` is refused whole: a part of the file is cut to
    fit, rather than refused and then taken a message at a time."""
    messages = [
        {"type": "track", "anonymousId": f"a{n}", "event": "View", "messageId": f"m{n}",
         "timestamp": "2024-05-01T10:00:00.000Z", "properties": {"pad": "x" * 400}}
        for n in range(3_000)
    ]  # fmt: skip
    parts = list(request_parts(messages, "segment"))
    assert [m for _, part in parts for m in part] == messages
    assert [start for start, _ in parts] == [
        0,
        *itertools.accumulate(len(p) for _, p in parts[:-1]),
    ]
    assert all(len(msgspec.json.encode({"batch": part})) <= MAX_BATCH_BYTES for _, part in parts)
    assert len(parts) == 4  # 1.6 MB in all
    batches: list[int] = []
    translate = files.segment_batch

    def counted(body: Any, **kwargs: Any) -> Any:
        batches.append(len(body["batch"]))
        return translate(body, **kwargs)

    monkeypatch.setattr(files, "segment_batch", counted)
    w = writer(store, Mode.CDP)
    path = write_lines(tmp_path / "archive.jsonl", [msgspec.json.encode(m) for m in messages])
    report = import_file(WriterDestination(w, "segment", now), path)
    assert (report.imported, report.rejected) == (3_000, 0)
    assert batches == [len(part) for _, part in parts]  # no message taken alone
