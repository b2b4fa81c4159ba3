"""A project's overview: per UTC day, the events stored, the ids they were stored
under, the people they belong to, the merges made and the identity events refused;
and the refused ones by reason over the whole range.

The answer::

    {
      "from_date": "2024-05-01", "to_date": "2024-05-03",
      "days": [
        {"day": "2024-05-01", "events": 12, "stored_ids": 4, "people": 3,
         "merges": 1, "refused": 1},
        ...                                   # every day of the range, zeros included
      ],
      "refused_by_reason": {"errAnonDistinctIdAssignedAlready": 1},  # most first
      "totals": {"events": 12, "stored_ids": 4, "people": 3, "merges": 1, "refused": 1}
    }

- ``events`` counts the events as stored, retries included (what export lists, not
  what segmentation counts after dropping retries): the overview tells what arrived,
  and dropping retries would cost a window over every event of the range.
- ``stored_ids``: the distinct ids events were stored under; ``people``: the distinct
  ids those events resolve to *now* (a later merge re-attributes past days, a split
  gives them back; ``legacy`` reads them as stored). A day's counts are of that day's
  events; the totals' ``stored_ids`` and ``people`` are distinct over the whole range
  (not the sum of the days).
- ``merges``: identity-log entries that linked or merged clusters; ``refused``: those a
  rule refused (each is also an ingestion warning with the same reason code). Both are
  counted as logged on arrival, by the identity event's own time, so a later split
  does not take a day's merge back; splits themselves are not counted.
- **Decision (default range):** a missing ``to_date`` is the day of the project's
  newest event (today, UTC, when it has none), not before ``from_date``; a missing
  ``from_date`` is 29 days before ``to_date``, so the default is the 30 days up to the
  newest event (as discovery's window, for back-filled projects). At most
  :data:`MAX_DAYS` days.

Two statements, each aggregating in DuckDB: one over the events of the range, one over
the identity log's (a third, cheap, finds the newest event when ``to_date`` is
missing). Python names the days and fills the zeros. Measured on 10M events over 90
days, 2 cores: ~2.2 s warm, most of it the two distinct counts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from idmerge.errors import BadRequest
from idmerge.projects import Project
from idmerge.query import params as p
from idmerge.query.buckets import Buckets
from idmerge.query.resolved import resolved_events
from idmerge.storage.base import Store

#: The default range's length, in days.
DEFAULT_DAYS = 30
#: A longer range is a 400: ten years of days is already more than a chart can show.
MAX_DAYS = 3660
MERGED = ("linked", "merged")
REFUSED = "refused"
COUNTS = ("events", "stored_ids", "people", "merges", "refused")


@dataclass(frozen=True, slots=True)
class OverviewSpec:
    """The inclusive UTC days; either may be None: :func:`overview` fills it in."""

    from_date: dt.date | None = None
    to_date: dt.date | None = None

    @classmethod
    def from_params(cls, params: p.Params) -> OverviewSpec:
        start = p.day(params, "from_date") if p.text(params, "from_date") else None
        end = p.day(params, "to_date") if p.text(params, "to_date") else None
        if start is not None and end is not None:
            _check(start, end)
        return cls(start, end)


def _check(start: dt.date, end: dt.date) -> None:
    if end < start:
        raise BadRequest(f"to_date ({end}) is before from_date ({start})")
    days = (end - start).days + 1
    if days > MAX_DAYS:
        raise BadRequest(
            f"{days:,} days from {start} to {end}: at most {MAX_DAYS:,}; choose a shorter range"
        )


def newest_day(store: Store, project: Project) -> dt.date | None:
    """The UTC day of the project's newest event (by its time), None without events."""
    sql = "SELECT max(time) AS newest FROM events WHERE project_id = $project"
    (row,) = _rows(store, sql, {"project": project.id})
    return None if row["newest"] is None else p.day_of(row["newest"])


def date_range(
    store: Store, project: Project, spec: OverviewSpec, today: dt.date
) -> tuple[dt.date, dt.date]:
    """The spec's days, the missing ones filled in as the module says."""
    end = spec.to_date
    if end is None:
        end = newest_day(store, project) or today
        if spec.from_date is not None:
            end = max(end, spec.from_date)
    # cut short near year 1, the first day a date can name
    start = spec.from_date or end - min(dt.timedelta(days=DEFAULT_DAYS - 1), end - dt.date.min)
    _check(start, end)
    return start, end


def events_sql(project: Project, buckets: Buckets) -> tuple[str, dict[str, Any]]:
    """SQL of rows ``(day, events, stored_ids, people)``: one per day with events
    (``day`` its first ms) and one with ``day`` NULL for the whole range."""
    sql = (
        f"SELECT {buckets.sql('e.time')} AS day, count(*) AS events, "
        "count(DISTINCT e.stored_distinct_id) AS stored_ids, "
        f"count(DISTINCT e.person) AS people FROM ({resolved_events(project)}) e "
        "WHERE e.time >= $start AND e.time < $end GROUP BY GROUPING SETS ((day), ())"
    )
    return sql, {"project": project.id, "start": buckets.start_ms, "end": buckets.end_ms}


def log_sql(project: Project, buckets: Buckets) -> tuple[str, dict[str, Any]]:
    """SQL of rows ``(day, outcome, reason, n)`` of the range's identity-log entries
    that merged, linked or were refused."""
    sql = (
        f"SELECT {buckets.sql('l.time')} AS day, l.outcome, l.reason, count(*) AS n "
        "FROM identity_log l WHERE l.project_id = $project AND l.time >= $start "
        "AND l.time < $end AND l.outcome IN (SELECT unnest($outcomes::VARCHAR[])) GROUP BY ALL"
    )
    values = {
        "project": project.id,
        "start": buckets.start_ms,
        "end": buckets.end_ms,
        "outcomes": [*MERGED, REFUSED],
    }
    return sql, values


def overview(
    store: Store,
    project: Project,
    from_date: dt.date | None = None,
    to_date: dt.date | None = None,
    *,
    today: dt.date | None = None,
) -> dict[str, Any]:
    """The overview of the inclusive UTC days ``from_date`` to ``to_date`` (either
    filled in when None; ``today`` defaults to the current UTC day)."""
    now = today or dt.datetime.now(dt.UTC).date()
    start, end = date_range(store, project, OverviewSpec(from_date, to_date), now)
    buckets = Buckets(start, end)
    days = {s: dict.fromkeys(COUNTS, 0) for s in buckets.starts()}
    totals = dict.fromkeys(COUNTS, 0)
    for row in _rows(store, *events_sql(project, buckets)):
        counts = totals if row["day"] is None else days[row["day"]]
        counts.update(events=row["events"], stored_ids=row["stored_ids"], people=row["people"])
    reasons: dict[str, int] = {}
    for row in _rows(store, *log_sql(project, buckets)):
        kind = "refused" if row["outcome"] == REFUSED else "merges"
        days[row["day"]][kind] += row["n"]
        totals[kind] += row["n"]
        if kind == "refused":
            reason = row["reason"] or "unknown"
            reasons[reason] = reasons.get(reason, 0) + row["n"]
    return {
        "from_date": start.isoformat(),
        "to_date": end.isoformat(),
        "days": [{"day": buckets.label(s), **counts} for s, counts in days.items()],
        "refused_by_reason": dict(sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))),
        "totals": totals,
    }


def _rows(store: Store, sql: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    return [row for batch in store.query(sql, values) for row in batch.to_pylist()]
