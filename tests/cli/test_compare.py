"""``idmerge compare P NEW`` on a real DuckDB data directory: the verdict and the
sections with their figures, ``--json`` equal to the library's answer, refusals in
one line.

P (original) and NEW (simplified) hold the history of ``tests/query/test_compare.py``
plus a crowd of a thousand anonymous visitors, so that counts need separators.
"""

from __future__ import annotations

import re
from pathlib import Path

import msgspec
import pytest
from click.testing import Result

from clirun import Run, holding, invoker, ok, one_line_error
from idmerge.identity import Event, Mode
from idmerge.query.compare import compare
from idmerge.storage.duckdb import open_store
from journeys import device_id
from query.test_compare import PHONE, STALE_WHERE, event, history, stored_as

CROWD = 1_000


def crowd() -> list[Event]:
    """A thousand visitors opening the app once each, on the first day."""
    return [
        event(
            f"2024-05-01 00:{n % 60:02d}",
            "App Open",
            f"v{n}",
            distinct_id=f"$device:{device_id(100 + n)}",
            **{"$device_id": device_id(100 + n)},
        )
        for n in range(CROWD)
    ]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    store = open_store(tmp_path / "data")
    try:
        events = sorted(history() + crowd(), key=lambda e: e.time)
        stored_as(store, "P", Mode.ORIGINAL, events)
        stored_as(store, "NEW", Mode.SIMPLIFIED, events)
        stored_as(store, "SHORT", Mode.SIMPLIFIED, events[:-2])
    finally:
        store.close()
    return tmp_path / "data"


@pytest.fixture
def run(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    return invoker(data_dir, monkeypatch)


def cells(line: str) -> list[str]:
    """A table row's cells: columns are two or more spaces apart."""
    return re.split(r" {2,}", line)


def section(result: Result, title: str) -> list[list[str]]:
    """The rows of the section titled ``title`` (up to the next blank line after its
    first table), its underline left out."""
    lines = ok(result).stdout.splitlines()
    start = lines.index(title)
    assert lines[start + 1] == "-" * len(title)
    body = []
    for line in lines[start + 2 :]:
        if not line:
            break
        body.append(cells(line))
    return body


def test_the_verdict_comes_first(run: Run) -> None:
    first = ok(run("compare", "P", "NEW")).stdout.splitlines()[0]
    assert first == "P → NEW: 1,004 users become 1,006; 1 split, 0 joined"


def test_users(run: Run) -> None:
    assert section(run("compare", "P", "NEW"), "Users") == [
        ["", "P (original)", "NEW (simplified)", "CHANGE"],
        ["users", "1,004", "1,006", "+2"],
        ["events", "1,013", "1,013", "="],
        ["stored ids", "1,007", "1,007", "="],
    ]


def test_split_persons_and_affected_ids(run: Run) -> None:
    result = run("compare", "P", "NEW")
    text = ok(result).stdout
    assert "1 split, 0 joined, 1,003 unchanged" in text
    device_a = f"$device:{device_id(1)}"
    assert [
        "alice@x",
        "6",
        f"alice@x (3), {PHONE} (2), {device_a} (1)",
    ] in [cells(line) for line in text.splitlines()]
    assert section(result, "Most affected ids (3 in all)") == [
        ["DISTINCT_ID", "EVENTS", "PERSON (P)", "PERSONS (NEW)"],
        ["alice@x", "3", "alice@x", "alice@x"],
        [PHONE, "2", "alice@x", PHONE],
        [device_a, "1", "alice@x", device_a],
    ]


def test_identity_events_by_reason(run: Run) -> None:
    result = run("compare", "P", "NEW")
    rows = section(result, "Identity events by reason")
    assert rows[0] == ["EVENT", "OUTCOME", "REASON", "P (original)", "NEW (simplified)", "MEANING"]
    assert rows[1][:5] == ["$identify", "ignored", "mode_simplified_ignores_event", "0", "2"]
    assert rows[1][5].startswith("Simplified ID Merge gives $identify, $create_alias and $merge")
    assert rows[2][:5] == ["$identify", "merged", "-", "2", "0"]
    text = ok(result).stdout
    assert "kept in P, ignored or refused in NEW: 3" in text
    examples = [cells(line) for line in text.splitlines() if "ignored (" in line]
    assert [(row[3], row[4], row[6]) for row in examples] == [
        ("$identify", "a2", "merged"),
        ("$create_alias", "a4", "merged"),
        ("$identify", "c2", "merged"),
    ]
    assert examples[0][2] == "2024-05-01T10:01:00.000Z"


def test_funnels_and_retention_side_by_side(run: Run) -> None:
    result = run("compare", "P", "NEW")
    assert section(result, "Saved funnels (users reaching each step)") == [
        ["FUNNEL", "STEP", "P (original)", "NEW (simplified)"],
        ["Open to purchase", "1. App Open", "1,004", "1,005"],
        ["", "2. Purchase", "2 (0.2%)", "2 (0.2%)"],
    ]
    assert section(result, "Retention (born on any event, back in week N)") == [
        ["", "P (original)", "NEW (simplified)"],
        ["born", "1,004", "1,006"],
        ["week 0", "3 (0.3%)", "4 (0.4%)"],
        ["week 1", "2 (0.2%)", "1 (0.1%)"],
    ]


def test_a_funnel_that_cannot_run_is_a_row_not_the_end(run: Run, data_dir: Path) -> None:
    store = open_store(data_dir)
    try:
        before = {p.name: p for p in store.projects()}["P"]
        store.save_funnel(before.id, "Stale", STALE_WHERE, 1, "day", 0)
    finally:
        store.close()
    result = ok(run("compare", "P", "NEW"))
    rows = section(result, "Saved funnels (users reaching each step)")
    assert rows[3:] == [
        ["Stale (missing in NEW)", "1. App Open", "-", "-"],
        ["", "2. Purchase", "-", "-"],
        [
            "",
            "could not run in P: step 1's where: expected unix seconds or an ISO-8601 string in "
            'datetime(), found "properties" at position 9',
        ],
    ]
    assert section(result, "Retention (born on any event, back in week N)")[1][0] == "born"


def test_json_is_the_library_answer(run: Run, data_dir: Path) -> None:
    printed = msgspec.json.decode(ok(run("compare", "P", "NEW", "--json", "--top", "2")).stdout)
    store = open_store(data_dir)
    try:
        projects = {p.name: p for p in store.projects()}
        assert printed == compare(store, projects["P"], projects["NEW"], top=2).as_json()
    finally:
        store.close()
    assert len(printed["affected_ids"]["top"]) == 2
    assert printed["affected_ids"]["count"] == 3


def test_refusals_are_one_line(run: Run) -> None:
    one_line_error(run("compare", "P", "nope"), "no project named 'nope'")
    one_line_error(run("compare", "nope", "NEW"), "no project named 'nope'")
    one_line_error(run("compare", "P", "P"), "compare needs two projects: 'P' is given twice")
    one_line_error(
        run("compare", "P", "SHORT"),
        "SHORT does not hold a replay of P: 1,011 events against 1,013",
    )
    one_line_error(run("compare", "P", "NEW", "--top", "0"), "top must be between 1 and 10,000")


def test_a_held_data_dir_is_named(run: Run, data_dir: Path) -> None:
    with holding(data_dir):
        result = run("compare", "P", "NEW")
    one_line_error(result, f"the data directory {str(data_dir)!r} is held by another process")
