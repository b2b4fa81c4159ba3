"""Bulk import of exported history: Mixpanel raw exports and Segment/Customer.io
archives, from files, through the very path the server's ``/import`` and
``/v1/batch`` take (the same decoding, validation, identity engine and writer).

A file is JSON lines (one record a line, blank lines skipped) or one JSON array,
plain or gzip (recognised by its first bytes, whatever its name). Either is read a
block at a time (an array through :mod:`idmerge.ingest.jsonarray`), so memory stays
flat whatever the file's size.

Records are checked in parts of what one request may carry (:func:`request_parts`:
:data:`CHUNK` records within the 10 MB of an ``/import``, Segment messages within the
500 KB of a ``/v1/batch``), so a part is what one request would be, and written
:data:`TRANSACTION_RECORDS` at a time in one transaction (what the server's group
commit does with concurrent requests; larger appends are what make DuckDB fast).
A file that cannot be read to its end (broken gzip, a JSON array cut short) stops
the import with an error naming the file and the line; what came before it is
imported.

A record that is not accepted is never dropped: it is written, with its line number,
the reason code and the message, to the reject file next to the input
(``<file>.rejects.jsonl``), and stored as an ingestion warning as the server would.
Importing the same file twice is harmless to every report: identity events are
idempotent by ``$insert_id``, and reports count a retried event once (export, as
Mixpanel's, lists both).
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol

import msgspec

from idmerge.errors import BadRequest
from idmerge.identity import Mode
from idmerge.ingest.history import from_export
from idmerge.ingest.jsonarray import array_elements
from idmerge.ingest.pipeline import ProjectWriter, Submission
from idmerge.projects import Project
from idmerge.wire.mixpanel import import_events
from idmerge.wire.results import Rejection, RejectReason
from idmerge.wire.segment import MAX_BATCH_BYTES, segment_batch
from idmerge.wire.values import DEFAULT_LIMITS

CHUNK = DEFAULT_LIMITS.max_events  # records per part: /import's own limit per request
TRANSACTION_RECORDS = 20_000  # records per transaction, written straight to the store
FORMATS = ("mixpanel", "segment")
_decoder = msgspec.json.Decoder()
_encoder = msgspec.json.Encoder()
_BATCH_FRAME = len(b'{"batch":[]}')  # a /v1/batch body but its messages
_ARRAY_FRAME = len(b"[]")  # an /import body but its records
#: what stops a file being read to its end (gzip's errors, a JSON array's, the disk's)
_UNREADABLE = (BadRequest, EOFError, OSError, zlib.error)


@dataclass
class FileReport:
    """What one file brought."""

    path: Path
    records: int = 0
    imported: int = 0  # records accepted (a Segment identify may store an event and traits)
    rejected: int = 0
    rejects_path: Path | None = None  # written only when something was rejected


@dataclass
class _Chunk:
    lines: list[int] = field(default_factory=list)  # the line (or element) of each record
    records: list[Any] = field(default_factory=list)


def reject_path(path: Path) -> Path:
    return path.with_name(path.name + ".rejects.jsonl")


class Destination(Protocol):
    """Where a chunk of records goes: it answers how many records were accepted and
    which were refused (``index`` = position in the chunk)."""

    chunk: int  # the most records one send takes

    def send(self, records: list[Any]) -> tuple[int, list[Rejection]]: ...


class WriterDestination:
    """Straight into the data directory, through the project's writer."""

    def __init__(self, writer: ProjectWriter, file_format: str, now_ms: Callable[[], int]):
        check_format(file_format)
        self.writer = writer
        self.file_format = file_format
        self.now_ms = now_ms

    chunk = TRANSACTION_RECORDS

    def send(self, records: list[Any]) -> tuple[int, list[Rejection]]:
        received_at = self.now_ms()
        submissions, refused = [], []
        project = self.writer.project
        for start, part in request_parts(records, self.file_format):
            if self.file_format == "mixpanel":
                submission, flaws = _mixpanel(project, part, received_at)
            else:
                submission, flaws = _segment(project.mode, part, received_at)
            submissions.append(submission)
            refused += [flaw._replace(index=flaw.index + start) for flaw in flaws]
        self.writer.write(submissions)  # one transaction
        return len(records) - len(refused), refused


