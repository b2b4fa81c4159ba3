"""``query funnel|retention|segmentation`` and ``funnels save|list|delete`` on a real
DuckDB data directory, run as a user runs them: tables, ``--json`` equal to the
library's (and so the HTTP API's) answer, and errors."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner, Result

from clirun import Run, holding, invoker, ok, one_line_error, one_project_dir
from idmerge.cli.main import cli
from idmerge.identity import Mode
from idmerge.query.funnels import funnel, funnel_of
from idmerge.query.retention import RetentionSpec, retention
from idmerge.query.segmentation import SegmentationSpec, segmentation
from idmerge.storage.duckdb import open_store
from journeys import device_id, journeys, track

D1, D2, D3 = device_id(1), device_id(2), device_id(3)
MAY_1_3 = ("--from", "2024-05-01", "--to", "2024-05-03")
STEPS = ("--step", "App Open", "--step", "Purchase")
ON_PLATFORM = ("--on", 'properties["platform"]')


def shop_events() -> list[Any]:
    """Alice opens the app and buys at once (logging in as she buys), and comes back
    two days later; Bob opens it, then again the next day and buys half an hour later;
    Carol opens it once."""
    return journeys(
        Mode.SIMPLIFIED,
        {
            "alice": [
                track("2024-05-01 10:00", "App Open", device=D1, platform="ios"),
                track("2024-05-01 10:05", "Purchase", device=D1, user="alice", price=30),
                track("2024-05-03 10:30", "App Open", user="alice", platform="ios"),
            ],
            "bob": [
                track("2024-05-01 11:00", "App Open", device=D2, platform="android"),
                track("2024-05-02 09:00", "App Open", device=D2, platform="android"),
                track("2024-05-02 09:30", "Purchase", device=D2, price=5),
            ],
            "carol": [track("2024-05-02 12:00", "App Open", device=D3, platform="ios")],
        },
    )


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return one_project_dir(tmp_path / "data", events=shop_events())


@pytest.fixture
def run(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    return invoker(data_dir, monkeypatch)


def table(result: Result) -> list[list[str]]:
    """The table's cells: columns are two or more spaces apart."""
    return [re.split(r" {2,}", line) for line in ok(result).stdout.splitlines()]


def answer(result: Result) -> Any:
    return msgspec.json.decode(ok(result).stdout)


def library(data_dir: Path, report: Callable[..., dict[str, Any]], params: dict[str, Any]) -> Any:
    """What the library (the HTTP endpoint's function) answers for ``params``."""
    store = open_store(data_dir)
    try:
        return report(store, store.projects()[0], params)
    finally:
        store.close()


def funnel_report(store: Any, project: Any, params: dict[str, Any]) -> dict[str, Any]:
    return funnel(store, project, funnel_of(store, project, params))


def retention_report(store: Any, project: Any, params: dict[str, Any]) -> dict[str, Any]:
    return retention(store, project, RetentionSpec.from_params(params))


def segmentation_report(store: Any, project: Any, params: dict[str, Any]) -> dict[str, Any]:
    return segmentation(store, project, SegmentationSpec.from_params(params))


DATES = {"from_date": "2024-05-01", "to_date": "2024-05-03"}


# -- funnel ----------------------------------------------------------------------------


def test_funnel_table_per_day_with_a_total(run: Run) -> None:
    """Within an hour: Alice converts on the 1st, Bob on the 2nd (his first attempt,
    on the 1st, does not); each step's share of the one before, and the total."""
    found = table(
        run("query", "funnel", *MAY_1_3, *STEPS, "--length", "1", "--length-unit", "hour")
    )
    assert found == [
        ["DATE", "1. App Open", "2. Purchase", "CONVERSION"],
        ["2024-05-01", "2", "1 (50.0%)", "50.0%"],
        ["2024-05-02", "2", "1 (50.0%)", "50.0%"],
        ["2024-05-03", "1", "0 (0.0%)", "0.0%"],
        ["TOTAL", "5", "2 (40.0%)", "40.0%"],
    ]


