"""Retention on resolved ids, through the library over a real DuckDB file (each test
runs with the server in three time zones): every rule of
:mod:`idmerge.query.retention`, each test failing if its rule broke."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from idmerge.errors import BadRequest
from idmerge.identity import Mode
from idmerge.ingest import ProjectWriter
from idmerge.query.buckets import Buckets
from idmerge.query.retention import RetentionSpec, retention, retention_sql
from journeys import Step, alias, device_id, ingest, journeys, ms, track
from snapshots import assert_snapshot

D1, D2 = device_id(1), device_id(2)
MAY_1_2 = {"from_date": "2024-05-01", "to_date": "2024-05-02"}
Make = Callable[[Mode], ProjectWriter]


@pytest.fixture
def writer(project_writer: Make) -> ProjectWriter:
    return project_writer(Mode.SIMPLIFIED)


def answer(writer: ProjectWriter, **params: Any) -> dict[str, Any]:
    """The retention of ``params`` (as a client sends them: text) over the writer's
    project; dates default to 2024-05-01 .. 2024-05-02, born_event to App Open."""
    params = {**MAY_1_2, "born_event": "App Open", **params}
    spec = RetentionSpec.from_params({k: str(v) for k, v in params.items()})
    return retention(writer.store, writer.project, spec)


def given(writer: ProjectWriter, people: dict[str, list[Step]]) -> None:
    ingest(writer, journeys(writer.project.mode, people))


def cohort(first: int, *counts: int) -> dict[str, Any]:
    return {"counts": list(counts), "first": first}


def opens(person: int, *times: str, **properties: Any) -> list[Step]:
    """``App Open`` from device ``person`` at each of ``times``."""
    return [track(t, "App Open", device=device_id(person), **properties) for t in times]


# -- birth --------------------------------------------------------------------------


def test_birth_is_the_first_born_event_ever(writer: ProjectWriter) -> None:
    """An App Open before from_date makes alice no one's newcomer, though she opens
    the app in the range; every cohort of the range is answered, in order."""
    given(
        writer,
        {
            "alice": opens(1, "2024-04-20 10:00", "2024-05-01 10:00", "2024-05-02 11:00"),
            "bob": opens(2, "2024-05-01 23:30", "2024-05-02 23:40"),
        },
    )
    got = answer(writer)
    assert got == {"2024-05-01": cohort(1, 0, 1), "2024-05-02": cohort(0, 0, 0)}
    assert list(got) == ["2024-05-01", "2024-05-02"]


def test_buckets_are_counted_from_each_users_own_birth(writer: ProjectWriter) -> None:
    """Born at 15:00: bucket 0 ends the next day at 14:59:59.999, bucket 1 starts at
    15:00; a return after the last bucket counts nowhere."""
    born = "2024-05-01 15:00"
    given(
        writer,
        {
            "a": opens(1, born, "2024-05-02 14:59:59"),
            "b": opens(2, born, "2024-05-02 15:00"),
            "c": opens(3, born, "2024-05-03 15:00"),
            "d": opens(4, born, "2024-05-04 15:00"),  # bucket 3: past interval_count
        },
    )
    assert answer(writer, interval_count=2) == {
        "2024-05-01": cohort(4, 1, 1, 1),
        "2024-05-02": cohort(0, 0, 0, 0),
    }


def test_a_week_is_7_days_and_cohorts_are_iso_weeks(writer: ProjectWriter) -> None:
    given(
        writer,
        {
            "early": opens(1, "2024-05-06 10:00"),  # the Monday before from_date
            "a": opens(2, "2024-05-08 10:00", "2024-05-15 09:59"),  # Wednesday
            "b": opens(3, "2024-05-08 10:00", "2024-05-15 10:00"),
            "c": opens(4, "2024-05-12 23:59"),  # Sunday: still the week of May 6
            "d": opens(5, "2024-05-13 00:00", "2024-05-19 23:59"),  # Monday
        },
    )
    got = answer(writer, unit="week", from_date="2024-05-08", to_date="2024-05-13")
    assert got == {"2024-05-06": cohort(3, 1, 1), "2024-05-13": cohort(1, 1, 0)}


def test_a_month_is_30_days_and_cohorts_are_calendar_months(writer: ProjectWriter) -> None:
    """From May 20 10:00, bucket 1 starts on June 19 10:00 (30 days), not June 20."""
    given(
        writer,
        {
            "a": opens(1, "2024-05-20 10:00", "2024-06-19 09:59"),
            "b": opens(2, "2024-05-20 10:00", "2024-06-19 10:00"),
            "c": opens(3, "2024-06-01 00:00", "2024-06-01 00:01"),
        },
    )
    got = answer(writer, unit="month", from_date="2024-05-01", to_date="2024-06-30")
    assert got == {"2024-05-01": cohort(2, 1, 1), "2024-06-01": cohort(1, 1, 0)}


def test_interval_puts_several_units_in_a_bucket(writer: ProjectWriter) -> None:
    given(
        writer,
        {
            "a": opens(1, "2024-05-01 10:00", "2024-05-03 09:59"),  # 47:59 h: bucket 0
            "b": opens(2, "2024-05-01 10:00", "2024-05-03 10:00"),  # 48 h: bucket 1
            "c": opens(3, "2024-05-01 10:00", "2024-05-07 09:00"),  # 143 h: bucket 2
        },
    )
    got = answer(writer, interval=2, interval_count=2, to_date="2024-05-01")
    assert got == {"2024-05-01": cohort(3, 1, 1, 1)}


def test_interval_count_sets_the_number_of_buckets(writer: ProjectWriter) -> None:
    given(writer, {"a": opens(1, "2024-05-01 10:00", "2024-05-06 10:00")})
    assert answer(writer, to_date="2024-05-01") == {"2024-05-01": cohort(1, 0, 0)}
    got = answer(writer, interval_count=5, to_date="2024-05-01")
    assert got == {"2024-05-01": cohort(1, 0, 0, 0, 0, 0, 1)}


def test_unbounded_counts_a_return_in_every_bucket_before_it(writer: ProjectWriter) -> None:
    given(
        writer,
        {
            "a": opens(1, "2024-05-01 10:00", "2024-05-03 11:00"),  # bucket 2
            "b": opens(2, "2024-05-01 10:00", "2024-05-01 11:00"),  # bucket 0
            "c": opens(3, "2024-05-01 10:00", "2024-05-02 11:00", "2024-05-04 11:00"),  # 1, 3
        },
    )
    day = {"to_date": "2024-05-01", "interval_count": 3}
    assert answer(writer, **day) == {"2024-05-01": cohort(3, 1, 1, 1, 1)}
    got = answer(writer, **day, unbounded_retention="true")
    assert got == {"2024-05-01": cohort(3, 3, 2, 2, 1)}


def test_born_where_filters_births_and_where_filters_returns(writer: ProjectWriter) -> None:
    """The first App Open *on iOS* is the birth, so an Android one before the range
    does not count; only pro purchases return, and only from the birth on."""
    given(
        writer,
        {
            "a": [
                track("2024-04-30 09:00", "App Open", device=D1, **{"$os": "Android"}),
                track("2024-05-01 09:00", "Purchase", device=D1, plan="pro"),  # before birth
                track("2024-05-01 10:00", "App Open", device=D1, **{"$os": "iOS"}),
                track("2024-05-01 11:00", "Purchase", device=D1, plan="free"),
                track("2024-05-02 11:00", "Purchase", device=D1, plan="pro"),
            ]
        },
    )
    ios = 'properties["$os"] == "iOS"'
    pro = 'properties["plan"] == "pro"'
    got = answer(writer, event="Purchase", born_where=ios, where=pro, to_date="2024-05-01")
    assert got == {"2024-05-01": cohort(1, 0, 1)}
    got = answer(writer, event="Purchase", born_where=ios, to_date="2024-05-01")
    assert got == {"2024-05-01": cohort(1, 1, 1)}
    assert answer(writer, event="Purchase", where=pro, to_date="2024-05-01") == {
        "2024-05-01": cohort(0, 0, 0)
    }


def test_a_retry_with_other_properties_is_read_as_the_last_stored(writer: ProjectWriter) -> None:
    """A retry (same name, id, time and ``$insert_id``) is one event, read as the last
    one stored by ``born_where`` and ``where``, as segmentation and funnels read it."""
    given(
        writer,
        {
            "a": [
                track("2024-05-01 10:00", "App Open", device=D1, insert_id="o", plan="free"),
                track("2024-05-01 10:00", "App Open", device=D1, insert_id="o", plan="pro"),
                track("2024-05-02 10:00", "Purchase", device=D1, insert_id="p", plan="pro"),
                track("2024-05-02 10:00", "Purchase", device=D1, insert_id="p", plan="free"),
            ]
        },
    )
    day = {"to_date": "2024-05-01", "event": "Purchase"}
    free, pro = 'properties["plan"] == "free"', 'properties["plan"] == "pro"'
    assert answer(writer, born_where=free, **day) == {"2024-05-01": cohort(0, 0, 0)}
    assert answer(writer, born_where=pro, **day) == {"2024-05-01": cohort(1, 0, 1)}
    assert answer(writer, where=pro, **day) == {"2024-05-01": cohort(1, 0, 0)}
    assert answer(writer, where=free, **day) == {"2024-05-01": cohort(1, 0, 1)}


def test_without_event_any_event_is_a_return(writer: ProjectWriter) -> None:
    given(
        writer,
        {
            "a": [*opens(1, "2024-05-01 10:00"), track("2024-05-02 11:00", "Purchase", device=D1)],
            "b": [*opens(2, "2024-05-01 10:00"), track("2024-05-01 12:00", "View", device=D2)],
        },
    )
    assert answer(writer, to_date="2024-05-01") == {"2024-05-01": cohort(2, 1, 1)}
    got = answer(writer, event="Purchase", to_date="2024-05-01")
    assert got == {"2024-05-01": cohort(2, 0, 1)}


def test_the_birth_occurrence_is_not_a_return(writer: ProjectWriter) -> None:
    """The born event at the birth millisecond, and its retry, are the birth; another
    App Open later in bucket 0 is a return, and so is another event at that very
    millisecond."""
    events = journeys(
        Mode.SIMPLIFIED,
        {
            "a": opens(1, "2024-05-01 10:00"),
            "b": opens(2, "2024-05-01 10:00", "2024-05-01 10:30"),
            "c": [
                *opens(3, "2024-05-01 10:00"),
                track("2024-05-01 10:00", "Sign Up", device=device_id(3)),
            ],
        },
    )
    ingest(writer, events)
    ingest(writer, events)  # every event retried
    day = {"to_date": "2024-05-01"}
    assert answer(writer, event="App Open", **day) == {"2024-05-01": cohort(3, 1, 0)}
    assert answer(writer, **day) == {"2024-05-01": cohort(3, 2, 0)}  # any event
    got = answer(writer, born_event="Sign Up", event="App Open", **day)
    assert got == {"2024-05-01": cohort(1, 1, 0)}  # a different event at the birth ms


# -- compounded ---------------------------------------------------------------------


def test_compounded_puts_a_user_in_every_bucket_they_did_the_event(
    writer: ProjectWriter,
) -> None:
    """born_event is ignored. a's cohorts are anchored at 05-01 10:00, 05-02 09:00 and
    05-03 10:00; b's second purchase of 05-02 is a return in bucket 0."""
    given(
        writer,
        {
            "a": [
                track("2024-05-01 10:00", "Purchase", device=D1),
                track("2024-05-02 09:00", "Purchase", device=D1, first=True),
                track("2024-05-03 10:00", "Purchase", device=D1),
            ],
            "b": [
                track("2024-05-02 12:00", "Purchase", device=D2),
                track("2024-05-02 13:00", "Purchase", device=D2),
            ],
        },
    )
    may = {"retention_type": "compounded", "event": "Purchase", "to_date": "2024-05-03"}
    assert answer(writer, **may, interval_count=2) == {
        "2024-05-01": cohort(1, 1, 0, 1),
        "2024-05-02": cohort(2, 1, 1, 0),
        "2024-05-03": cohort(1, 0, 0, 0),
    }
    marked = 'properties["first"] == true'  # born_where filters the cohort occurrences
    assert answer(writer, **may, born_where=marked) == {
        "2024-05-01": cohort(0, 0, 0),
        "2024-05-02": cohort(1, 0, 1),
        "2024-05-03": cohort(0, 0, 0),
    }