def check_format(file_format: str) -> None:
    if file_format not in FORMATS:
        raise BadRequest(f"format must be one of {', '.join(FORMATS)}, not {file_format!r}")


def import_file(
    destination: Destination,
    path: Path,
    *,
    origin: Mode | None = None,
    progress: Callable[[int, int], None] = lambda imported, rejected: None,
) -> FileReport:
    """Send ``path``'s records to ``destination`` a chunk at a time;
    ``progress(imported, rejected)`` is told after every chunk. With ``origin``, the
    file is a Mixpanel raw export of a project in that mode, whose records are read
    back to what was sent (:func:`~idmerge.ingest.history.from_export`); a reject file
    keeps them as the file has them."""
    report = FileReport(path)
    rejects = reject_path(path)
    with _RejectFile(rejects) as sink:
        for chunk in _chunks(path, sink, destination.chunk):
            report.records += len(chunk.records)
            records = chunk.records
            if origin is not None:
                records = [from_export(record, origin) for record in records]
            stored, refused = destination.send(records)
            for rejection in refused:
                sink.write(chunk.lines[rejection.index], rejection, chunk.records)
            report.imported += stored
            progress(stored, sink.rows - report.rejected)  # lines not JSON included
            report.rejected = sink.rows
        report.rejected = sink.rows
    if report.rejected:
        report.rejects_path = rejects
    return report


def _mixpanel(
    project: Project, records: list[Any], received_at: int
) -> tuple[Submission, list[Rejection]]:
    batch = import_events(records, policy=project.policy(), mode=project.mode, now_ms=received_at)
    submission = Submission(
        "idmerge import",
        received_at,
        events=batch.accepted,
        rejections=batch.rejected,
        records=records,
    )
    return submission, batch.rejected


def _segment(
    mode: Mode, records: list[Any], received_at: int
) -> tuple[Submission, list[Rejection]]:
    """A chunk of Segment messages as one ``/v1/batch``; a message the batch refuses
    is found by translating the chunk's messages one at a time."""
    refused: list[Rejection] = []
    try:
        batch = segment_batch({"batch": records}, call=None, mode=mode, received_at=received_at)
        events, profiles = batch.events, batch.profiles
    except BadRequest:
        events, profiles = [], []
        for index, message in enumerate(records):
            try:
                one = segment_batch(
                    {"batch": [message]}, call=None, mode=mode, received_at=received_at
                )
            except BadRequest as exc:
                refused.append(message_rejection(index, exc))
                continue
            events += [(index, event) for _, event in one.events]
            profiles += [(index, update) for _, update in one.profiles]
    submission = Submission(
        "idmerge import",
        received_at,
        events=events,
        profile_updates=profiles,
        rejections=refused,
        records=records,
    )
    return submission, refused


def request_parts(records: list[Any], file_format: str) -> Iterator[tuple[int, list[Any]]]:
    """``records`` cut into what one request may carry, each part with its first
    record's index, measured in compact JSON as the server measures a body: for
    ``/import`` :data:`CHUNK` records within its 10 MB, for ``/v1/batch`` messages
    within its 500 KB. A record alone past the limit is a part of its own, for the
    server to refuse."""
    if file_format == "mixpanel":
        most, limit, frame = CHUNK, DEFAULT_LIMITS.max_body_bytes, _ARRAY_FRAME
    else:
        most, limit, frame = len(records), MAX_BATCH_BYTES, _BATCH_FRAME
    start, size = 0, frame
    for index, record in enumerate(records):
        length = len(_encoder.encode(record)) + 1  # and its comma
        if index > start and (size + length > limit or index - start == most):
            yield start, records[start:index]
            start, size = index, frame
        size += length
    if start < len(records):
        yield start, records[start:]


