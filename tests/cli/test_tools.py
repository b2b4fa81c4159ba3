"""``explain``, ``split``, ``export``, ``mappings`` and ``warnings`` on a real DuckDB data
directory, run as a user runs them."""

from __future__ import annotations

import csv
import gzip
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from clirun import Run, holding, invoker, ok, one_line_error
from idmerge.cli.main import cli
from idmerge.cli.tools import Progress
from idmerge.identity import Event, Mode
from idmerge.ingest import ProjectWriter
from idmerge.projects import create_project
from idmerge.storage.duckdb import open_store

T0 = 1_700_000_000_000  # 2023-11-14T22:13:20Z
DAY = 86_400_000
#: the identity mapping of simplified_events(): D1 logged in as U1
MAPPED = [{"distinct_id": "$device:D1", "resolved_distinct_id": "U1"}]


def simplified_events() -> list[Event]:
    """D1 browses, then logs in as U1 (linked); a junk user id is refused; D3 browses
    the next day."""
    return [
        Event("view", {"distinct_id": "$device:D1", "$device_id": "D1", "plan": "a"}, T0, "i-view"),
        Event(
            "login",
            {"distinct_id": "U1", "$device_id": "D1", "$user_id": "U1", "plan": "b"},
            T0 + 1000,
            "i-login",
        ),
        Event(
            "signup",
            {"distinct_id": "undefined", "$device_id": "D2", "$user_id": "undefined"},
            T0 + 2000,
            "i-junk",
        ),
        Event("view", {"distinct_id": "$device:D3", "$device_id": "D3"}, T0 + DAY, "i-later"),
    ]


def build(data_dir: Path, *names: str, events: list[Event] | None = None) -> None:
    """Projects ``names`` (simplified); the first gets ``events``."""
    store = open_store(data_dir)
    try:
        for name in names:
            create_project(store, name, Mode.SIMPLIFIED, now=0)
        if events:
            project = store.projects()[0]
            ProjectWriter(store, project).ingest(events, received_at=T0 + 5000)
    finally:
        store.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    build(tmp_path / "data", "shop", events=simplified_events())
    return tmp_path / "data"