def test_compounded_weeks_and_months_anchor_each_cohort_at_its_first_event(
    writer: ProjectWriter,
) -> None:
    """By week: a is in the cohorts of May 6, 13 and 20, anchored at May 8 10:00,
    May 15 10:00 and May 22 09:59; May 22 09:59 is bucket 1 of the first (13 days 23
    hours after) and bucket 0 of the second. By month (30 days): anchored at May 20
    and June 19 10:00, June 25 is bucket 1 of May's cohort and bucket 0 of June's."""
    given(
        writer,
        {
            "a": [
                track("2024-05-08 10:00", "Purchase", device=D1),
                track("2024-05-15 10:00", "Purchase", device=D1),
                track("2024-05-22 09:59", "Purchase", device=D1),
            ],
            "b": [
                track("2024-05-20 10:00", "Sign Up", device=D2),
                track("2024-06-19 10:00", "Sign Up", device=D2),
                track("2024-06-25 10:00", "Sign Up", device=D2),
            ],
        },
    )
    weeks = {"unit": "week", "from_date": "2024-05-06", "to_date": "2024-05-22"}
    compounded = {"retention_type": "compounded", "interval_count": 2}
    assert answer(writer, event="Purchase", **weeks, **compounded) == {
        "2024-05-06": cohort(1, 0, 1, 0),
        "2024-05-13": cohort(1, 1, 0, 0),
        "2024-05-20": cohort(1, 0, 0, 0),
    }
    months = {"unit": "month", "from_date": "2024-05-01", "to_date": "2024-06-30"}
    assert answer(writer, event="Sign Up", **months, **compounded) == {
        "2024-05-01": cohort(1, 0, 1, 0),
        "2024-06-01": cohort(1, 1, 0, 0),
    }