def test_funnel_json_is_the_library_answer(run: Run, data_dir: Path) -> None:
    args = ("--length", "1", "--length-unit", "hour", "--where", 'properties["price"] != 5')
    found = answer(run("query", "funnel", *MAY_1_3, *STEPS, *args, "--json"))
    steps = [{"event": "App Open", "where": None}, {"event": "Purchase", "where": None}]
    params = {**DATES, "steps": steps, "length": "1", "length_unit": "hour"}
    expected = library(data_dir, funnel_report, {**params, "where": 'properties["price"] != 5'})
    assert found == expected
    assert [s["count"] for s in found["data"]["2024-05-02"]["steps"]] == [2, 0]


def test_funnel_segments_with_on(run: Run, data_dir: Path) -> None:
    """A row per date and segment (a segment nobody entered that day is left out), and
    a total per segment."""
    found = table(run("query", "funnel", *MAY_1_3, *STEPS, *ON_PLATFORM))
    assert found[0] == ["DATE", "SEGMENT", "1. App Open", "2. Purchase", "CONVERSION"]
    assert ["2024-05-03", "$overall", "1", "0 (0.0%)", "0.0%"] in found
    assert not any(row[:2] == ["2024-05-03", "android"] for row in found)
    assert found[-3:] == [
        ["TOTAL", "$overall", "5", "3 (60.0%)", "60.0%"],
        ["TOTAL", "ios", "3", "1 (33.3%)", "33.3%"],
        ["TOTAL", "android", "2", "2 (100.0%)", "100.0%"],
    ]
    as_json = answer(run("query", "funnel", *MAY_1_3, *STEPS, *ON_PLATFORM, "--json"))
    params = {**DATES, "steps": ["App Open", "Purchase"], "on": ON_PLATFORM[1]}
    assert as_json == library(data_dir, funnel_report, params)


def test_funnel_step_where_filters_one_step(run: Run) -> None:
    """Only Alice's purchase is over 10."""
    where = ("--step-where", "2", 'properties["price"] > 10')
    found = table(run("query", "funnel", *MAY_1_3, *STEPS, *where, "--unit", "month"))
    assert found == [
        ["DATE", "1. App Open", "2. Purchase", "CONVERSION"],
        ["2024-05-01", "3", "1 (33.3%)", "33.3%"],
    ]


def test_saved_funnels_save_list_query_and_delete(run: Run, data_dir: Path) -> None:
    where = ("--step-where", "2", 'properties["price"] > 10')
    saved = answer(run("funnels", "save", "big buys", *STEPS, *where, "--length", "2", "--json"))
    assert saved["name"] == "big buys"
    assert saved["steps"] == [
        {"event": "App Open", "where": None},
        {"event": "Purchase", "where": 'properties["price"] > 10'},
    ]
    assert (saved["length"], saved["length_unit"]) == (2, "day")
    funnel_id = str(saved["funnel_id"])
    assert answer(run("funnels", "list", "--json")) == [saved]
    listed = table(run("funnels", "list"))
    assert listed[0] == ["FUNNEL_ID", "NAME", "STEPS", "LENGTH", "CREATED (UTC)"]
    assert listed[1][:4] == [
        funnel_id,
        "big buys",
        'App Open > Purchase [properties["price"] > 10]',
        "2 days",
    ]

    by_id = ("query", "funnel", *MAY_1_3, "--funnel-id", funnel_id, "--unit", "month")
    assert table(run(*by_id))[1] == ["2024-05-01", "3", "1 (33.3%)", "33.3%"]
    params = {**DATES, "funnel_id": funnel_id, "unit": "month"}
    assert answer(run(*by_id, "--json")) == library(data_dir, funnel_report, params)

    assert ok(run("funnels", "delete", funnel_id)).stdout == f"deleted funnel {funnel_id}\n"
    assert answer(run("funnels", "list", "--json")) == []
    assert "no saved funnels" in ok(run("funnels", "list")).stdout
    one_line_error(run(*by_id), f"this project has no funnel with funnel_id {funnel_id}")
    one_line_error(
        run("funnels", "delete", funnel_id),
        f"this project has no funnel with funnel_id {funnel_id}",
    )


