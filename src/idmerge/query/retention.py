"""Retention (Mixpanel's ``/api/query/retention``), on resolved ids.

The answer is ``{"<cohort label>": {"counts": [...], "first": n}}``, one key per
cohort bucket of ``from_date`` .. ``to_date`` (by ``unit``: UTC day, ISO week starting
Monday, calendar month; labels as :mod:`idmerge.query.buckets` makes them), in
chronological order. The rules (``reference/mixpanel_query.md`` §3.4, §4.3):

- ``birth`` ("First time"): a user's birth is their first-ever ``born_event``
  matching ``born_where``, over their whole history (not only the range). They are
  in the cohort of the bucket holding it, if it falls within the range.
- ``compounded`` ("Recurring"): ``born_event`` is ignored. A user is in every cohort
  bucket in which they did ``event``, anchored at their first such occurrence in
  that bucket. **Decision:** ``born_where`` filters these cohort occurrences, as it
  filters the born event of ``birth``.
- ``first`` is the cohort size. Bucket N runs from N to N+1 intervals (of
  ``interval`` units) after that user's own birth (or anchor) millisecond; a day is
  24 h, a week 7 days and a month 30 days. ``counts`` has ``interval_count + 1``
  entries (bucket 0 included). A user counts in bucket N if they did ``event`` (any
  event when unset) matching ``where`` in it; each cell counts unique users. With
  ``unbounded_retention`` a user counts in N if they returned in N or in any later
  bucket up to ``interval_count``.
- **Decision** (the reference's suggestion): the birth occurrence is not a return.
  An occurrence of the born event (``compounded``: of ``event``; with no ``event``,
  of any event) at the very birth millisecond is the birth, so its retries are not
  returns either (ties within the millisecond are all the birth); any other
  occurrence of ``event`` at or after birth counts, in bucket 0 too. Occurrences
  before birth never count.
- **Decision:** every cohort bucket of the range is in the answer, with ``first``
  0 and zero counts where no one was born: the shape does not depend on the data.
- **Decision:** ``interval`` is at most 90 days, 13 weeks or 3 months (Mixpanel caps
  days at 90; the other caps keep about the same span); ``interval_count`` at most
  366.
- ``on`` and ``limit`` (segments of the return event) are not supported: a 400.

Users are resolved ids (``legacy``: as stored), so a login re-attributes an anonymous
birth's later returns, and a split gives them back. Retries are counted once only
where ``born_where`` or ``where`` reads their properties (which may differ: the last
stored stands for the event, as in segmentation); otherwise a retry shares its
user and time, and unique users are immune to it.

One SQL statement does it all, on integer milliseconds (so the server's time zone
changes nothing): the events of the born and return names are read once next to the
scan (so DuckDB pushes the name and time filters down into it) and materialized,
births are their per-user minimum, and a join on the user within the births'
windows gives each user's buckets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from idmerge.errors import BadRequest
from idmerge.projects import Project
from idmerge.query import params as p
from idmerge.query.buckets import DAY_MS, WEEK_MS, Buckets, Unit
from idmerge.query.compile import Scope, compile_where
from idmerge.query.resolved import deduplicated, resolved_events
from idmerge.storage.base import Store

RETENTION_TYPES = ("birth", "compounded")
UNITS = (Unit.DAY, Unit.WEEK, Unit.MONTH)
#: a bucket's unit in ms: a month is 30 days, as Mixpanel counts it
UNIT_LENGTH_MS = {Unit.DAY: DAY_MS, Unit.WEEK: WEEK_MS, Unit.MONTH: 30 * DAY_MS}
MAX_INTERVAL = {Unit.DAY: 90, Unit.WEEK: 13, Unit.MONTH: 3}
MAX_INTERVAL_COUNT = 366
#: the ``k`` of the rows that carry a cohort's size rather than a bucket's count
_FIRST = -1


@dataclass(frozen=True, slots=True)
class RetentionSpec:
    buckets: Buckets  # cohort buckets: unit day|week|month
    retention_type: str = "birth"  # birth | compounded
    born_event: str | None = None  # required for birth; ignored for compounded
    event: str | None = None  # the return event; None = any event
    born_where: str | None = None
    where: str | None = None
    interval: int = 1  # units per bucket
    interval_count: int = 1  # buckets after bucket 0
    unbounded: bool = False

    @classmethod
    def from_params(cls, params: p.Params) -> RetentionSpec:
        for unsupported in ("on", "limit"):
            if p.text(params, unsupported) is not None:
                raise BadRequest(
                    f"{unsupported} is not supported for retention: segmenting the "
                    "return event is not implemented"
                )
        buckets = Buckets.from_params(params, UNITS, Unit.DAY, interval=False)
        retention_type = p.choice(params, "retention_type", "birth", RETENTION_TYPES)
        born_event = p.text(params, "born_event", required=retention_type == "birth")
        return cls(
            buckets=buckets,
            retention_type=retention_type,
            born_event=born_event if retention_type == "birth" else None,
            event=p.text(params, "event"),
            born_where=p.text(params, "born_where"),
            where=p.text(params, "where"),
            interval=p.integer(params, "interval", 1, 1, MAX_INTERVAL[buckets.unit]),
            interval_count=p.integer(params, "interval_count", 1, 1, MAX_INTERVAL_COUNT),
            unbounded=p.boolean(params, "unbounded_retention"),
        )

    def __post_init__(self) -> None:
        """A 400 for a spec built by hand that :meth:`from_params` would refuse."""
        if self.retention_type not in RETENTION_TYPES:
            raise BadRequest(f"retention_type must be one of {', '.join(RETENTION_TYPES)}")
        if self.retention_type == "birth" and not self.born_event:
            raise BadRequest("born_event is required when retention_type is birth")
        if self.buckets.days is not None or self.buckets.unit not in UNIT_LENGTH_MS:
            raise BadRequest("unit must be one of day, week, month")
        if not 1 <= self.interval <= MAX_INTERVAL[self.buckets.unit]:
            raise BadRequest(
                f"interval must be between 1 and {MAX_INTERVAL[self.buckets.unit]} "
                f"when unit is {self.buckets.unit.value}, not {self.interval}"
            )
        if not 1 <= self.interval_count <= MAX_INTERVAL_COUNT:
            raise BadRequest(
                f"interval_count must be between 1 and {MAX_INTERVAL_COUNT}, "
                f"not {self.interval_count}"
            )

    @property
    def width_ms(self) -> int:
        """The length of one retention bucket."""
        return self.interval * UNIT_LENGTH_MS[self.buckets.unit]


def _both(*conditions: str | None) -> str:
    return " AND ".join(c for c in conditions if c) or "TRUE"


def retention_sql(project: Project, spec: RetentionSpec) -> tuple[str, dict[str, Any]]:
    """The retention's SQL and parameters: rows ``(cohort, k, n)``, ``cohort`` the
    start ms of a cohort bucket, ``n`` the users of that cohort in bucket ``k``
    (unbounded: whose last return is in bucket ``k``), or its size when ``k`` is -1."""
    birth = spec.retention_type == "birth"
    span = (spec.interval_count + 1) * spec.width_ms  # a user's whole window
    values: dict[str, Any] = {
        "project": project.id,
        "start": spec.buckets.start_ms,
        "end": spec.buckets.end_ms,
        "horizon": spec.buckets.end_ms + span,
        "span": span,
        "width": spec.width_ms,
    }
    born_where = spec.born_where and compile_where(
        spec.born_where, Scope(properties="e.properties", time_ms="e.time", label="born_where")
    )
    where = spec.where and compile_where(
        spec.where, Scope(properties="e.properties", time_ms="e.time", label="where")
    )
    # The scan's filters are plain conjuncts on stored columns, which DuckDB pushes
    # into the events scan; the flags then tell born rows from return rows. Rows that
    # are neither stay (they join nothing): filtering them out would evaluate the
    # where expressions, JSON reads, twice.
    scan = ["e.time < $horizon"]
    if birth:
        values["born_event"] = spec.born_event
        born = ["e.event = $born_event", born_where]  # no lower bound: first ever
        ret: list[str | None] = [None, where]
        if spec.event == spec.born_event:
            scan.append("e.event = $born_event")
            born[0] = None  # every row is of that name
        else:  # returns of another name only count from the range on
            if spec.event is not None:
                values["event"] = spec.event
                scan.append("e.event IN ($born_event, $event)")
                ret[0] = "e.event = $event"  # the cheap test first
            scan.append("(e.event = $born_event OR e.time >= $start)")
    else:
        scan.append("e.time >= $start")
        born = ["e.time < $end", born_where]
        ret = [where]
        if spec.event is not None:
            values["event"] = spec.event
            scan.append("e.event = $event")
    columns = ["e.person AS u", "e.time AS t"]
    flags = {"born": _both(*born), "ret": _both(*ret)}
    columns += [f"{sql} AS {name}" for name, sql in flags.items() if sql != "TRUE"]
    # The birth occurrence is not a return (nor its retries, at the same ms). When
    # every return is of the born event's name that is simply "after the birth"; when
    # none is, "at or after"; only "any event" needs each row's name.
    after = "e.t > b.t0"
    if birth and spec.event is None:
        columns.append("e.event = $born_event AS bn")
        after = "(e.t > b.t0 OR e.t = b.t0 AND NOT e.bn)"
    elif birth and spec.event != spec.born_event:
        after = "e.t >= b.t0"
    source = f"({resolved_events(project)}) e WHERE {' AND '.join(scan)}"
    if spec.born_where is not None or spec.where is not None:
        # the scan filters only names and times, which retries share: safe before
        source = f"({deduplicated('SELECT * FROM ' + source)}) e"
    ev = f"SELECT {', '.join(columns)} FROM {source}"
    if_born = "" if flags["born"] == "TRUE" else " WHERE born"
    if birth:
        births = (
            f"SELECT u, t0, {spec.buckets.sql('t0')} AS cohort FROM "
            f"(SELECT u, min(t) AS t0 FROM ev{if_born} GROUP BY u) WHERE t0 >= $start AND t0 < $end"
        )
    else:
        cohort = spec.buckets.sql("t")
        births = f"SELECT u, {cohort} AS cohort, min(t) AS t0 FROM ev{if_born} GROUP BY ALL"
    k = "(e.t - b.t0) // $width"
    joined = (
        "FROM birth b JOIN ev e ON e.u = b.u"
        + ("" if flags["ret"] == "TRUE" else " AND e.ret")
        + f" AND {after} AND e.t < b.t0 + $span"
    )
    if spec.unbounded:  # a user counts up to their last return's bucket
        returned = f"SELECT b.u, b.cohort, max({k}) AS k {joined} GROUP BY b.u, b.cohort"
    else:
        returned = f"SELECT DISTINCT b.u, b.cohort, {k} AS k {joined}"
    sql = (
        f"WITH ev AS MATERIALIZED ({ev}), "
        f"birth AS ({births}), "
        f"returned AS ({returned}) "
        f"SELECT cohort, {_FIRST} AS k, count(*) AS n FROM birth GROUP BY cohort "
        "UNION ALL SELECT cohort, k, count(*) AS n FROM returned GROUP BY cohort, k"
    )
    return sql, values


def retention(store: Store, project: Project, spec: RetentionSpec) -> dict[str, Any]:
    """The retention answer: every cohort bucket's label, in order, to its
    ``{"counts": [...], "first": n}``."""
    sql, values = retention_sql(project, spec)
    size = spec.interval_count + 1
    cohorts = {start: (0, [0] * size) for start in spec.buckets.starts()}
    for batch in store.query(sql, values):
        columns = [column.to_pylist() for column in batch.columns]
        for start, k, n in zip(*columns, strict=True):
            first, counts = cohorts[start]
            if k == _FIRST:
                cohorts[start] = (n, counts)
            else:
                counts[k] = n
    answer: dict[str, Any] = {}
    for start, (first, counts) in cohorts.items():
        if spec.unbounded:  # counted at the last return: a user is in every bucket up to it
            for i in range(size - 2, -1, -1):
                counts[i] += counts[i + 1]
        answer[spec.buckets.label(start)] = {"counts": counts, "first": first}
    return answer
