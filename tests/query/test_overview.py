"""The project overview over a real DuckDB file, in every server time zone: events
(retries included), stored ids and people (resolved now, given back by a split) per
UTC day, merges and refused identity events by the identity event's day, refusals
by reason, zero days, totals, the default range and the parameters' errors."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from idmerge.errors import BadRequest
from idmerge.identity import Mode
from idmerge.ingest import ProjectWriter
from idmerge.query import identity as tools
from idmerge.query.overview import COUNTS, OverviewSpec, overview
from idmerge.storage.base import Store
from journeys import device_id, identify, ingest, journeys, merge, track

Make = Callable[[Mode], ProjectWriter]
D1, D2 = device_id(1), device_id(2)
MAY_1, MAY_2, MAY_3 = dt.date(2024, 5, 1), dt.date(2024, 5, 2), dt.date(2024, 5, 3)
ZERO = dict.fromkeys(COUNTS, 0)


def days(answer: dict[str, Any]) -> dict[str, dict[str, int]]:
    """``{day: counts}`` of the answer."""
    return {d["day"]: {k: v for k, v in d.items() if k != "day"} for d in answer["days"]}


def counts(events: int, stored_ids: int, people: int, merges: int, refused: int) -> dict[str, int]:
    return dict(zip(COUNTS, (events, stored_ids, people, merges, refused), strict=True))


class CountingStore:
    """A store that counts the statements run through it."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.statements: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def query(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        self.statements.append(sql)
        return self.store.query(sql, params)


def simplified_days(writer: ProjectWriter) -> None:
    """alice browses on D1 and logs in on May 1st; bob browses on D2 from May 1st
    23:59:59 to May 2nd 00:00 (a retry too); carol logs in on alice's device on May 3rd
    (refused: a device belongs to one user); events the day before and after."""
    events = {
        "alice": [
            track("2024-04-30 23:59:59", "App Open", device=D1),  # before the range
            track("2024-05-01 09:00", "App Open", device=D1),
            track("2024-05-01 09:30", "Log In", device=D1, user="alice", insert_id="login"),
            track("2024-05-01 12:00", "Purchase", user="alice"),
        ],
        "bob": [
            track("2024-05-01 23:59:59", "App Open", device=D2, insert_id="bob-open"),
            track("2024-05-02 00:00", "App Open", device=D2),
            track("2024-05-04 00:00", "App Open", device=D2),  # after the range
        ],
        "carol": [track("2024-05-03 10:00", "Log In", device=D1, user="carol")],
    }
    ingest(writer, journeys(Mode.SIMPLIFIED, events))
    retry = journeys(Mode.SIMPLIFIED, {"bob": [track("2024-05-01 23:59:59", "App Open", device=D2,
                                                     insert_id="bob-open")]})  # fmt: skip
    ingest(writer, retry)


def test_counts_per_day_zero_days_and_totals(project_writer: Make) -> None:
    writer = project_writer(Mode.SIMPLIFIED)
    simplified_days(writer)

    answer = overview(writer.store, writer.project, MAY_1, MAY_3)

    assert answer["from_date"] == "2024-05-01"
    assert answer["to_date"] == "2024-05-03"
    assert days(answer) == {
        # alice's 3 events under $device:D1 and alice, one person; bob's event and its
        # retry under $device:D2; the login linked
        "2024-05-01": counts(events=5, stored_ids=3, people=2, merges=1, refused=0),
        "2024-05-02": counts(events=1, stored_ids=1, people=1, merges=0, refused=0),
        # carol's login is stored under carol, and refused
        "2024-05-03": counts(events=1, stored_ids=1, people=1, merges=0, refused=1),
    }
    assert answer["refused_by_reason"] == {"errAnonDistinctIdAssignedAlready": 1}
    # stored ids and people are distinct over the range, not summed
    assert answer["totals"] == counts(events=7, stored_ids=4, people=3, merges=1, refused=1)


def test_a_day_without_anything_is_zeros(project_writer: Make) -> None:
    writer = project_writer(Mode.SIMPLIFIED)
    simplified_days(writer)

    answer = overview(writer.store, writer.project, dt.date(2024, 5, 5), dt.date(2024, 5, 7))

    assert [d["day"] for d in answer["days"]] == ["2024-05-05", "2024-05-06", "2024-05-07"]
    assert all(counts == ZERO for counts in days(answer).values())
    assert answer["refused_by_reason"] == {}
    assert answer["totals"] == ZERO


def test_people_are_resolved_now_and_a_split_gives_them_back(project_writer: Make) -> None:
    writer = project_writer(Mode.SIMPLIFIED)
    simplified_days(writer)
    before = days(overview(writer.store, writer.project, MAY_1, MAY_1))["2024-05-01"]

    tools.split(writer, now_ms=1, insert_id="login")
    after = overview(writer.store, writer.project, MAY_1, MAY_1)

    assert before["people"] == 2
    # $device:D1 is alice's no more; the merge of May 1st still happened that day
    assert days(after)["2024-05-01"] == {**before, "people": 3}