def message_rejection(index: int, exc: BadRequest) -> Rejection:
    """A Segment message refused alone (its batch said why in ``exc``)."""
    what = exc.message.removeprefix("batch[0]").lstrip(". ")
    return Rejection(index, None, "message", what, RejectReason.INVALID_MESSAGE)


_Source = io.BufferedReader | gzip.GzipFile  # both can peek


def _open(path: Path) -> _Source:
    with path.open("rb") as head:
        gzipped = head.read(2) == b"\x1f\x8b"
    return gzip.GzipFile(path, "rb") if gzipped else path.open("rb")


def _chunks(path: Path, sink: _RejectFile, size: int) -> Iterator[_Chunk]:
    """The file's records, a chunk at a time, each with its line (JSON lines) or
    element number (a JSON array); a line that is not JSON goes to ``sink``. Where
    the file cannot be read on, the records before are still given, then the error."""
    chunk, number = _Chunk(), 0
    try:
        with _open(path) as reader:
            numbered: Iterator[tuple[int, Any]]
            if reader.peek(64).lstrip()[:1] == b"[":
                numbered = _decoded(enumerate(array_elements(reader.read), 1), sink)
            else:
                numbered = _decoded(enumerate(reader, 1), sink)
            for number, record in numbered:
                chunk.lines.append(number)
                chunk.records.append(record)
                if len(chunk.records) == size:
                    yield chunk
                    chunk = _Chunk()
    except _RejectsUnwritable:
        raise
    except _UNREADABLE as exc:
        if chunk.records:
            yield chunk
        problem = exc.message if isinstance(exc, BadRequest) else str(exc) or type(exc).__name__
        if not number:
            raise BadRequest(f"{path} cannot be read: {problem}") from exc
        raise BadRequest(
            f"{path} breaks off after line {number:,}: {problem}; the lines before it are imported"
        ) from exc
    if chunk.records:
        yield chunk


def _decoded(numbered: Iterator[tuple[int, bytes]], sink: _RejectFile) -> Iterator[tuple[int, Any]]:
    """Each numbered line (or array element) decoded; blank lines are skipped, and
    one that is not JSON goes to ``sink``."""
    for number, line in numbered:
        if not line.strip():
            continue
        try:
            yield number, _decoder.decode(line)
        except msgspec.DecodeError as exc:
            sink.undecodable_line(number, line, str(exc))


class _RejectsUnwritable(BadRequest):
    pass


class _RejectFile:
    """``<file>.rejects.jsonl``, created on the first reject (a rerun's replaces the
    last run's): one JSON object a line, ``{"line", "reason", "field", "message",
    "record"}``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.out: IO[bytes] | None = None
        self.rows = 0

    def __enter__(self) -> _RejectFile:
        with self._writing():
            self.path.unlink(missing_ok=True)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.out is not None:
            with self._writing():
                self.out.close()

    @contextmanager
    def _writing(self) -> Iterator[None]:
        try:
            yield
        except OSError as exc:  # e.g. the input's directory is read-only
            problem = exc.strerror or str(exc)
            raise _RejectsUnwritable(f"cannot write {self.path}: {problem}") from exc

    def _emit(self, row: dict[str, Any]) -> None:
        with self._writing():
            if self.out is None:
                self.out = self.path.open("wb")
            self.out.write(msgspec.json.encode(row) + b"\n")
        self.rows += 1

    def write(self, line: int, rejection: Rejection, records: list[Any]) -> None:
        self._emit(
            {
                "line": line,
                "reason": rejection.reason,
                "field": rejection.field,
                "message": rejection.message,
                "record": records[rejection.index],
            }
        )

    def undecodable_line(self, line: int, text: bytes, problem: str) -> None:
        self._emit(
            {
                "line": line,
                "reason": RejectReason.INVALID_JSON.value,
                "field": "record",
                "message": f"not JSON: {problem}",
                "record": text.decode("utf-8", "replace").rstrip("\n"),
            }
        )
