"""Funnels on resolved ids: every counting rule of ``query/funnels.py``, each run with
the server's clock in three time zones (the ``project_writer`` fixture), over a real
DuckDB file, plus snapshots of the SQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from idmerge.errors import BadRequest, NotFound
from idmerge.identity import Mode
from idmerge.ingest import ProjectWriter
from idmerge.projects import Project
from idmerge.query import identity as tools
from idmerge.query.buckets import Buckets, Unit
from idmerge.query.funnels import (
    FunnelSpec,
    FunnelStep,
    funnel,
    funnel_of,
    funnel_sql,
    save_funnel,
)
from idmerge.storage.memory import MemoryStore
from journeys import Step, alias, device_id, identify, ingest, journeys, ms, track
from snapshots import assert_snapshot

D1, D2, D3 = device_id(1), device_id(2), device_id(3)
MAY_1 = dt.date(2024, 5, 1)
HOUR = 3_600_000
DAY = 24 * HOUR
Make = Callable[[Mode], ProjectWriter]


def spec(
    *steps: str | FunnelStep,
    start: dt.date = MAY_1,
    end: dt.date = MAY_1,
    length_ms: int = 7 * DAY,
    unit: Unit = Unit.DAY,
    **more: Any,
) -> FunnelSpec:
    return FunnelSpec(
        tuple(s if isinstance(s, FunnelStep) else FunnelStep(s) for s in steps),
        Buckets(start, end, unit),
        length_ms,
        **more,
    )


def run(
    make: Make, people: dict[str, Sequence[Step]], mode: Mode = Mode.SIMPLIFIED
) -> ProjectWriter:
    writer = make(mode)
    ingest(writer, journeys(mode, people))
    return writer


def counts(writer: ProjectWriter, funnel_spec: FunnelSpec, date: str = "2024-05-01") -> list[int]:
    answer = funnel(writer.store, writer.project, funnel_spec)
    return [step["count"] for step in answer["data"][date]["steps"]]


def test_steps_in_order_with_other_events_between(project_writer: Make) -> None:
    writer = run(
        project_writer,
        {
            "ann": [
                track("2024-05-01 10:00", "A", device=D1),
                track("2024-05-01 10:01", "X", device=D1),
                track("2024-05-01 10:02", "B", device=D1),
                track("2024-05-01 10:03", "A", device=D1),  # a repeat in between
                track("2024-05-01 10:04", "C", device=D1),
            ],
            "bob": [
                track("2024-05-01 11:00", "A", device=D2),
                track("2024-05-01 11:05", "B", device=D2),
            ],
            "cat": [track("2024-05-01 12:00", "B", device=D3)],  # never entered
        },
    )
    day = funnel(writer.store, writer.project, spec("A", "B", "C"))["data"]["2024-05-01"]
    assert [step["count"] for step in day["steps"]] == [2, 2, 1]
    assert day["analysis"]["worst"] == 2  # the drop from B to C: 1.0, then 0.5


def test_reference_examples_of_order(project_writer: Make) -> None:
    # A->B->D->C->D->E converts A,B,C,D,E? No: the funnel is A,B,C,D,E and the D
    # after C counts; A->B->C->E stops after C.
    writer = run(
        project_writer,
        {
            "ann": [
                track(f"2024-05-01 10:0{n}", name, device=D1)
                for n, name in enumerate(["A", "B", "D", "C", "D", "E"])
            ],
            "bob": [
                track(f"2024-05-01 11:0{n}", name, device=D2)
                for n, name in enumerate(["A", "B", "C", "E"])
            ],
        },
    )
    assert counts(writer, spec("A", "B", "C", "D", "E")) == [2, 2, 2, 1, 1]


def test_window_counts_from_the_step_1_event_that_started_the_attempt(project_writer: Make) -> None:
    # The reference's example: A 13:00, A 13:30, B 13:45, C 14:15, a 1-hour window.
    writer = run(
        project_writer,
        {
            "ann": [
                track("2024-05-01 13:00", "A", device=D1),
                track("2024-05-01 13:30", "A", device=D1),
                track("2024-05-01 13:45", "B", device=D1),
                track("2024-05-01 14:15", "C", device=D1),
            ]
        },
    )
    assert counts(writer, spec("A", "B", "C", length_ms=HOUR)) == [1, 1, 0]
    assert counts(writer, spec("A", "B", "C", length_ms=HOUR + 15 * 60_000)) == [1, 1, 1]


def test_the_window_end_is_inclusive(project_writer: Make) -> None:
    writer = run(
        project_writer,
        {
            "ann": [
                track("2024-05-01 10:00", "A", device=D1),
                track("2024-05-01 11:00", "B", device=D1),
            ]
        },
    )
    assert counts(writer, spec("A", "B", length_ms=HOUR)) == [1, 1]
    assert counts(writer, spec("A", "B", length_ms=HOUR - 1)) == [1, 0]


def test_completions_after_to_date_count_within_the_window(project_writer: Make) -> None:
    writer = run(
        project_writer,
        {
            "ann": [
                track("2024-05-01 23:00", "A", device=D1),
                track("2024-05-03 09:00", "B", device=D1),
            ]
        },
    )
    assert counts(writer, spec("A", "B")) == [1, 1]


def test_two_second_grace_between_consecutive_steps(project_writer: Make) -> None:
    writer = run(
        project_writer,
        {
            "within": [
                track("2024-05-01 10:00:02", "A", device=D1),
                track("2024-05-01 10:00:00", "B", device=D1),  # 2 s before A
            ],
            "outside": [
                track("2024-05-01 11:00:03", "A", device=D2),
                track("2024-05-01 11:00:00", "B", device=D2),  # 3 s before A
            ],
        },
    )
    assert counts(writer, spec("A", "B")) == [2, 1]


def test_a_user_enters_once_per_day_at_the_first_step_1_event(project_writer: Make) -> None:
    writer = run(
        project_writer,
        {
            "ann": [
                track("2024-05-01 09:00", "A", device=D1),  # the entry: fails in 1 hour
                track("2024-05-01 15:00", "A", device=D1),  # no second chance that day
                track("2024-05-01 15:10", "B", device=D1),
                track("2024-05-02 08:00", "A", device=D1),  # a new day, a new entry
                track("2024-05-02 08:10", "B", device=D1),
            ]
        },
    )
    answer = funnel(
        writer.store, writer.project, spec("A", "B", end=dt.date(2024, 5, 2), length_ms=HOUR)
    )
    assert answer["meta"]["dates"] == ["2024-05-01", "2024-05-02"]
    assert [s["count"] for s in answer["data"]["2024-05-01"]["steps"]] == [1, 0]
    assert [s["count"] for s in answer["data"]["2024-05-02"]["steps"]] == [1, 1]


def test_entry_days_are_utc_days_whatever_the_server_zone(
    project_writer: Make, server_tz: str
) -> None:
    writer = run(
        project_writer,
        {
            "late": [
                track("2024-05-01 23:59:59", "A", device=D1),
                track("2024-05-02 00:00:30", "B", device=D1),
            ],
            "early": [track("2024-05-02 00:00:00", "A", device=D2)],
        },
    )
    answer = funnel(writer.store, writer.project, spec("A", "B", end=dt.date(2024, 5, 2)))
    assert [s["count"] for s in answer["data"]["2024-05-01"]["steps"]] == [1, 1]
    assert [s["count"] for s in answer["data"]["2024-05-02"]["steps"]] == [1, 0]


def test_weekly_and_monthly_buckets(project_writer: Make) -> None:
    writer = run(
        project_writer,
        {
            "ann": [
                track("2024-05-06 10:00", "A", device=D1),
                track("2024-05-07 10:00", "A", device=D1),
            ],
            "bob": [
                track("2024-05-31 10:00", "A", device=D2),
                track("2024-06-01 10:00", "A", device=D2),
            ],
        },
    )
    weekly = funnel(
        writer.store,
        writer.project,
        spec("A", "B", start=dt.date(2024, 5, 6), end=dt.date(2024, 6, 2), unit=Unit.WEEK),
    )
    assert weekly["meta"]["dates"] == ["2024-05-06", "2024-05-13", "2024-05-20", "2024-05-27"]
    firsts = {date: day["steps"][0]["count"] for date, day in weekly["data"].items()}
    assert firsts == {
        "2024-05-06": 1,
        "2024-05-13": 0,
        "2024-05-20": 0,
        "2024-05-27": 1,
    }  # once a week
    monthly = funnel(
        writer.store,
        writer.project,
        spec("A", "B", start=dt.date(2024, 5, 1), end=dt.date(2024, 6, 30), unit=Unit.MONTH),
    )
    assert {d: v["steps"][0]["count"] for d, v in monthly["data"].items()} == {
        "2024-05-01": 2,
        "2024-06-01": 1,
    }


def test_times_ratios_and_analysis(project_writer: Make) -> None:
    writer = run(
        project_writer,
        {
            "ann": [
                track("2024-05-01 10:00", "A", device=D1),
                track("2024-05-01 10:01", "B", device=D1),
                track("2024-05-01 10:03", "C", device=D1),
            ],
            "bob": [
                track("2024-05-01 11:00", "A", device=D2),
                track("2024-05-01 11:03", "B", device=D2),
            ],
            "cat": [track("2024-05-01 12:00", "A", device=D3)],
            "dan": [track("2024-05-01 13:00", "A", device=device_id(4))],
        },
    )
    day = funnel(writer.store, writer.project, spec("A", "B", "C"))["data"]["2024-05-01"]
    first, second, third = day["steps"]
    assert first == {
        "count": 4,
        "avg_time": None,
        "avg_time_from_start": None,
        "step_conv_ratio": 1.0,
        "overall_conv_ratio": 1.0,
        "goal": "A",
        "event": "A",
    }
    assert (second["count"], second["avg_time"], second["avg_time_from_start"]) == (2, 120.0, 120.0)
    assert (second["step_conv_ratio"], second["overall_conv_ratio"]) == (0.5, 0.5)
    assert (third["count"], third["avg_time"], third["avg_time_from_start"]) == (1, 120.0, 180.0)
    assert (third["step_conv_ratio"], third["overall_conv_ratio"]) == (0.5, 0.25)
    assert day["analysis"] == {"completion": 1, "starting_amount": 4, "steps": 3, "worst": 1}


def test_a_day_without_entries_has_zero_counts_and_no_times(project_writer: Make) -> None:
    writer = run(project_writer, {"ann": [track("2024-05-02 10:00", "A", device=D1)]})
    day = funnel(writer.store, writer.project, spec("A", "B"))["data"]["2024-05-01"]
    assert [(s["count"], s["avg_time"], s["step_conv_ratio"]) for s in day["steps"]] == [
        (0, None, 1.0),
        (0, None, 0.0),
    ]


def test_where_filters_every_step_and_a_step_where_its_own(project_writer: Make) -> None:
    writer = run(
        project_writer,
        {
            "ann": [
                track("2024-05-01 10:00", "A", device=D1, plan="pro"),
                track("2024-05-01 10:01", "B", device=D1, plan="pro", price=5),
                track("2024-05-01 10:02", "B", device=D1, plan="pro", price=50),
            ],
            "bob": [
                track("2024-05-01 11:00", "A", device=D2, plan="free"),
                track("2024-05-01 11:01", "B", device=D2, plan="free", price=50),
            ],
        },
    )
    pro = 'properties["plan"] == "pro"'
    assert counts(writer, spec("A", "B", where=pro)) == [1, 1]
    big = FunnelStep("B", 'properties["price"] > 10')
    answer = funnel(writer.store, writer.project, spec("A", big))["data"]["2024-05-01"]["steps"]
    assert [s["count"] for s in answer] == [2, 2]
    assert (
        answer[1]["avg_time"] == 90.0
    )  # ann's B at 10:02 (the 10:01 one is too cheap), bob's at 11:01


def test_on_segments_by_the_entering_event_with_an_overall_row(project_writer: Make) -> None:
    writer = run(
        project_writer,
        {
            "ann": [
                track("2024-05-01 10:00", "A", device=D1, os="ios"),
                track("2024-05-01 10:05", "A", device=D1, os="android"),  # enters android too
                track("2024-05-01 10:06", "B", device=D1, os="web"),
            ],
            "bob": [track("2024-05-01 11:00", "A", device=D2, os="ios")],
            "cat": [
                track("2024-05-01 12:00", "A", device=D3),
                track("2024-05-01 12:01", "B", device=D3),
            ],
        },
    )
    answer = funnel(writer.store, writer.project, spec("A", "B", on='properties["os"]'))
    day = answer["data"]["2024-05-01"]
    assert list(day) == ["$overall", "ios", "android", "undefined"]
    assert [s["count"] for s in day["$overall"]] == [3, 2]
    assert [s["count"] for s in day["ios"]] == [2, 1]
    assert [s["count"] for s in day["android"]] == [1, 1]
    assert [s["count"] for s in day["undefined"]] == [1, 1]
    limited = funnel(writer.store, writer.project, spec("A", "B", on='properties["os"]', limit=1))
    assert list(limited["data"]["2024-05-01"]) == ["$overall", "ios"]


def test_on_a_user_enters_each_segment_once_per_day(project_writer: Make) -> None:
    """A second step-1 event of the same segment is no second entry, even when only
    it could convert (as without ``on``)."""
    writer = run(
        project_writer,
        {
            "dan": [
                track("2024-05-01 10:00", "A", device=D1, os="ios"),
                track("2024-05-01 10:30", "A", device=D1, os="ios"),
                track("2024-05-01 10:31", "B", device=D1),
            ]
        },
    )
    day = funnel(writer.store, writer.project, spec("A", "B", on='properties["os"]'))
    segments = day["data"]["2024-05-01"]
    assert {key: [s["count"] for s in steps] for key, steps in segments.items()} == {
        "$overall": [1, 1],
        "ios": [1, 1],
    }
    short = spec("A", "B", on='properties["os"]', length_ms=60_000)  # from 10:00 only
    segments = funnel(writer.store, writer.project, short)["data"]["2024-05-01"]
    assert [s["count"] for s in segments["ios"]] == [1, 0]


def test_a_retry_with_other_properties_is_read_as_the_last_stored(project_writer: Make) -> None:
    """A retry (same name, id, time and ``$insert_id``) whose properties changed is one
    occurrence, read as the last one stored, by ``on`` and every ``where``."""
    retried = [
        track("2024-05-01 10:00", "A", device=D1, insert_id="r", os="ios"),
        track("2024-05-01 10:00", "A", device=D1, insert_id="r", os="android"),
        track("2024-05-01 10:01", "B", device=D1),
    ]
    writer = run(project_writer, {"ann": retried})
    on_os = funnel(writer.store, writer.project, spec("A", "B", on='properties["os"]'))
    segments = on_os["data"]["2024-05-01"]
    assert {key: [s["count"] for s in steps] for key, steps in segments.items()} == {
        "$overall": [1, 1],
        "android": [1, 1],
    }
    ios = 'properties["os"] == "ios"'
    assert counts(writer, spec("A", "B", where=ios)) == [0, 0]
    assert counts(writer, spec(FunnelStep("A", where=ios), "B")) == [0, 0]
    android = FunnelStep("A", where='properties["os"] == "android"')
    assert counts(writer, spec(android, "B")) == [1, 1]


def test_a_repeated_event_needs_two_occurrences_and_a_retry_is_one(project_writer: Make) -> None:
    writer = run(
        project_writer,
        {
            "twice": [
                track("2024-05-01 10:00", "A", device=D1),
                track("2024-05-01 10:05", "A", device=D1),
            ],
            "once": [track("2024-05-01 11:00", "A", device=D2)],
            "retried": [
                track("2024-05-01 12:00", "A", device=D3, insert_id="r-1"),
                track("2024-05-01 12:00", "A", device=D3, insert_id="r-1"),
            ],
        },
    )
    assert counts(writer, spec("A", "A")) == [3, 1]
    assert counts(writer, spec("A", "B", "A")) == [3, 0, 0]


def test_duplicates_do_not_inflate_times(project_writer: Make) -> None:
    writer = run(
        project_writer,
        {
            "ann": [
                track("2024-05-01 10:00", "A", device=D1),
                track("2024-05-01 10:02", "B", device=D1, insert_id="b"),
                track("2024-05-01 10:02", "B", device=D1, insert_id="b"),
            ]
        },
    )
    steps = funnel(writer.store, writer.project, spec("A", "B"))["data"]["2024-05-01"]["steps"]
    assert [(s["count"], s["avg_time"]) for s in steps] == [(1, None), (1, 120.0)]


def anonymous_then_login() -> dict[str, list[Step]]:
    return {
        "ann": [
            track("2024-05-01 10:00", "A", device=D1),
            track("2024-05-01 10:30", "B", user="ann", device=D1),  # the login
            track("2024-05-01 11:00", "C", user="ann"),  # on another device
        ]
    }


def test_retroactive_a_login_joins_the_anonymous_start_and_a_split_undoes_it(
    project_writer: Make,
) -> None:
    writer = project_writer(Mode.SIMPLIFIED)
    ingest(writer, journeys(Mode.SIMPLIFIED, anonymous_then_login()))
    assert counts(writer, spec("A", "C")) == [1, 1]
    tools.split(writer, now_ms=ms("2024-05-02 00:00"), insert_id="ann-1")
    assert counts(writer, spec("A", "C")) == [1, 0]


def test_retroactive_a_link_made_later_converts_last_weeks_funnel(project_writer: Make) -> None:
    writer = project_writer(Mode.ORIGINAL)
    anon = f"$device:{D1}"
    ingest(
        writer,
        journeys(
            Mode.ORIGINAL,
            {
                "ann": [
                    track("2024-05-01 10:00", "A", distinct_id=anon),
                    track("2024-05-01 11:00", "C", distinct_id="ann"),
                ]
            },
        ),
    )
    assert counts(writer, spec("A", "C")) == [1, 0]
    ingest(writer, journeys(Mode.ORIGINAL, {"ann": [identify("2024-05-08 09:00", anon, "ann")]}))
    assert counts(writer, spec("A", "C")) == [1, 1]


def test_legacy_does_not_reattribute(project_writer: Make) -> None:
    writer = project_writer(Mode.LEGACY)
    steps = {
        "ann": [
            track("2024-05-01 10:00", "A", distinct_id=D1),
            track("2024-05-01 11:00", "C", distinct_id="ann"),  # before the alias exists
            alias("2024-05-01 12:00", "ann", D1),
            track("2024-05-01 13:00", "D", distinct_id="ann"),  # after: stored as D1
        ]
    }
    ingest(writer, journeys(Mode.LEGACY, steps))
    assert counts(writer, spec("A", "C")) == [1, 0]
    assert counts(writer, spec("A", "D")) == [1, 1]


def test_saved_funnels_by_id_with_length_overridden(project_writer: Make) -> None:
    writer = run(
        project_writer,
        {
            "ann": [
                track("2024-05-01 10:00", "A", device=D1),
                track("2024-05-01 12:00", "B", device=D1),
            ]
        },
    )
    store, project = writer.store, writer.project
    saved = save_funnel(
        store,
        project,
        {"name": "signup", "steps": '["A", "B"]', "length": "1", "length_unit": "hour"},
        5,
    )
    assert saved["steps"] == [{"event": "A", "where": None}, {"event": "B", "where": None}]
    params = {
        "funnel_id": str(saved["funnel_id"]),
        "from_date": "2024-05-01",
        "to_date": "2024-05-01",
    }
    assert counts(writer, funnel_of(store, project, params)) == [1, 0]
    assert counts(writer, funnel_of(store, project, params | {"length": "3"})) == [1, 1]
    with pytest.raises(NotFound, match="funnel_id 999"):
        funnel_of(store, project, params | {"funnel_id": "999"})
    other = Project(project.id + 1, "other", "t", "s", Mode.SIMPLIFIED, 0)
    with pytest.raises(NotFound):  # another project's funnel is not this one's
        funnel_of(store, other, params)
    # steps the store holds that no longer read (a damaged file) are a clear refusal
    broken = store.save_funnel(project.id, "broken", "not json", 1, "day", 5)
    with pytest.raises(BadRequest, match="steps is not valid JSON"):
        funnel_of(store, project, params | {"funnel_id": str(broken.funnel_id)})


def test_ad_hoc_funnel_from_params(project_writer: Make) -> None:
    writer = run(
        project_writer,
        {
            "ann": [
                track("2024-05-01 10:00", "A", device=D1),
                track("2024-05-01 10:30", "B", device=D1),
            ]
        },
    )
    params = {
        "steps": [{"event": "A"}, {"event": "B", "where": 'not defined(properties["x"])'}],
        "from_date": "2024-05-01",
        "to_date": "2024-05-01",
        "length": 31,
        "length_unit": "minute",
    }
    assert counts(writer, funnel_of(writer.store, writer.project, params)) == [1, 1]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "funnel_id is required"),
        ({"steps": ""}, "funnel_id is required"),
        ({"steps": '["A"]'}, "2 to 20 steps"),
        ({"steps": "[1, 2]"}, 'step 1 must be an object with an "event"'),
        ({"steps": "[{"}, "steps is not valid JSON"),
        ({"steps": '[{"event": "A", "extra": 1}, "B"]'}, "unknown field"),
        ({"steps": '["A", "B"]', "length": "91"}, "at most 90 days"),
        ({"steps": '["A", "B"]', "length_unit": "year"}, "length_unit must be one of"),
        ({"steps": '["A", "B"]', "unit": "hour"}, "unit must be one of day, week, month"),
        ({"steps": '["A", {"event": "B", "where": "1 +"}]'}, "step 2's where"),
        ({"steps": '["A", "B"]', "funnel_id": "1"}, "not both"),
    ],
)
def test_bad_funnels_are_refused_with_the_reason(params: dict[str, Any], message: str) -> None:
    project = Project(1, "p", "t", "s", Mode.SIMPLIFIED, 0)
    with pytest.raises(BadRequest, match=message):
        funnel_of(
            MemoryStore(), project, {"from_date": "2024-05-01", "to_date": "2024-05-02"} | params
        )


PROJECT = Project(7, "p", "t", "s", Mode.SIMPLIFIED, 0)


def test_sql_snapshot_plain() -> None:
    sql, values = funnel_sql(PROJECT, spec("App Open", "View Item", "Purchase"))
    assert_snapshot("funnel_plain", sql)
    assert values == {
        "project": 7,
        "lo": ms("2024-05-01 00:00") - 4_000,
        "hi": ms("2024-05-02 00:00") + 7 * DAY,
        "start": ms("2024-05-01 00:00"),
        "end": ms("2024-05-02 00:00"),
        "length": 7 * DAY,
    }


def test_sql_snapshot_segmented_with_filters_and_a_repeated_step() -> None:
    steps = ("A", FunnelStep("B", 'properties["price"] > 10'), "A")
    sql, _ = funnel_sql(
        PROJECT,
        spec(*steps, on='properties["os"]', where='properties["plan"] == "pro"', unit=Unit.WEEK),
    )
    assert_snapshot("funnel_segmented", sql)


def test_legacy_sql_reads_ids_as_stored() -> None:
    legacy = Project(7, "p", "t", "s", Mode.LEGACY, 0)
    sql, _ = funnel_sql(legacy, spec("A", "B"))
    assert "identity_mapping" not in sql
