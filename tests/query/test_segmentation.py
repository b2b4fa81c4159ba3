"""Segmentation, numeric, sum and average over a real DuckDB file, in every server
time zone: counts by resolved user (re-attributed by a later login, given back by a
split, never in legacy), buckets, breakdowns, filters, retries, and the SQL run."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from idmerge.errors import BadRequest
from idmerge.identity import Mode
from idmerge.ingest import ProjectWriter
from idmerge.projects import Project
from idmerge.query import identity as tools
from idmerge.query.segmentation import (
    NumericSpec,
    SegmentationSpec,
    numeric_sql,
    segmentation,
    segmentation_average,
    segmentation_numeric,
    segmentation_sql,
    segmentation_sum,
    sum_sql,
)
from journeys import alias, device_id, ingest, journeys, track
from snapshots import assert_snapshot

Make = Callable[[Mode], ProjectWriter]
D1, D2, D3 = device_id(1), device_id(2), device_id(3)
MAY_1_3 = {"from_date": "2024-05-01", "to_date": "2024-05-03"}
DAYS = ["2024-05-01", "2024-05-02", "2024-05-03"]


def seg(writer: ProjectWriter, **params: Any) -> dict[str, Any]:
    spec = SegmentationSpec.from_params({"event": "App Open", **MAY_1_3, **params})
    return segmentation(writer.store, writer.project, spec)


def values(answer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return answer["data"]["values"]  # type: ignore[no-any-return]


def numeric_spec(**params: Any) -> NumericSpec:
    return NumericSpec.from_params(
        {"event": "Buy", **MAY_1_3, "on": 'properties["price"]', **params}
    )


# -- counting --------------------------------------------------------------------


def test_general_unique_and_average_per_day(project_writer: Make) -> None:
    writer = project_writer(Mode.SIMPLIFIED)
    events = {
        "alice": [
            track("2024-04-30 23:59:59", "App Open", device=D1),  # before the range
            track("2024-05-01 09:00", "App Open", device=D1),
            track("2024-05-01 09:30", "App Open", device=D1, user="alice"),  # the login
            track("2024-05-01 23:59:59", "App Open", user="alice"),
            track("2024-05-01 12:00", "Purchase", user="alice"),  # another event
        ],
        "bob": [
            track("2024-05-01 10:00", "App Open", device=D2),
            track("2024-05-02 00:00", "App Open", device=D2),
            track("2024-05-02 18:00", "App Open", device=D2),
            track("2024-05-04 00:00", "App Open", device=D2),  # after the range
        ],
    }
    ingest(writer, journeys(Mode.SIMPLIFIED, events))

    general = seg(writer)
    assert general == {
        "data": {
            "series": DAYS,
            "values": {"App Open": {"2024-05-01": 4, "2024-05-02": 2, "2024-05-03": 0}},
        },
        "legend_size": 1,
    }
    unique = values(seg(writer, type="unique"))["App Open"]
    assert unique == {"2024-05-01": 2, "2024-05-02": 1, "2024-05-03": 0}
    average = values(seg(writer, type="average"))["App Open"]
    assert average == {"2024-05-01": 2.0, "2024-05-02": 2.0, "2024-05-03": 0}


def test_average_is_rounded_to_three_decimals(project_writer: Make) -> None:
    writer = project_writer(Mode.SIMPLIFIED)
    steps = {
        "a": [track(f"2024-05-01 10:0{n}", "App Open", device=D1) for n in range(2)],
        "b": [track("2024-05-01 11:00", "App Open", device=D2)],
        "c": [track("2024-05-01 12:00", "App Open", device=D3)],
    }
    ingest(writer, journeys(Mode.SIMPLIFIED, steps))
    assert values(seg(writer, type="average"))["App Open"]["2024-05-01"] == 1.333


# -- buckets -------------------------------------------------------------------------

UNITS: list[tuple[dict[str, Any], list[str], int, dict[str, int]]] = [
    # params, times of events, number of buckets, the buckets that are not 0
    (
        {"unit": "minute", "from_date": "2024-05-01", "to_date": "2024-05-01"},
        ["2024-05-01 00:00", "2024-05-01 10:00:10", "2024-05-01 10:00:59", "2024-05-01 10:02"],
        1440,
        {"2024-05-01 00:00:00": 1, "2024-05-01 10:00:00": 2, "2024-05-01 10:02:00": 1},
    ),
    (
        {"unit": "hour", "from_date": "2024-05-01", "to_date": "2024-05-02"},
        ["2024-05-01 10:00", "2024-05-01 10:59:59", "2024-05-02 23:30"],
        48,
        {"2024-05-01 10:00:00": 2, "2024-05-02 23:00:00": 1},
    ),
    (
        {"unit": "day", "from_date": "2024-05-01", "to_date": "2024-05-02"},
        ["2024-05-01 00:00", "2024-05-01 23:59:59", "2024-05-02 00:00"],
        2,
        {"2024-05-01": 2, "2024-05-02": 1},
    ),
    (  # weeks start on Monday; 2024-05-01 is a Wednesday, its week's Monday 04-29
        {"unit": "week", "from_date": "2024-05-01", "to_date": "2024-05-20"},
        ["2024-04-30 12:00", "2024-05-05 23:59:59", "2024-05-06 00:00", "2024-05-20 23:00"],
        4,
        {"2024-04-29": 1, "2024-05-06": 1, "2024-05-20": 1},
    ),
    (
        {"unit": "month", "from_date": "2024-01-15", "to_date": "2024-03-10"},
        ["2024-01-31 23:59", "2024-02-01 00:00", "2024-02-29 12:00", "2024-03-11 00:00"],
        3,
        {"2024-01-01": 1, "2024-02-01": 2},
    ),
    (  # intervals count from from_date
        {"interval": "7", "from_date": "2024-05-01", "to_date": "2024-05-15"},
        ["2024-05-07 23:59", "2024-05-08 00:00", "2024-05-15 12:00"],
        3,
        {"2024-05-01": 1, "2024-05-08": 1, "2024-05-15": 1},
    ),
]


@pytest.mark.parametrize(
    ("params", "times", "count", "nonzero"),
    UNITS,
    ids=[u[0].get("unit", "interval") for u in UNITS],
)
def test_units_and_zero_filled_series(
    project_writer: Make,
    params: dict[str, Any],
    times: list[str],
    count: int,
    nonzero: dict[str, int],
) -> None:
    writer = project_writer(Mode.SIMPLIFIED)
    steps = [track(t, "App Open", device=D1) for t in times]
    ingest(writer, journeys(Mode.SIMPLIFIED, {"a": steps}))
    answer = seg(writer, **params)
    series = answer["data"]["series"]
    assert len(series) == count == len(set(series))
    assert series == sorted(series)
    assert values(answer)["App Open"] == {label: nonzero.get(label, 0) for label in series}


# -- on, where, limit ------------------------------------------------------------------


def os_events(writer: ProjectWriter) -> None:
    """Events by $os: Linux 3 (two users), Mac 2, none 2, Windows 1, the number 10 1."""
    steps = [
        track("2024-05-01 10:00", "App Open", device=D1, **{"$os": "Linux"}),
        track("2024-05-01 10:01", "App Open", device=D1, **{"$os": "Linux"}),
        track("2024-05-02 10:02", "App Open", device=D2, **{"$os": "Linux"}),
        track("2024-05-01 10:03", "App Open", device=D3, **{"$os": "Mac"}),
        track("2024-05-01 10:04", "App Open", device=D3, **{"$os": "Mac"}),
        track("2024-05-01 11:00", "App Open", device=D3),
        track("2024-05-02 11:00", "App Open", device=D3),
        track("2024-05-02 12:00", "App Open", device=D3, **{"$os": "Windows"}),
        track("2024-05-02 13:00", "App Open", device=D3, **{"$os": 10}),
    ]
    ingest(writer, journeys(Mode.SIMPLIFIED, {"x": steps}))


def test_on_breaks_down_with_undefined_and_zeros(project_writer: Make) -> None:
    writer = project_writer(Mode.SIMPLIFIED)
    os_events(writer)
    answer = seg(writer, on='properties["$os"]')
    assert answer["legend_size"] == 5
    assert values(answer) == {
        "Linux": {"2024-05-01": 2, "2024-05-02": 1, "2024-05-03": 0},
        "Mac": {"2024-05-01": 2, "2024-05-02": 0, "2024-05-03": 0},
        "undefined": {"2024-05-01": 1, "2024-05-02": 1, "2024-05-03": 0},
        "10": {"2024-05-01": 0, "2024-05-02": 1, "2024-05-03": 0},
        "Windows": {"2024-05-01": 0, "2024-05-02": 1, "2024-05-03": 0},
    }
    assert list(values(answer)) == ["Linux", "Mac", "undefined", "10", "Windows"]
    unique = values(seg(writer, on='properties["$os"]', type="unique"))
    assert unique["Linux"] == {"2024-05-01": 1, "2024-05-02": 1, "2024-05-03": 0}
    assert unique["Mac"]["2024-05-01"] == 1
    average = values(seg(writer, on='properties["$os"]', type="average"))
    assert average["Mac"] == {"2024-05-01": 2.0, "2024-05-02": 0, "2024-05-03": 0}


def test_limit_keeps_the_top_keys_ties_by_key(project_writer: Make) -> None:
    writer = project_writer(Mode.SIMPLIFIED)
    os_events(writer)
    two = seg(writer, on='properties["$os"]', limit="2")
    assert list(values(two)) == ["Linux", "Mac"]  # Mac and undefined tie at 2: by key
    assert two["legend_size"] == 2
    three = seg(writer, on='properties["$os"]', limit=3)
    assert list(values(three)) == ["Linux", "Mac", "undefined"]
    unique = seg(writer, on='properties["$os"]', type="unique", limit=1)
    assert list(values(unique)) == ["Linux"]  # 2 user-days, as undefined: by key
    assert list(values(seg(writer, limit=1))) == ["App Open"]  # no on: limit is moot


def test_where_filters_events(project_writer: Make) -> None:
    writer = project_writer(Mode.SIMPLIFIED)
    os_events(writer)
    linux = seg(writer, where='properties["$os"] == "Linux"')
    assert values(linux) == {"App Open": {"2024-05-01": 2, "2024-05-02": 1, "2024-05-03": 0}}
    both = seg(writer, type="unique", where='not defined(properties["$os"])', on='"none"')
    assert values(both) == {"none": {"2024-05-01": 1, "2024-05-02": 1, "2024-05-03": 0}}
    by_time = seg(writer, where='properties["$time"] >= "2024-05-02T12:00:00"')
    assert values(by_time)["App Open"] == {"2024-05-01": 0, "2024-05-02": 2, "2024-05-03": 0}


# -- retries -------------------------------------------------------------------------


def test_a_retry_counts_once_a_new_insert_id_twice(project_writer: Make) -> None:
    writer = project_writer(Mode.SIMPLIFIED)
    first = journeys(
        Mode.SIMPLIFIED,
        {"a": [track("2024-05-01 10:00", "App Open", device=D1, price=5)]},
    )
    ingest(writer, first)
    ingest(writer, first)  # the same event again: a retry
    again = track("2024-05-01 10:00", "App Open", device=D1, insert_id="other", price=7)
    ingest(writer, journeys(Mode.SIMPLIFIED, {"a": [again]}))  # same time, its own id
    assert values(seg(writer))["App Open"]["2024-05-01"] == 2
    assert values(seg(writer, type="unique"))["App Open"]["2024-05-01"] == 1
    assert values(seg(writer, type="average"))["App Open"]["2024-05-01"] == 2.0
    on_price = values(seg(writer, on='properties["price"]'))
    assert {k: v["2024-05-01"] for k, v in on_price.items()} == {"5": 1, "7": 1}
    spec = numeric_spec(event="App Open")
    assert segmentation_sum(writer.store, writer.project, spec)["results"]["2024-05-01"] == 12
    assert segmentation_average(writer.store, writer.project, spec)["results"] == {
        "2024-05-01": 6,
        "2024-05-02": 0,
        "2024-05-03": 0,
    }
    numeric = values(segmentation_numeric(writer.store, writer.project, spec))
    assert {k: v["2024-05-01"] for k, v in numeric.items()} == {"5 - 6": 1, "6 - 7": 0, "7 - 8": 1}


def test_a_retry_counts_as_the_last_one_stored_before_where_and_on(project_writer: Make) -> None:
    writer = project_writer(Mode.SIMPLIFIED)
    for price in (5, 7):  # a retry whose properties changed
        sent = track("2024-05-01 10:00", "App Open", device=D1, insert_id="r", price=price)
        ingest(writer, journeys(Mode.SIMPLIFIED, {"a": [sent]}))
    for kind in ("general", "unique", "average"):  # unique users too: where and on read
        found = seg(writer, type=kind, where='properties["price"] == 5')
        assert values(found)["App Open"]["2024-05-01"] == 0, kind
        on_price = values(seg(writer, type=kind, on='properties["price"]'))
        assert {k: v["2024-05-01"] for k, v in on_price.items()} == {"7": 1}, kind
    spec = numeric_spec(event="App Open", type="unique")
    numeric = values(segmentation_numeric(writer.store, writer.project, spec))
    assert {k: v["2024-05-01"] for k, v in numeric.items()} == {"7 - 8": 1}


def test_two_ids_sharing_a_time_and_insert_id_are_two_events(project_writer: Make) -> None:
    """A retry shares the stored id too: the same ``$insert_id`` at the same time
    from two devices that never link is two events, not one."""
    writer = project_writer(Mode.SIMPLIFIED)
    sent = {
        who: [track("2024-05-01 10:00", "App Open", device=device, insert_id="same")]
        for who, device in (("a", D1), ("b", D2))
    }
    ingest(writer, journeys(Mode.SIMPLIFIED, sent))
    assert values(seg(writer))["App Open"]["2024-05-01"] == 2
    assert values(seg(writer, type="unique"))["App Open"]["2024-05-01"] == 2


def test_undefined_is_one_key_with_the_string_undefined(project_writer: Make) -> None:
    writer = project_writer(Mode.SIMPLIFIED)
    steps = [
        track("2024-05-01 10:00", "App Open", device=D1),
        track("2024-05-01 11:00", "App Open", device=D1, **{"$os": "undefined"}),
    ]
    ingest(writer, journeys(Mode.SIMPLIFIED, {"a": steps}))
    answer = values(seg(writer, on='properties["$os"]'))
    assert answer == {"undefined": {"2024-05-01": 2, "2024-05-02": 0, "2024-05-03": 0}}


# -- who is a user -----------------------------------------------------------------


def unique_over_range(writer: ProjectWriter) -> int:
    answer = seg(writer, type="unique", interval=3)
    return int(values(answer)["App Open"]["2024-05-01"])


def test_a_login_re_attributes_the_past_and_a_split_undoes_it(project_writer: Make) -> None:
    writer = project_writer(Mode.SIMPLIFIED)
    anonymous = [
        track("2024-05-01 10:00", "App Open", device=D1),
        track("2024-05-02 10:00", "App Open", device=D1),
        track("2024-05-03 09:00", "App Open", device=D2, user="alice"),  # another device
    ]
    ingest(writer, journeys(Mode.SIMPLIFIED, {"alice": anonymous}))
    assert unique_over_range(writer) == 2  # D1 is nobody known yet
    assert values(seg(writer, type="unique", unit="day"))["App Open"] == dict.fromkeys(DAYS, 1)

    login = track("2024-05-03 10:00", "App Open", device=D1, user="alice", insert_id="login")
    ingest(writer, journeys(Mode.SIMPLIFIED, {"alice": [login]}))
    assert unique_over_range(writer) == 1  # the anonymous days are alice's now
    assert values(seg(writer, type="unique"))["App Open"] == dict.fromkeys(DAYS, 1)
    assert values(seg(writer, type="average", interval=3))["App Open"] == {"2024-05-01": 4.0}

    tools.split(writer, now_ms=1, insert_id="login")
    assert unique_over_range(writer) == 2
    assert values(seg(writer, type="unique"))["App Open"] == dict.fromkeys(DAYS, 1)


def test_legacy_does_not_re_attribute(project_writer: Make) -> None:
    writer = project_writer(Mode.LEGACY)
    steps = [
        track("2024-05-01 10:00", "App Open", user="alice"),
        track("2024-05-01 11:00", "App Open", device=D1),
        alias("2024-05-02 10:00", "alice", D1),
        track("2024-05-02 11:00", "App Open", user="alice"),  # stored as D1
    ]
    ingest(writer, journeys(Mode.LEGACY, {"alice": steps}))
    assert unique_over_range(writer) == 2
    assert values(seg(writer, type="unique"))["App Open"] == {
        "2024-05-01": 2,
        "2024-05-02": 1,
        "2024-05-03": 0,
    }


# -- numeric, sum, average ------------------------------------------------------------


def buys(writer: ProjectWriter, prices: list[Any], day: str = "2024-05-01") -> None:
    steps = [
        track(f"{day} 10:{n:02d}", "Buy", device=device_id(n), price=price)
        for n, price in enumerate(prices)
    ]
    ingest(writer, journeys(Mode.SIMPLIFIED, {day: steps}))


def ranges(writer: ProjectWriter, **params: Any) -> dict[str, int]:
    """Range label -> count on 2024-05-01, in the answer's order."""
    answer = segmentation_numeric(writer.store, writer.project, numeric_spec(**params))
    assert answer["legend_size"] == len(values(answer))
    assert answer["data"]["series"] == DAYS
    return {label: by_day["2024-05-01"] for label, by_day in values(answer).items()}


