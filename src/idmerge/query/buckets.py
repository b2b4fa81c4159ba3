"""Time buckets of the reports: which bucket an event time falls in, and its label.

Every report groups event times into buckets: a calendar unit (minute, hour, day,
ISO week starting Monday, month), or a number of days counted from the first day of
the range (Mixpanel's ``interval``). All of it is UTC, as Mixpanel's API is for a new
project, and none of it depends on the server's time zone: the SQL works on
millisecond integers (``epoch_ms`` gives a zone-less TIMESTAMP, used only to find a
month's first day), and labels are made here in Python from the bucket's start.

Labels are the bucket's first moment: ``YYYY-MM-DD`` for days, weeks, months and
intervals, ``YYYY-MM-DD HH:00:00`` for hours and ``YYYY-MM-DD HH:MM:00`` for minutes
(**Decision**: Mixpanel does not document the hour and minute forms).
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum

from idmerge.errors import BadRequest
from idmerge.query import params as p

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
DAY_MS = p.DAY_MS
WEEK_MS = 7 * DAY_MS
#: More buckets than this in one answer is a 400 (e.g. minutes over a year): the
#: answer would be too big to read, and its zero-filled series too big to send.
MAX_BUCKETS = 50_000
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class Unit(StrEnum):
    MINUTE = "minute"
    HOUR = "hour"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


#: A unit's length where it is fixed (a month is not).
UNIT_MS = {
    Unit.MINUTE: MINUTE_MS,
    Unit.HOUR: HOUR_MS,
    Unit.DAY: DAY_MS,
    Unit.WEEK: WEEK_MS,
}


@dataclass(frozen=True, slots=True)
class Buckets:
    """A report's buckets over the inclusive UTC days ``from_date`` to ``to_date``:
    by ``unit``, or by ``days``-day intervals from ``from_date`` when ``days`` is set."""

    from_date: dt.date
    to_date: dt.date
    unit: Unit = Unit.DAY
    days: int | None = None

    @classmethod
    def from_params(
        cls,
        params: p.Params,
        units: tuple[Unit, ...],
        default: Unit = Unit.DAY,
        *,
        interval: bool = True,
    ) -> Buckets:
        """``from_date``, ``to_date``, and ``unit`` among ``units`` or (when
        ``interval``) a number of days per bucket, ``interval``; not both."""
        start, end = p.day_range(params)
        unit = Unit(p.choice(params, "unit", default, tuple(u.value for u in units)))
        days = p.integer(params, "interval", None, 1, 3660) if interval else None
        if days is not None and p.text(params, "unit") is not None:
            raise BadRequest("give unit or interval, not both")
        buckets = cls(start, end, Unit.DAY if days else unit, days)
        if buckets.count() > MAX_BUCKETS:
            raise BadRequest(
                f"{buckets.count():,} {buckets.unit.value} buckets from {start} to {end}: "
                f"at most {MAX_BUCKETS:,}; choose a longer unit or a shorter range"
            )
        return buckets

    @property
    def start_ms(self) -> int:
        """The range's first millisecond."""
        return p.day_start_ms(self.from_date)

    @property
    def end_ms(self) -> int:
        """The millisecond after the range's last day."""
        return p.day_start_ms(self.to_date) + DAY_MS

    def _grid(self) -> tuple[int, int] | None:
        """``(origin, width)`` when every bucket starts at ``origin + k * width``
        (all but months)."""
        if self.days is not None:
            return self.start_ms, self.days * DAY_MS
        if self.unit is Unit.MONTH:
            return None
        if self.unit is Unit.WEEK:  # 1970-01-05 was a Monday
            return 4 * DAY_MS, WEEK_MS
        return 0, UNIT_MS[self.unit]

    def sql(self, time_ms: str) -> str:
        """BIGINT SQL of the start (ms) of the bucket ``time_ms`` (BIGINT ms SQL)
        falls in. Meant for times inside the range; other times get the bucket they
        would have, were the range extended."""
        grid = self._grid()
        if grid is None:
            return f"epoch_ms(date_trunc('month', epoch_ms({time_ms})))"
        origin, width = grid
        offset = time_ms
        if origin:  # bracketed when negative, lest "- -" read as a comment
            offset = f"({time_ms} - {origin if origin > 0 else f'({origin})'})"
        # DuckDB's % keeps the dividend's sign: adding width and taking % again floors
        return f"({time_ms} - ({offset} % {width} + {width}) % {width})"

    def start_of(self, time_ms: int) -> int:
        """What :meth:`sql` computes, in Python."""
        grid = self._grid()
        if grid is None:
            moment = _EPOCH + dt.timedelta(milliseconds=time_ms)
            first = dt.datetime(moment.year, moment.month, 1, tzinfo=dt.UTC)
            return int((first - _EPOCH).total_seconds()) * 1000
        origin, width = grid
        return time_ms - (time_ms - origin) % width

    def next_start(self, start: int) -> int:
        """The start of the bucket after the one starting at ``start``."""
        grid = self._grid()
        if grid is None:  # counted in days: the next month may be past year 9999
            moment = _EPOCH + dt.timedelta(milliseconds=start)
            return start + calendar.monthrange(moment.year, moment.month)[1] * DAY_MS
        return start + grid[1]

    def starts(self) -> Iterator[int]:
        """The start of every bucket the range touches, in order (the first may
        begin before ``from_date``: a week or month is not cut)."""
        start = self.start_of(self.start_ms)
        while start < self.end_ms:
            yield start
            start = self.next_start(start)

    def count(self) -> int:
        grid = self._grid()
        if grid is None:
            return sum(1 for _ in self.starts())
        width = grid[1]
        return (self.end_ms - self.start_of(self.start_ms) + width - 1) // width

    def label(self, start: int) -> str:
        """The label of the bucket that starts at ``start`` ms."""
        moment = _EPOCH + dt.timedelta(milliseconds=start)
        day = f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"  # strftime drops 0s
        if self.days is None and self.unit is Unit.MINUTE:
            return f"{day} {moment.hour:02d}:{moment.minute:02d}:00"
        if self.days is None and self.unit is Unit.HOUR:
            return f"{day} {moment.hour:02d}:00:00"
        return day

    def labels(self) -> list[str]:
        return [self.label(start) for start in self.starts()]