def test_funnels_delete_json(run: Run) -> None:
    saved = answer(run("funnels", "save", "f", *STEPS, "--json"))
    deleted = answer(run("funnels", "delete", str(saved["funnel_id"]), "--json"))
    assert deleted == {"status": "ok", "deleted": saved["funnel_id"]}


# -- retention -------------------------------------------------------------------------


def test_retention_table(run: Run) -> None:
    """Born on the 1st: Bob is back within a day, Alice two days later; Carol, born on
    the 2nd, never; nobody is born on the 3rd."""
    args = ("--born-event", "App Open", "--event", "App Open", "--buckets", "2")
    assert table(run("query", "retention", *MAY_1_3, *args)) == [
        ["COHORT", "FIRST", "DAY 0", "DAY 1", "DAY 2"],
        ["2024-05-01", "2", "1 (50.0%)", "0 (0.0%)", "1 (50.0%)"],
        ["2024-05-02", "1", "0 (0.0%)", "0 (0.0%)", "0 (0.0%)"],
        ["2024-05-03", "0", "0", "0", "0"],
    ]


def test_retention_json_and_options(run: Run, data_dir: Path) -> None:
    args = ("--born-event", "App Open", "--interval", "2", "--interval-count", "1", "--unbounded")
    found = answer(run("query", "retention", *MAY_1_3, *args, "--json"))
    params = {
        **DATES,
        "born_event": "App Open",
        "interval": "2",
        "interval_count": "1",
        "unbounded_retention": True,
    }
    assert found == library(data_dir, retention_report, params)
    header = table(run("query", "retention", *MAY_1_3, *args))[0]
    assert header == ["COHORT", "FIRST", "DAY 0", "DAY 2"]
    weeks = ("--type", "compounded", "--event", "Purchase", "--unit", "week", "--json")
    params = {**DATES, "retention_type": "compounded", "event": "Purchase", "unit": "week"}
    assert answer(run("query", "retention", *MAY_1_3, *weeks)) == library(
        data_dir, retention_report, params
    )


# -- segmentation ----------------------------------------------------------------------


def test_segmentation_table(run: Run) -> None:
    assert table(run("query", "segmentation", "--event", "App Open", *MAY_1_3)) == [
        ["DATE", "App Open"],
        ["2024-05-01", "2"],
        ["2024-05-02", "2"],
        ["2024-05-03", "1"],
    ]
    by_platform = run("query", "segmentation", "--event", "App Open", *MAY_1_3, *ON_PLATFORM)
    assert table(by_platform) == [
        ["DATE", "ios", "android"],
        ["2024-05-01", "1", "1"],
        ["2024-05-02", "1", "1"],
        ["2024-05-03", "1", "0"],
    ]


def test_segmentation_json_is_the_library_answer(run: Run, data_dir: Path) -> None:
    args = ("--type", "unique", "--unit", "week", *ON_PLATFORM, "--limit", "1", "--json")
    found = answer(run("query", "segmentation", "--event", "App Open", *MAY_1_3, *args))
    params = {
        **DATES,
        "event": "App Open",
        "type": "unique",
        "unit": "week",
        "on": ON_PLATFORM[1],
        "limit": "1",
    }
    assert found == library(data_dir, segmentation_report, params)
    assert found["data"]["values"] == {"ios": {"2024-04-29": 2}}


def test_segmentation_of_an_event_never_seen(run: Run) -> None:
    args = ("--event", "[Beta] Open", *MAY_1_3)  # a name, not a JSON array
    assert table(run("query", "segmentation", *args))[1] == ["2024-05-01", "0"]
    split = run("query", "segmentation", *args, *ON_PLATFORM)
    assert ok(split).stdout == "no '[Beta] Open' event matched: nothing to split by --on\n"