@pytest.mark.parametrize(
    ("prices", "expected"),
    [
        (
            [0, 5, 12, 12.5, 20, "7", None, True],  # non-numbers left out
            {"0 - 5": 1, "5 - 10": 1, "10 - 15": 2, "15 - 20": 0, "20 - 25": 1},
        ),
        (
            [2000, 2050, 2999],
            {f"{n * 100:,} - {(n + 1) * 100:,}": 0 for n in range(20, 30)}
            | {"2,000 - 2,100": 2, "2,900 - 3,000": 1},
        ),
        (  # 1.15 / 0.05 is 22.999... in binary floating point
            [1.15, 1.5],
            {
                "1.15 - 1.2": 1,
                "1.2 - 1.25": 0,
                "1.25 - 1.3": 0,
                "1.3 - 1.35": 0,
                "1.35 - 1.4": 0,
                "1.4 - 1.45": 0,
                "1.45 - 1.5": 0,
                "1.5 - 1.55": 1,
            },
        ),
        ([0.1, 0.3, 1.15], {f"{n / 5:g} - {(n + 1) / 5:g}": int(n in (0, 1, 5)) for n in range(6)}),
        ([-3, 4], {f"{n} - {n + 1}": int(n in (-3, 4)) for n in range(-3, 5)}),
        ([5, 7], {"5 - 6": 1, "6 - 7": 0, "7 - 8": 1}),  # whole numbers: width 1 at least
        ([9.99, 9.99], {"9 - 10": 2}),
        ([0], {"0 - 1": 1}),
        ([], {}),
    ],
)
def test_numeric_ranges(project_writer: Make, prices: list[Any], expected: dict[str, int]) -> None:
    writer = project_writer(Mode.SIMPLIFIED)
    buys(writer, prices)
    assert ranges(writer) == expected


