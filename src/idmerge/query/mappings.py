"""The identity-mappings export: one row per id that resolves to another id.

The same table Mixpanel's data pipelines ship next to raw events, so that a warehouse
can resolve events itself: ``{"distinct_id", "resolved_distinct_id"}`` for every id
whose resolved id differs from itself, as JSON lines, CSV or Parquet.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Literal

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from idmerge.errors import BadRequest
from idmerge.projects import Project
from idmerge.storage.base import Store

Format = Literal["json", "csv", "parquet"]
FORMATS: tuple[Format, ...] = ("json", "csv", "parquet")
MEDIA_TYPES: dict[Format, str] = {
    "json": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
}


def format_of(value: str | None) -> Format:
    """The format a ``format`` parameter names (JSON lines when absent)."""
    for form in FORMATS:
        if (value or "json") == form:
            return form
    raise BadRequest(f"format must be one of {', '.join(FORMATS)}, not {str(value)[:40]!r}")


_SQL = (
    "SELECT distinct_id, resolved_distinct_id FROM identity_mapping "
    "WHERE project_id = $project ORDER BY distinct_id"
)
_SCHEMA = pa.schema([("distinct_id", pa.string()), ("resolved_distinct_id", pa.string())])


def mapping_batches(store: Store, project: Project) -> Iterator[pa.RecordBatch]:
    return store.query(_SQL, {"project": project.id})


def mapping_chunks(store: Store, project: Project, form: Format) -> Iterator[bytes]:
    """The mapping in ``form``, as chunks of bytes (JSON lines and CSV stream;
    Parquet, a single file, comes as one chunk)."""
    if form == "parquet":
        sink = io.BytesIO()
        with pq.ParquetWriter(sink, _SCHEMA) as writer:
            for batch in mapping_batches(store, project):
                writer.write_batch(batch.cast(_SCHEMA))
        yield sink.getvalue()
        return
    if form == "csv":
        header = io.StringIO()
        csv.writer(header).writerow(["distinct_id", "resolved_distinct_id"])
        yield header.getvalue().encode()
    encode = msgspec.json.Encoder().encode
    for batch in mapping_batches(store, project):
        pairs = zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True)
        if form == "csv":
            out = io.StringIO()
            csv.writer(out).writerows(pairs)
            yield out.getvalue().encode()
        else:
            yield b"".join(
                encode({"distinct_id": a, "resolved_distinct_id": b}) + b"\n" for a, b in pairs
            )