def test_legacy_counts_people_as_stored(project_writer: Make) -> None:
    writer = project_writer(Mode.LEGACY)
    events = {"ann": [track("2024-05-01 09:00", "App Open", distinct_id="ann-1"),
                      track("2024-05-01 09:10", "App Open", distinct_id="ann-2")]}  # fmt: skip
    ingest(writer, journeys(Mode.LEGACY, events))

    answer = overview(writer.store, writer.project, MAY_1, MAY_1)

    assert days(answer)["2024-05-01"] == counts(2, 2, 2, 0, 0)


def test_merges_and_refusals_by_reason_and_day(project_writer: Make) -> None:
    writer = project_writer(Mode.ORIGINAL)
    events = {
        "ann": [
            identify("2024-05-01 09:00", "not-a-guid", "ann"),  # refused: not a GUID
            identify("2024-05-01 10:00", D2, D2),  # refused: the same ids
            identify("2024-05-01 11:00", "also-not-a-guid", "ann"),  # refused: not a GUID
            identify("2024-05-02 10:00", D1, "ann"),  # merged
            merge("2024-05-02 11:00", "ann", "bob"),  # merged
        ]
    }
    ingest(writer, journeys(Mode.ORIGINAL, events))

    answer = overview(writer.store, writer.project, MAY_1, MAY_3)

    found = days(answer)
    assert [(d["merges"], d["refused"]) for d in found.values()] == [(0, 3), (2, 0), (0, 0)]
    # the most frequent reason first
    assert list(answer["refused_by_reason"].items()) == [
        ("errAnonDistinctIdNonGUIDForm", 2),
        ("errSameIDs", 1),
    ]
    assert (answer["totals"]["merges"], answer["totals"]["refused"]) == (2, 3)
    assert answer["totals"]["events"] == 5  # the identity events are stored events too


def test_two_statements(project_writer: Make) -> None:
    writer = project_writer(Mode.SIMPLIFIED)
    simplified_days(writer)
    store = CountingStore(writer.store)

    overview(store, writer.project, MAY_1, MAY_3)

    assert len(store.statements) == 2
    assert all("$project" in sql for sql in store.statements)


# -- the range -----------------------------------------------------------------------


def test_default_range_is_the_30_days_up_to_the_newest_event(project_writer: Make) -> None:
    writer = project_writer(Mode.SIMPLIFIED)
    today = dt.date(2030, 1, 1)
    empty = overview(writer.store, writer.project, today=today)
    assert (empty["from_date"], empty["to_date"]) == ("2029-12-03", "2030-01-01")
    assert len(empty["days"]) == 30

    simplified_days(writer)  # the newest event is on May 4th
    answer = overview(writer.store, writer.project, today=today)
    assert (answer["from_date"], answer["to_date"]) == ("2024-04-05", "2024-05-04")
    assert days(answer)["2024-05-04"]["events"] == 1

    only_from = overview(writer.store, writer.project, MAY_2, today=today)
    assert (only_from["from_date"], only_from["to_date"]) == ("2024-05-02", "2024-05-04")
    later = overview(writer.store, writer.project, dt.date(2024, 6, 1), today=today)
    assert (later["from_date"], later["to_date"]) == ("2024-06-01", "2024-06-01")
    only_to = overview(writer.store, writer.project, None, MAY_1, today=today)
    assert (only_to["from_date"], only_to["to_date"]) == ("2024-04-02", "2024-05-01")
    year_1 = overview(writer.store, writer.project, None, dt.date(1, 1, 10), today=today)
    assert (year_1["from_date"], year_1["to_date"]) == ("0001-01-01", "0001-01-10")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"from_date": "2024-05-02", "to_date": "2024-05-01"}, "to_date (2024-05-01) is before"),
        ({"from_date": "May 1st"}, "from_date must be a day as YYYY-MM-DD"),
        ({"to_date": "2024-5-1"}, "to_date must be a day as YYYY-MM-DD"),
        ({"to_date": "2024-W18-3"}, "to_date must be a day as YYYY-MM-DD"),
        ({"from_date": "2000-01-01", "to_date": "2024-05-01"}, "at most 3,660"),
    ],
)
def test_bad_ranges_name_the_parameter(params: dict[str, str], message: str) -> None:
    with pytest.raises(BadRequest, match=message.replace("(", r"\(").replace(")", r"\)")):
        OverviewSpec.from_params(params)


def test_spec_reads_missing_dates_as_none() -> None:
    assert OverviewSpec.from_params({}) == OverviewSpec(None, None)
    assert OverviewSpec.from_params({"from_date": "2024-05-01", "to_date": ""}) == OverviewSpec(
        MAY_1, None
    )