def test_numeric_types_and_dates(project_writer: Make) -> None:
    writer = project_writer(Mode.SIMPLIFIED)
    same_user = [
        track("2024-05-01 10:00", "Buy", device=D1, price=1),
        track("2024-05-01 11:00", "Buy", device=D1, price=2),
        track("2024-05-01 12:00", "Buy", device=D2, price=3),
        track("2024-05-03 12:00", "Buy", device=D2, price=9),
    ]
    ingest(writer, journeys(Mode.SIMPLIFIED, {"a": same_user}))
    spec = numeric_spec()
    general = values(segmentation_numeric(writer.store, writer.project, spec))
    assert list(general) == [f"{n} - {n + 1}" for n in range(1, 10)]
    assert general["1 - 2"] == {"2024-05-01": 1, "2024-05-02": 0, "2024-05-03": 0}
    assert general["9 - 10"] == {"2024-05-01": 0, "2024-05-02": 0, "2024-05-03": 1}
    assert ranges(writer, where='properties["price"] < 3', type="unique") == {
        "1 - 2": 1,
        "2 - 3": 1,
    }
    hourly = segmentation_numeric(writer.store, writer.project, numeric_spec(unit="hour"))
    assert len(hourly["data"]["series"]) == 72
    assert values(hourly)["3 - 4"]["2024-05-01 12:00:00"] == 1


