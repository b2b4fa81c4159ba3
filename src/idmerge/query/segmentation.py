"""Segmentation (Mixpanel's ``/segmentation``, ``/segmentation/numeric``, ``/sum`` and
``/average``): one event's occurrences or users per time bucket, on resolved ids.

Each report is one SQL statement that aggregates in DuckDB; Python only names the
buckets and fills the zeros. The event name and the time range filter the scan
itself. Events are read after :func:`deduplicated` (a retry counts once), except
for unique users with neither ``on`` nor ``where``: a retry is the same user at the
same time, so it cannot change that count, and the window would only cost time.

- ``general`` counts events, ``unique`` distinct resolved users, ``average`` their
  ratio (events per user) rounded to 3 decimals, 0 where no user.
- **Decision:** retries are dropped before ``where`` and ``on`` are read, so a retry
  whose properties differ from the original's counts as the last one stored, as
  export-then-filter would count it.
- **Decision:** with ``on``, an undefined value is the key ``"undefined"``, merged
  with the string ``"undefined"`` if the data holds it. The ``limit`` keys kept are
  those with the greatest total of the counted quantity over the range (events for
  ``general`` and ``average``, the per-bucket users summed for ``unique``), ties by
  key; ``values`` lists them in that order.
- **Decision (numeric ranges):** over the whole range, of the events whose ``on`` is
  a finite number, the width is the smallest of 1, 2 or 5 * 10^k for which the
  values from the least to the greatest fall in at most 10 ranges
  ``[i * width, (i + 1) * width)``; when every value is the same, the width is the
  power of ten of its magnitude (1 for 0); when every value is a whole number, the
  width is at least 1. Every range from the first to the last is listed, in
  ascending order, even when empty. A label is ``"low - high"``, numbers with
  thousands separators and only the decimals they need (``"2,000 - 2,100"``,
  ``"0.15 - 0.2"``, ``"-10 - 0"``). Boundaries are compared after rounding to 6
  decimals in units of the width, so ``1.15`` lands in ``1.15 - 1.2`` despite binary
  floating point.
- **Decision (sum, average):** a value that is not a finite number counts as 0.0,
  in the sum and in the mean (the mean is over every event that matched). A bucket
  without events answers 0. Sums are rounded to 6 decimals (a double sum's last bits
  depend on the order DuckDB's threads add in), means to 3; whole numbers are
  integers.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from idmerge.errors import BadRequest
from idmerge.projects import Project
from idmerge.query import params as p
from idmerge.query.buckets import Buckets, Unit
from idmerge.query.compile import Scope, compile_number, compile_on, compile_where
from idmerge.query.resolved import deduplicated, resolved_events
from idmerge.storage.base import Store

TYPES = ("general", "unique", "average")
MAX_LIMIT = 10_000
#: At most this many numeric ranges.
MAX_RANGES = 10
UNDEFINED = "undefined"
_WHERE = Scope(properties="e.properties", time_ms="e.time", label="where")
_ON = Scope(properties="e.properties", time_ms="e.time", label="on")


@dataclass(frozen=True, slots=True)
class SegmentationSpec:
    event: str
    buckets: Buckets
    type: str = "general"
    on: str | None = None
    where: str | None = None
    limit: int = 60  # top segments; ignored without ``on``

    @classmethod
    def from_params(cls, params: p.Params) -> SegmentationSpec:
        spec = cls(
            event=_event(params),
            buckets=Buckets.from_params(params, tuple(Unit)),
            type=p.choice(params, "type", "general", TYPES),
            on=p.text(params, "on"),
            where=p.text(params, "where"),
            limit=p.integer(params, "limit", 60, 1, MAX_LIMIT),
        )
        _check(spec.where, spec.on, compile_on)
        return spec


@dataclass(frozen=True, slots=True)
class NumericSpec:
    """``/segmentation/numeric``, ``/sum`` and ``/average``; ``type`` is read by
    ``numeric`` only."""

    event: str
    buckets: Buckets  # hour or day
    on: str
    where: str | None = None
    type: str = "general"

    @classmethod
    def from_params(cls, params: p.Params) -> NumericSpec:
        spec = cls(
            event=_event(params),
            buckets=Buckets.from_params(params, (Unit.HOUR, Unit.DAY), interval=False),
            on=p.text(params, "on", required=True),
            where=p.text(params, "where"),
            type=p.choice(params, "type", "general", TYPES),
        )
        _check(spec.where, spec.on, compile_number)
        return spec


def _event(params: p.Params) -> str:
    event = p.string_list(params, "event")
    if not event:
        raise BadRequest("event is required")
    if len(event) != 1:
        raise BadRequest(f"event must name one event, not {len(event)}")
    return event[0]


def _check(where: str | None, on: str | None, compile_: Callable[[str, Scope], str]) -> None:
    """Compiles the expressions once, so a bad one is a 400 before any query."""
    if where is not None:
        compile_where(where, _WHERE)
    if on is not None:
        compile_(on, _ON)


def _source(project: Project, where: str | None, *, dedup: bool) -> str:
    """``FROM ... WHERE ...`` of the event's rows in range (aliased ``e``), after
    ``where``; retries dropped when ``dedup``."""
    filters = ["e.event = $event", "e.time >= $start", "e.time < $end"]
    if dedup:
        scan = f"SELECT * FROM ({resolved_events(project)}) e WHERE " + " AND ".join(filters)
        source, filters = f"({deduplicated(scan)}) e", []
    else:
        source = f"({resolved_events(project)}) e"
    if where is not None:
        filters.append(compile_where(where, _WHERE))
    return f"FROM {source}" + (" WHERE " + " AND ".join(filters) if filters else "")


def _values(project: Project, event: str, buckets: Buckets) -> dict[str, Any]:
    return {"project": project.id, "event": event, "start": buckets.start_ms, "end": buckets.end_ms}


def _counts(kind: str, alias: str = "e") -> str:
    """Aggregates of one group: ``n`` (what ranks keys) and, for average, ``users``."""
    if kind == "unique":
        return f"count(DISTINCT {alias}.person) AS n"
    if kind == "average":
        return f"count(*) AS n, count(DISTINCT {alias}.person) AS users"
    return "count(*) AS n"


def segmentation_sql(project: Project, spec: SegmentationSpec) -> tuple[str, dict[str, Any]]:
    """SQL of rows ``(key, bucket, n[, users])``: ``bucket`` is the start ms, ``key``
    the segment (NULL without ``on``), at most ``limit`` keys."""
    # a retry cannot add a user, but it can carry other properties to where and on
    reads_properties = spec.on is not None or spec.where is not None
    source = _source(project, spec.where, dedup=spec.type != "unique" or reads_properties)
    bucket = spec.buckets.sql("e.time")
    if spec.on is None:
        sql = f"SELECT NULL AS key, {bucket} AS bucket, {_counts(spec.type)} {source} GROUP BY 2"
    else:
        key = f"coalesce({compile_on(spec.on, _ON)}, '{UNDEFINED}')"
        # a rank, not ORDER BY ... LIMIT in an IN subquery: DuckDB 2.0 dropped that
        # LIMIT (measured over an empty identity mapping: every key came back)
        sql = (
            "SELECT * EXCLUDE (total, place) FROM (SELECT *, dense_rank() OVER "
            "(ORDER BY total DESC, key) AS place FROM (SELECT *, sum(n) OVER (PARTITION BY key) "
            f"AS total FROM (SELECT {key} AS key, {bucket} AS bucket, {_counts(spec.type)} "
            f"{source} GROUP BY 1, 2))) WHERE place <= {int(spec.limit)}"
        )
    return sql, _values(project, spec.event, spec.buckets)


def _rows(store: Store, sql: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    return [row for batch in store.query(sql, values) for row in batch.to_pylist()]


def _ratio(n: int, users: int) -> float:
    return round(n / users, 3) if users else 0


def _shape(
    buckets: Buckets, rows: list[dict[str, Any]], kind: str, keys: list[str]
) -> dict[str, Any]:
    """The segmentation answer: every key of ``keys`` over every bucket, zeros filled."""
    labels = {start: buckets.label(start) for start in buckets.starts()}
    values: dict[str, dict[str, float]] = {key: dict.fromkeys(labels.values(), 0) for key in keys}
    for row in rows:
        n = _ratio(row["n"], row["users"]) if kind == "average" else row["n"]
        values[row["key"]][labels[row["bucket"]]] = n
    return {"data": {"series": list(labels.values()), "values": values}, "legend_size": len(keys)}


def segmentation(store: Store, project: Project, spec: SegmentationSpec) -> dict[str, Any]:
    rows = _rows(store, *segmentation_sql(project, spec))
    if spec.on is None:
        for row in rows:
            row["key"] = spec.event
        return _shape(spec.buckets, rows, spec.type, [spec.event])
    totals: dict[str, int] = {}
    for row in rows:
        totals[row["key"]] = totals.get(row["key"], 0) + row["n"]
    keys = sorted(totals, key=lambda key: (-totals[key], key))
    return _shape(spec.buckets, rows, spec.type, keys)


# -- numeric ----------------------------------------------------------------------


def _numbers(project: Project, spec: NumericSpec) -> str:
    """SQL of rows ``(bucket, person, x)`` of the events, retries once (each reads
    ``on``): ``x`` is ``on``, a DOUBLE, NULL where ``on`` is not a number (and infinite
    where it overflowed)."""
    source = _source(project, spec.where, dedup=True)
    bucket = spec.buckets.sql("e.time")
    return f"SELECT {bucket} AS bucket, e.person, {compile_number(spec.on, _ON)} AS x {source}"


def _index(x: str, mantissa: str, exponent: str) -> str:
    """The index of the range of width ``mantissa`` * 10^``exponent`` holding ``x``."""
    return f"floor(round({x} * pow(10, -({exponent})), 6) / {mantissa})"


def numeric_sql(project: Project, spec: NumericSpec) -> tuple[str, dict[str, Any]]:
    """SQL of rows ``(bucket, idx, m, k, n[, users])``: the events of range ``idx`` of
    width ``m`` * 10^``k`` (one width for all rows)."""
    numbers = _numbers(project, spec)
    # the candidates after 10^floor(log10(spread / 10)) reach far enough that one
    # always fits, even when log10 rounds an exact power of ten down; the narrowest is
    # taken by arg_min, as ORDER BY ... LIMIT can lose its LIMIT in DuckDB 2.0
    sql = (
        f"WITH v AS MATERIALIZED (SELECT * FROM ({numbers}) WHERE isfinite(x)),\n"
        "scale AS (SELECT lo, hi, CASE WHEN whole THEN greatest(k, 0) ELSE k END AS k FROM ("
        "SELECT min(x) AS lo, max(x) AS hi, bool_and(x = floor(x)) AS whole, CAST(CASE "
        "WHEN max(x) > min(x) THEN floor(log10((max(x) - min(x)) / 10)) "
        "WHEN min(x) <> 0 THEN floor(log10(abs(min(x)))) ELSE 0 END AS INTEGER) AS k FROM v)),\n"
        "width AS (SELECT arg_min(c.m, c.j * 10 + c.m) AS m, arg_min(s.k + c.j, c.j * 10 + c.m) "
        "AS k FROM scale s, (VALUES (1, 0), (2, 0), (5, 0), (1, 1), (2, 1), (5, 1), (1, 2), "
        f"(2, 2)) c(m, j) WHERE {_index('s.hi', 'c.m', 's.k + c.j')} - "
        f"{_index('s.lo', 'c.m', 's.k + c.j')} < {MAX_RANGES})\n"
        f"SELECT v.bucket, {_index('v.x', 'w.m', 'w.k')} AS idx, w.m, w.k, "
        f"{_counts(spec.type, 'v')} FROM v, width w GROUP BY ALL"
    )
    return sql, _values(project, spec.event, spec.buckets)


def _decimal_text(number: Decimal) -> str:
    text = f"{number.normalize():,f}"
    return "0" if text == "-0" else text


def segmentation_numeric(store: Store, project: Project, spec: NumericSpec) -> dict[str, Any]:
    rows = _rows(store, *numeric_sql(project, spec))
    if not rows:
        return _shape(spec.buckets, [], spec.type, [])
    width = Decimal(rows[0]["m"]).scaleb(rows[0]["k"])
    first = int(min(row["idx"] for row in rows))
    last = int(max(row["idx"] for row in rows))
    names = {
        i: f"{_decimal_text(i * width)} - {_decimal_text((i + 1) * width)}"
        for i in range(first, last + 1)
    }
    for row in rows:
        row["key"] = names[int(row["idx"])]
    return _shape(spec.buckets, rows, spec.type, list(names.values()))


def sum_sql(project: Project, spec: NumericSpec) -> tuple[str, dict[str, Any]]:
    """SQL of rows ``(bucket, total, n)``: the sum of ``on`` and the number of events."""
    sql = (
        "SELECT bucket, sum(CASE WHEN isfinite(x) THEN x ELSE 0.0 END) AS total, "
        f"count(*) AS n FROM ({_numbers(project, spec)}) GROUP BY 1"
    )
    return sql, _values(project, spec.event, spec.buckets)


def _plain(number: float) -> float:
    return int(number) if number.is_integer() else number


def _per_bucket(store: Store, project: Project, spec: NumericSpec, mean: bool) -> dict[str, Any]:
    results: dict[str, float] = dict.fromkeys(spec.buckets.labels(), 0)
    for row in _rows(store, *sum_sql(project, spec)):
        value = round(row["total"] / row["n"], 3) if mean else round(row["total"], 6)
        results[spec.buckets.label(row["bucket"])] = _plain(value)
    return results


def segmentation_sum(
    store: Store, project: Project, spec: NumericSpec, *, now: dt.datetime | None = None
) -> dict[str, Any]:
    computed_at = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    results = _per_bucket(store, project, spec, mean=False)
    return {
        "status": "ok",
        "computed_at": computed_at.isoformat(timespec="microseconds"),
        "results": results,
    }


def segmentation_average(store: Store, project: Project, spec: NumericSpec) -> dict[str, Any]:
    return {"status": "ok", "results": _per_bucket(store, project, spec, mean=True)}