# -- resolved ids -------------------------------------------------------------------


def test_a_login_re_attributes_returns_to_the_anonymous_birth(project_writer: Make) -> None:
    """A device born anonymously logs in as alice the next day: alice's later opens
    are that device's returns (one user, born 05-01). Splitting the login gives the
    device and alice back their own births."""
    writer = project_writer(Mode.SIMPLIFIED)
    events = journeys(
        Mode.SIMPLIFIED,
        {
            "alice": [
                track("2024-05-01 10:00", "App Open", device=D1),
                track("2024-05-02 11:00", "App Open", device=D1, user="alice"),  # the login
                track("2024-05-03 11:00", "App Open", user="alice"),
            ]
        },
    )
    ingest(writer, events[:1])
    days = {"interval_count": 2}
    assert answer(writer, **days) == {
        "2024-05-01": cohort(1, 0, 0, 0),
        "2024-05-02": cohort(0, 0, 0, 0),
    }
    ingest(writer, events[1:])
    assert answer(writer, **days) == {
        "2024-05-01": cohort(1, 0, 1, 1),
        "2024-05-02": cohort(0, 0, 0, 0),
    }
    writer.split(time=ms("2024-05-04 00:00"), insert_id="alice-1")
    assert answer(writer, **days) == {
        "2024-05-01": cohort(1, 0, 0, 0),
        "2024-05-02": cohort(1, 0, 1, 0),
    }