def test_numeric_average_type(project_writer: Make) -> None:
    writer = project_writer(Mode.SIMPLIFIED)
    steps = [track(f"2024-05-01 10:0{n}", "Buy", device=D1, price=1) for n in range(3)]
    steps.append(track("2024-05-01 11:00", "Buy", device=D2, price=1))
    ingest(writer, journeys(Mode.SIMPLIFIED, {"a": steps}))
    assert ranges(writer, type="average") == {"1 - 2": 2.0}
    assert ranges(writer, type="unique") == {"1 - 2": 2}
    assert ranges(writer) == {"1 - 2": 4}


def test_sum_and_average_per_bucket(project_writer: Make) -> None:
    writer = project_writer(Mode.SIMPLIFIED)
    buys(writer, [4, 0.5, "12", None], day="2024-05-01")  # non-numbers count as 0
    buys(writer, [0.1, 0.2], day="2024-05-03")
    spec = numeric_spec()
    now = dt.datetime(2024, 5, 3, 10, tzinfo=dt.UTC)
    assert segmentation_sum(writer.store, writer.project, spec, now=now) == {
        "status": "ok",
        "computed_at": "2024-05-03T10:00:00.000000+00:00",
        "results": {"2024-05-01": 4.5, "2024-05-02": 0, "2024-05-03": 0.3},
    }
    assert segmentation_average(writer.store, writer.project, spec) == {
        "status": "ok",
        "results": {"2024-05-01": 1.125, "2024-05-02": 0, "2024-05-03": 0.15},
    }
    filtered = numeric_spec(unit="hour", where='properties["price"] > 1')
    hourly = segmentation_sum(writer.store, writer.project, filtered)["results"]
    assert len(hourly) == 72
    assert {k: v for k, v in hourly.items() if v} == {"2024-05-01 10:00:00": 4}
    assert isinstance(hourly["2024-05-01 10:00:00"], int)