@pytest.fixture
def run(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    return invoker(data_dir, monkeypatch)


def json_lines(data: bytes | str) -> list[dict[str, object]]:
    text = data.decode() if isinstance(data, bytes) else data
    return [json.loads(line) for line in text.splitlines()]


# -- explain and split -----------------------------------------------------------------


def test_explain_shows_the_merged_cluster_and_its_history(run: Run) -> None:
    """The device resolves to its user; the link is in the history table."""
    lines = ok(run("explain", "$device:D1")).stdout.splitlines()
    assert lines[0].split() == ["distinct_id", "$device:D1"]
    assert lines[1].split() == ["resolved_distinct_id", "U1"]
    assert lines[2].split() == ["cluster", "U1,", "$device:D1", "(2", "ids)"]
    header = lines[4].split()
    assert header[:2] == ["SEQ", "TIME"]
    row = lines[5].split()
    assert row[:6] == ["1", "2023-11-14T22:13:21.000Z", "login", "i-login", "linked", "-"]
    assert row[6:] == ["U1,", "$device:D1"]
    assert lines[4].index("EVENT") == lines[5].index("login")  # aligned columns


def test_explain_json(run: Run) -> None:
    answer = json.loads(ok(run("explain", "U1", "--json")).stdout)
    assert answer["resolved_distinct_id"] == "U1"
    assert answer["cluster"] == ["U1", "$device:D1"]
    assert [(e["insert_id"], e["outcome"]) for e in answer["history"]] == [("i-login", "linked")]


def test_explain_an_unknown_id_is_a_cluster_of_one(run: Run) -> None:
    output = ok(run("explain", "nobody")).stdout
    assert "nobody (1 id)" in output
    assert "no identity event touched this cluster" in output


def test_split_by_insert_id_undoes_the_link(run: Run) -> None:
    """After the split the device is alone again, and the mapping forgets it."""
    assert ok(run("mappings")).stdout.strip()
    lines = ok(run("split", "--insert-id", "i-login")).stdout.splitlines()
    assert lines[0].split()[:3] == ["SEQ", "TIME", "(UTC)"]
    assert "split_undo_event" in lines[1]
    assert "undoes seq 1" in lines[1]
    clusters = [line.split() for line in lines[3:6]]
    assert clusters == [
        ["DISTINCT_ID", "RESOLVED_DISTINCT_ID", "CLUSTER"],
        ["$device:D1", "$device:D1", "$device:D1"],
        ["U1", "U1", "U1"],
    ]
    assert lines[7].startswith("ids changing person: $device:D1; events re-attributed: ")
    explained = json.loads(ok(run("explain", "$device:D1", "--json")).stdout)
    assert explained["cluster"] == ["$device:D1"]
    assert explained["resolved_distinct_id"] == "$device:D1"
    assert ok(run("mappings")).stdout == ""


def test_split_dry_run_writes_nothing(run: Run) -> None:
    lines = ok(run("split", "--insert-id", "i-login", "--dry-run")).stdout.splitlines()
    assert lines[0] == "dry run: nothing was written"
    assert "ids changing person: $device:D1" in lines[-1]
    explained = json.loads(ok(run("explain", "$device:D1", "--json")).stdout)
    assert explained["resolved_distinct_id"] == "U1"  # still linked
    answer = json.loads(ok(run("split", "--insert-id", "i-login", "--dry-run", "--json")).stdout)
    assert answer["dry_run"] is True and answer["moved_ids"] == ["$device:D1"]


def test_split_json_and_detach(run: Run) -> None:
    answer = json.loads(ok(run("split", "--detach", "$device:D1", "--json")).stdout)
    assert answer["split"]["outcome"] == "split"
    assert answer["split"]["reason"] == "split_detach_id"
    assert answer["clusters"]["$device:D1"]["cluster"] == ["$device:D1"]


def test_split_names_exactly_one_target(run: Run) -> None:
    one_line_error(run("split"), "name exactly one of --insert-id, --seq or --detach")
    one_line_error(
        run("split", "--seq", "1", "--detach", "U1"),
        "name exactly one of --insert-id, --seq or --detach",
    )


def test_split_of_an_unknown_event_is_refused(run: Run) -> None:
    one_line_error(
        run("split", "--insert-id", "no-such-event"),
        "no identity event with insert_id 'no-such-event' in this project",
    )


# -- export ----------------------------------------------------------------------------


def test_export_to_stdout_on_resolved_ids(run: Run) -> None:
    """One line per event of the day, on the resolved id, with the stored one kept."""
    result = ok(run("export", "--from-date", "2023-11-14", "--to-date", "2023-11-14"))
    lines = sorted(json_lines(result.stdout), key=lambda line: str(line["event"]))
    assert [line["event"] for line in lines] == ["login", "signup", "view"]
    view = lines[2]["properties"]
    assert isinstance(view, dict)
    assert view["distinct_id"] == "U1"
    assert view["$distinct_id_before_identity"] == "$device:D1"
    assert view["time"] == T0 // 1000
    assert view["$insert_id"] == "i-view"
    assert view["plan"] == "a"
    assert result.stderr.startswith("exported 3 events in ")  # no progress: not a terminal


def test_export_filters(run: Run) -> None:
    """--event (repeatable), --where, --limit and --time-in-ms as Mixpanel's export."""
    days = ("--from-date", "2023-11-14", "--to-date", "2023-11-15")
    views = json_lines(ok(run("export", *days, "--event", "view", "--time-in-ms")).stdout)
    assert sorted(v["properties"]["time"] for v in views) == [T0, T0 + DAY]  # type: ignore[index]
    two = json_lines(ok(run("export", *days, "--event", "view", "--event", "login")).stdout)
    assert sorted(line["event"] for line in two) == ["login", "view", "view"]
    where = json_lines(ok(run("export", *days, "--where", 'properties["plan"] == "b"')).stdout)
    assert [line["event"] for line in where] == ["login"]
    assert len(json_lines(ok(run("export", *days, "--limit", "2")).stdout)) == 2


def test_export_to_a_gzip_file(run: Run, tmp_path: Path) -> None:
    """A .gz output is gzip; the summary names the file."""
    target = tmp_path / "out" / "events.jsonl.gz"
    target.parent.mkdir()
    result = ok(
        run(
            "export",
            "--from-date",
            "2023-11-14",
            "--to-date",
            "2023-11-15",
            "--output",
            str(target),
        )
    )
    assert result.stdout == ""
    assert f"exported 4 events to {target} in " in result.stderr
    lines = json_lines(gzip.decompress(target.read_bytes()))
    assert sorted(line["properties"]["$insert_id"] for line in lines) == [  # type: ignore[index]
        "i-junk",
        "i-later",
        "i-login",
        "i-view",
    ]


def test_export_to_a_plain_file(run: Run, tmp_path: Path) -> None:
    target = tmp_path / "events.jsonl"
    ok(
        run(
            "export",
            "--from-date",
            "2023-11-15",
            "--to-date",
            "2023-11-15",
            "--output",
            str(target),
        )
    )
    [line] = json_lines(target.read_bytes())
    assert line["properties"]["distinct_id"] == "$device:D3"  # type: ignore[index]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from-date", "14/11/2023", "--to-date", "2023-11-14"], "from_date must be a day"),
        (["--from-date", "2023-11-15", "--to-date", "2023-11-14"], "is before from_date"),
        (["--from-date", "2023-11-14", "--to-date", "2023-11-14", "--limit", "0"], "limit must"),
    ],
)
def test_export_bad_arguments(run: Run, args: list[str], message: str, tmp_path: Path) -> None:
    """A wrong date or limit is one line, and no output file is left."""
    target = tmp_path / "never.jsonl"
    one_line_error(run("export", *args, "--output", str(target)), message)
    assert not target.exists()