def test_legacy_does_not_re_attribute(project_writer: Make) -> None:
    """alice's App Open sent before the alias stays alice's: she and the device are
    two users; the open sent as alice after it is stored as the device's return."""
    writer = project_writer(Mode.LEGACY)
    given(
        writer,
        {
            "alice": [
                track("2024-05-01 09:00", "App Open", user="alice"),
                track("2024-05-01 12:00", "App Open", device=D1),
                alias("2024-05-01 13:00", "alice", D1),
                track("2024-05-02 11:00", "App Open", user="alice"),
            ]
        },
    )
    assert answer(writer, to_date="2024-05-01") == {"2024-05-01": cohort(2, 1, 0)}


# -- parameters and SQL -------------------------------------------------------------


@pytest.mark.parametrize(
    "params, message",
    [
        ({"on": 'properties["$os"]'}, "on is not supported"),
        ({"limit": "10"}, "limit is not supported"),
        ({"born_event": ""}, "born_event is required"),
        ({"retention_type": "first"}, "retention_type must be one of"),
        ({"unit": "hour"}, "unit must be one of"),
        ({"interval": "91"}, "interval must be between 1 and 90"),
        ({"unit": "week", "interval": "14"}, "interval must be between 1 and 13"),
        ({"unit": "month", "interval": "4"}, "interval must be between 1 and 3"),
        ({"interval_count": "0"}, "interval_count must be between"),
        ({"interval_count": "367"}, "interval_count must be between"),
        ({"unbounded_retention": "maybe"}, "unbounded_retention"),
        ({"to_date": "2024-04-30"}, "is before from_date"),
    ],
)
def test_bad_parameters_are_400s(params: dict[str, str], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        RetentionSpec.from_params({**MAY_1_2, "born_event": "App Open", **params})


@pytest.mark.parametrize("name", ["born_where", "where"])
def test_a_bad_expression_is_a_400_naming_its_parameter(writer: ProjectWriter, name: str) -> None:
    spec = RetentionSpec.from_params({**MAY_1_2, "born_event": "App Open", name: "1 +"})
    with pytest.raises(BadRequest, match=name):
        retention_sql(writer.project, spec)


def test_a_spec_built_by_hand_is_checked_too() -> None:
    may = Buckets(dt.date(2024, 5, 1), dt.date(2024, 5, 2))
    with pytest.raises(BadRequest, match="interval must be between 1 and 90"):
        RetentionSpec(may, born_event="App Open", interval=91)
    with pytest.raises(BadRequest, match="born_event is required"):
        RetentionSpec(may)


def test_compounded_needs_no_born_event() -> None:
    spec = RetentionSpec.from_params({**MAY_1_2, "retention_type": "compounded", "born_event": "X"})
    assert spec.born_event is None and spec.event is None


def test_sql_snapshots(writer: ProjectWriter) -> None:
    birth = RetentionSpec.from_params(
        {
            **MAY_1_2,
            "born_event": "Sign Up",
            "event": "Purchase",
            "born_where": 'properties["$os"] == "iOS"',
            "where": 'properties["plan"] == "pro"',
            "interval_count": "7",
        }
    )
    assert_snapshot("retention_birth", retention_sql(writer.project, birth)[0])
    compounded = RetentionSpec.from_params(
        {**MAY_1_2, "retention_type": "compounded", "event": "App Open", "unit": "week"}
    )
    assert_snapshot("retention_compounded", retention_sql(writer.project, compounded)[0])