def test_an_overflow_is_not_a_number(project_writer: Make) -> None:
    """``4 * 1e308`` is infinite: left out of the ranges, 0 in sums and means."""
    writer = project_writer(Mode.SIMPLIFIED)
    buys(writer, [4, 0.5])
    spec = numeric_spec(on='properties["price"] * 1e308')
    summed = segmentation_sum(writer.store, writer.project, spec)["results"]
    assert summed["2024-05-01"] == 5e307
    mean = segmentation_average(writer.store, writer.project, spec)["results"]
    assert mean["2024-05-01"] == 2.5e307
    answer = segmentation_numeric(writer.store, writer.project, spec)
    assert answer["legend_size"] == 1
    assert sum(by_day["2024-05-01"] for by_day in values(answer).values()) == 1


# -- bad parameters --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"event": None}, "event"),
        ({"event": '["A", "B"]'}, "event"),
        ({"from_date": None}, "from_date"),
        ({"to_date": "2024-04-01"}, "to_date"),
        ({"unit": "year"}, "unit"),
        ({"unit": "day", "interval": "2"}, "interval"),
        ({"interval": "0"}, "interval"),
        ({"type": "median"}, "type"),
        ({"limit": "0"}, "limit"),
        ({"limit": "10001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"where": 'properties["a"] =='}, "where"),
        ({"on": "properties[", "where": None}, "on"),
    ],
)
def test_segmentation_bad_parameters(params: dict[str, Any], named: str) -> None:
    given = {"event": "App Open", **MAY_1_3, **params}
    with pytest.raises(BadRequest, match=named):
        SegmentationSpec.from_params({k: v for k, v in given.items() if v is not None})


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"on": None}, "on"),
        ({"on": '"a" and'}, "on"),
        ({"unit": "minute"}, "unit"),
        ({"unit": "week"}, "unit"),
        ({"type": "sum"}, "type"),
        ({"event": None}, "event"),
        ({"where": "("}, "where"),
    ],
)
def test_numeric_bad_parameters(params: dict[str, Any], named: str) -> None:
    given = {"event": "Buy", **MAY_1_3, "on": 'properties["price"]', **params}
    with pytest.raises(BadRequest, match=named):
        NumericSpec.from_params({k: v for k, v in given.items() if v is not None})


