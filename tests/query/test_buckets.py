"""Report buckets: DuckDB and Python agree on every bucket, labels are UTC, and the
ranges are the ones a reader expects."""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from idmerge.errors import BadRequest
from idmerge.query.buckets import MAX_BUCKETS, Buckets, Unit

SPANS = st.builds(
    lambda start, length, unit, days: Buckets(
        start, start + dt.timedelta(days=length), unit, days if unit is Unit.DAY else None
    ),
    st.dates(dt.date(1900, 1, 1), dt.date(2100, 1, 1)),
    st.integers(0, 400),
    st.sampled_from(list(Unit)),
    st.one_of(st.none(), st.integers(1, 40)),
)


@settings(max_examples=200, deadline=None)
@given(buckets=SPANS, offsets=st.lists(st.integers(-(10**11), 10**12), min_size=1, max_size=20))
def test_sql_and_python_agree_and_every_time_falls_in_a_listed_bucket(
    buckets: Buckets, offsets: list[int]
) -> None:
    # anywhere: before from_date and after to_date too, as the range extended
    anywhere = [buckets.start_ms + o for o in offsets]
    sql = ", ".join(buckets.sql(str(t)) for t in anywhere)
    assert list(duckdb.sql(f"SELECT {sql}").fetchall()[0]) == [
        buckets.start_of(t) for t in anywhere
    ]
    starts = list(buckets.starts())
    assert len(starts) == buckets.count()
    for t in anywhere:
        start = buckets.start_of(t)
        assert start <= t < buckets.next_start(start)
        if buckets.start_ms <= t < buckets.end_ms:
            assert start in starts


def test_the_last_month_of_year_9999_has_an_end() -> None:
    """No next month can be written down: its start is counted, not made a date."""
    params = {"from_date": "9999-11-15", "to_date": "9999-12-31", "unit": "month"}
    buckets = Buckets.from_params(params, (Unit.MONTH,))
    assert buckets.labels() == ["9999-11-01", "9999-12-01"]


def test_labels_by_unit() -> None:
    may = (dt.date(2024, 5, 1), dt.date(2024, 5, 31))
    assert Buckets(*may, Unit.WEEK).labels()[:2] == ["2024-04-29", "2024-05-06"]  # Mondays
    assert Buckets(*may, Unit.MONTH).labels() == ["2024-05-01"]
    assert Buckets(*may, Unit.DAY, days=10).labels() == [
        "2024-05-01",
        "2024-05-11",
        "2024-05-21",
        "2024-05-31",
    ]
    day = Buckets(dt.date(2024, 5, 1), dt.date(2024, 5, 1), Unit.HOUR)
    assert day.labels()[-1] == "2024-05-01 23:00:00" and day.count() == 24
    minutes = Buckets(dt.date(2024, 5, 1), dt.date(2024, 5, 1), Unit.MINUTE)
    assert minutes.labels()[1] == "2024-05-01 00:01:00"


def test_labels_keep_four_digit_years() -> None:
    early = Buckets(dt.date(1, 1, 1), dt.date(1, 1, 2), Unit.HOUR)
    assert early.labels()[:2] == ["0001-01-01 00:00:00", "0001-01-01 01:00:00"]


def test_from_params_refuses_too_many_buckets_and_unit_with_interval() -> None:
    units = tuple(Unit)
    year = {"from_date": "2024-01-01", "to_date": "2024-12-31"}
    with pytest.raises(BadRequest, match=f"at most {MAX_BUCKETS:,}"):
        Buckets.from_params(year | {"unit": "minute"}, units)
    with pytest.raises(BadRequest, match="unit or interval, not both"):
        Buckets.from_params(year | {"unit": "day", "interval": "7"}, units)
    assert Buckets.from_params(year | {"interval": "7"}, units).days == 7
    with pytest.raises(BadRequest, match="unit must be one of day, week"):
        Buckets.from_params(year | {"unit": "hour"}, (Unit.DAY, Unit.WEEK))