def test_export_bad_where_points_at_the_place(run: Run, tmp_path: Path) -> None:
    """The expression's error keeps the library's caret under the place (three lines),
    and no output file is created."""
    target = tmp_path / "never.jsonl"
    days = ("--from-date", "2023-11-14", "--to-date", "2023-11-14")
    result = run("export", *days, "--where", 'properties["a"] ==', "--output", str(target))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        'Error: where: expected a value after "==" at position 18:',
        '  properties["a"] ==',
        "                    ^",
    ]
    assert not target.exists()


# -- mappings --------------------------------------------------------------------------


def test_mappings_json_lines_by_default(run: Run) -> None:
    assert json_lines(ok(run("mappings")).stdout) == MAPPED


def test_mappings_csv(run: Run, tmp_path: Path) -> None:
    rows = list(csv.reader(io.StringIO(ok(run("mappings", "--format", "csv")).stdout)))
    assert rows == [["distinct_id", "resolved_distinct_id"], ["$device:D1", "U1"]]
    target = tmp_path / "m.csv.gz"
    ok(run("mappings", "--format", "csv", "--output", str(target)))
    assert gzip.decompress(target.read_bytes()).decode().splitlines()[1] == "$device:D1,U1"


def test_mappings_parquet_needs_a_file(run: Run, tmp_path: Path) -> None:
    one_line_error(run("mappings", "--format", "parquet"), "name one with --output FILE")
    target = tmp_path / "m.parquet"
    result = ok(run("mappings", "--format", "parquet", "--output", str(target)))
    assert "wrote the identity mappings of 'shop'" in result.stderr
    assert pq.read_table(target).to_pylist() == MAPPED


# -- warnings --------------------------------------------------------------------------


def test_warnings_list_the_refused_junk_id(run: Run) -> None:
    lines = ok(run("warnings")).stdout.splitlines()
    assert lines[0].split() == [
        "SEQ",
        "RECEIVED",
        "(UTC)",
        "ENDPOINT",
        "REASON",
        "DISTINCT_ID",
        "EVENT",
        "MESSAGE",
    ]
    assert len(lines) == 2
    row = lines[1].split()
    assert row[1:6] == ["2023-11-14T22:13:25.000Z", "library", "errJunkId", "undefined", "signup"]
    assert "identity event refused" in lines[1]


def test_warnings_json_and_filters(run: Run) -> None:
    [warning] = json.loads(ok(run("warnings", "--json")).stdout)
    assert warning["reason"] == "errJunkId"
    assert warning["insert_id"] == "i-junk"
    assert warning["event_seq"] == 2
    assert json.loads(ok(run("warnings", "--json", "--reason", "errJunkId")).stdout) == [warning]
    assert json.loads(ok(run("warnings", "--json", "--reason", "other")).stdout) == []
    before = str(warning["seq"])
    assert json.loads(ok(run("warnings", "--json", "--before-seq", before)).stdout) == []
    none = run("warnings", "--reason", "other").stdout
    assert none == "no ingestion warnings with reason 'other'\n"