def test_limit_defaults_to_60_and_accepts_a_number() -> None:
    base = {"event": "App Open", **MAY_1_3}
    assert SegmentationSpec.from_params(base).limit == 60
    assert SegmentationSpec.from_params({**base, "limit": 10_000}).limit == 10_000


# -- the SQL run -------------------------------------------------------------------------

PROJECT = Project(1, "snap", "token", "secret", Mode.SIMPLIFIED, 0)


def test_sql_general_by_day() -> None:
    spec = SegmentationSpec.from_params({"event": "App Open", **MAY_1_3})
    sql, params = segmentation_sql(PROJECT, spec)
    assert params == {
        "project": 1,
        "event": "App Open",
        "start": 1714521600000,
        "end": 1714780800000,
    }
    assert_snapshot("segmentation_general_day", sql)


def test_sql_unique_with_on_and_where() -> None:
    spec = SegmentationSpec.from_params(
        {
            "event": "App Open",
            **MAY_1_3,
            "type": "unique",
            "unit": "week",
            "on": 'properties["$os"]',
            "where": 'properties["plan"] == "pro"',
            "limit": "5",
        }
    )
    assert_snapshot("segmentation_unique_on_where", segmentation_sql(PROJECT, spec)[0])


def test_sql_numeric() -> None:
    assert_snapshot("segmentation_numeric", numeric_sql(PROJECT, numeric_spec())[0])


def test_sql_sum() -> None:
    spec = numeric_spec(unit="hour", where='properties["plan"] == "pro"')
    assert_snapshot("segmentation_sum", sum_sql(PROJECT, spec)[0])