# -- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["funnel", *MAY_1_3, *STEPS, "--unit", "year"], "unit must be one of day, week, month"),
        (["funnel", *MAY_1_3, *STEPS, "--length", "0"], "length must be between 1 and "),
        (["funnel", *MAY_1_3, "--step", "App Open"], "a funnel has 2 to 20 steps, not 1"),
        (["funnel", *MAY_1_3], "funnel_id is required (or steps, for an ad-hoc funnel)"),
        (["funnel", *MAY_1_3, *STEPS, "--funnel-id", "1"], "give funnel_id or steps, not both"),
        (["funnel", *MAY_1_3, "--funnel-id", "x"], "funnel_id must be a whole number"),
        (["funnel", *MAY_1_3, *STEPS, "--step-where", "3", "x"], "there are only 2 steps"),
        (["funnel", *MAY_1_3, "--step-where", "1", "x"], "--step-where needs the steps"),
        (
            ["funnel", *MAY_1_3, *STEPS, "--step-where", "1", "a", "--step-where", "1", "b"],
            "--step-where 1 is given twice",
        ),
        (["funnel", "--from", "2024-05-03", "--to", "2024-05-01", *STEPS], "is before from_date"),
        (["retention", *MAY_1_3], "born_event is required"),
        (["retention", *MAY_1_3, "--born-event", "x", "--buckets", "0"], "interval_count must"),
        (["retention", *MAY_1_3, "--born-event", "x", "--type", "y"], "retention_type must be"),
        (["segmentation", "--event", "x", *MAY_1_3, "--type", "median"], "type must be one of"),
        (["segmentation", "--event", "x", "--from", "May 1", "--to", "x"], "from_date must be a"),
    ],
)
def test_bad_parameters_are_the_library_s_one_line_errors(
    run: Run, args: list[str], message: str
) -> None:
    one_line_error(run("query", *args), message)


def test_a_bad_expression_points_at_the_place(run: Run) -> None:
    result = run("query", "segmentation", "--event", "x", *MAY_1_3, "--where", 'properties["a"] ==')
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        'Error: where: expected a value after "==" at position 18:',
        '  properties["a"] ==',
        "                    ^",
    ]


def test_a_missing_option_is_a_usage_error(run: Run) -> None:
    result = run("query", "funnel", "--to", "2024-05-01", *STEPS)
    assert result.exit_code == 2
    assert "Missing option '--from-date' / '--from'" in result.stderr


def test_an_unknown_project(run: Run) -> None:
    args = ("query", "segmentation", "--event", "x", *MAY_1_3, "--project", "blog")
    one_line_error(run(*args), "no project named 'blog' (projects: shop)")


@pytest.fixture
def held(data_dir: Path) -> Iterator[Path]:
    """The data directory held open by another process, as the server holds it."""
    with holding(data_dir):
        yield data_dir


@pytest.mark.parametrize(
    ("command", "endpoint"),
    [
        (["query", "funnel", *MAY_1_3, *STEPS], "GET /api/2.0/funnels?funnel_id=N"),
        (["query", "retention", *MAY_1_3, "--born-event", "x"], "GET /api/2.0/retention?"),
        (["query", "segmentation", "--event", "x", *MAY_1_3], "GET /api/2.0/segmentation?"),
        (["funnels", "save", "f", *STEPS], "POST /api/funnels"),
        (["funnels", "list"], "GET /api/funnels"),
        (["funnels", "delete", "3"], "DELETE /api/funnels/3"),
    ],
)
def test_a_held_data_dir_points_at_the_server(
    held: Path, command: list[str], endpoint: str
) -> None:
    result = CliRunner().invoke(cli, [*command, "--data-dir", str(held)])
    one_line_error(result, f"the data directory {str(held)!r} is held by another process (PID ")
    assert endpoint in result.stderr