def test_warnings_limit_hints_at_older_ones(tmp_path: Path) -> None:
    """Past the limit, the next page's --before-seq is on stderr; --reason pages on."""
    junk = [
        Event("e", {"distinct_id": "x", "$device_id": f"D{i}", "$user_id": "null"}, T0 + i)
        for i in range(5)
    ]
    build(tmp_path, "shop", events=junk)
    runner = CliRunner()
    args = ["warnings", "--data-dir", str(tmp_path), "--limit", "2"]
    result = runner.invoke(cli, [*args, "--json"])
    seqs = [w["seq"] for w in json.loads(result.stdout)]
    assert seqs == sorted(seqs, reverse=True)
    assert f"--before-seq {seqs[-1]}" in result.stderr
    older = runner.invoke(cli, [*args, "--json", "--before-seq", str(seqs[-1])])
    assert max(w["seq"] for w in json.loads(older.stdout)) < seqs[-1]
    filtered = runner.invoke(cli, [*args, "--limit", "4", "--json", "--reason", "errJunkId"])
    assert len(json.loads(filtered.stdout)) == 4


# -- choosing the project, and errors --------------------------------------------------


def test_the_project_named_default_is_chosen_among_several(tmp_path: Path) -> None:
    build(tmp_path, "default", "other", events=simplified_events())
    result = CliRunner().invoke(cli, ["mappings", "--data-dir", str(tmp_path)])
    assert json_lines(result.stdout) == MAPPED
    other = CliRunner().invoke(cli, ["mappings", "--data-dir", str(tmp_path), "--project", "other"])
    assert other.exit_code == 0
    assert other.stdout == ""


@pytest.mark.parametrize(
    "command",
    [
        ["explain", "U1"],
        ["split", "--detach", "U1"],
        ["export", "--from-date", "2023-11-14", "--to-date", "2023-11-14"],
        ["mappings"],
        ["warnings"],
    ],
)
def test_project_errors(tmp_path: Path, command: list[str]) -> None:
    """An unknown, ambiguous or missing project is one line naming the choices."""
    runner = CliRunner()
    build(tmp_path / "one", "shop")
    result = runner.invoke(cli, [*command, "--data-dir", str(tmp_path / "one"), "--project", "x"])
    one_line_error(result, "no project named 'x' (projects: shop)")
    build(tmp_path / "two", "shop", "blog")
    result = runner.invoke(cli, [*command, "--data-dir", str(tmp_path / "two")])
    one_line_error(result, "none is named 'default': choose one with --project NAME (shop, blog)")
    result = runner.invoke(cli, [*command, "--data-dir", str(tmp_path / "none")])
    one_line_error(result, "no projects yet")


@pytest.fixture
def held(data_dir: Path) -> Iterator[Path]:
    """The data directory held open by another process, as the server holds it (DuckDB
    lets one process open a file twice, so the holder must be another process)."""
    with holding(data_dir):
        yield data_dir


@pytest.mark.parametrize(
    ("command", "endpoint"),
    [
        (["explain", "U1"], "GET /api/identity?distinct_id=ID"),
        (["split", "--insert-id", "i-login"], "POST /api/identity/split"),
        (["export", "--from-date", "2023-11-14", "--to-date", "2023-11-14"], "GET /api/2.0/export"),
        (["mappings", "--format", "csv"], "GET /api/identity/mappings?format=csv"),
        (["warnings"], "GET /api/ingestion/warnings"),
    ],
)
def test_a_held_data_dir_points_at_the_server(
    held: Path, command: list[str], endpoint: str
) -> None:
    """While the server owns the data directory, the command says so and names the
    endpoint to ask instead."""
    result = CliRunner().invoke(cli, [*command, "--data-dir", str(held)])
    one_line_error(result, f"the data directory {str(held)!r} is held by another process (PID ")
    assert "running server (`idmerge serve`)" in result.stderr
    assert endpoint in result.stderr


@pytest.mark.parametrize("tty", [True, False])
def test_progress_counts_events_on_stderr(
    tty: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """On a terminal the counter is rewritten in place and wiped at the end; otherwise
    it is a plain line."""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    progress = Progress(shown=True)
    progress.interval = 0
    progress.add(1234)
    progress.clear()
    err = capsys.readouterr().err
    assert "1,234 events, " in err
    assert err.endswith("\r\x1b[K" if tty else "events/s\n")
    assert progress.summary().endswith("events/s")
