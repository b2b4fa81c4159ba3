"""``idmerge import``: a table (or JSON) per file, rejects beside the input, and a
clear refusal while another process (the server) holds the data directory."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from clirun import Run, holding, invoker, ok, one_line_error
from idmerge.identity import Mode
from idmerge.projects import create_project
from idmerge.storage.duckdb import open_store

MAY_1 = 1_714_521_600


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    store = open_store(tmp_path / "data")
    try:
        create_project(store, "shop", Mode.SIMPLIFIED, now=0)
    finally:
        store.close()
    return tmp_path / "data"


@pytest.fixture
def run(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    return invoker(data_dir, monkeypatch)


@pytest.fixture
def export(tmp_path: Path) -> Path:
    lines = [
        {"event": "App Open", "properties": {"distinct_id": "$device:d1", "$device_id": "d1",
                                             "time": MAY_1, "$insert_id": "a"}},
        {"event": "Log In", "properties": {"distinct_id": "ann", "$device_id": "d1",
                                           "$user_id": "ann", "time": MAY_1 + 1,
                                           "$insert_id": "b"}},
        {"event": "Purchase"},
    ]  # fmt: skip
    path = tmp_path / "export.jsonl"
    path.write_bytes(b"".join(msgspec.json.encode(line) + b"\n" for line in lines))
    return path


def test_import_prints_a_table_and_writes_rejects(run: Run, export: Path) -> None:
    result = ok(run("import", str(export), "--quiet"))
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows[0] == ["FILE", "RECORDS", "IMPORTED", "REJECTED", "REJECTS"]
    assert rows[1] == [str(export), "3", "2", "1", f"{export}.rejects.jsonl"]
    (reject,) = [json.loads(x) for x in Path(f"{export}.rejects.jsonl").read_text().splitlines()]
    assert (reject["line"], reject["reason"]) == (3, "missing_field")
    explained = json.loads(ok(run("explain", "$device:d1", "--json")).stdout)
    assert explained["resolved_distinct_id"] == "ann"  # the login linked the device


def test_import_json_for_several_files(run: Run, export: Path, tmp_path: Path) -> None:
    other = tmp_path / "more.jsonl"
    props = {"distinct_id": "x", "time": MAY_1, "$insert_id": "c"}
    other.write_text(json.dumps({"event": "E", "properties": props}))
    answer = json.loads(ok(run("import", str(export), str(other), "--json")).stdout)
    assert [(a["records"], a["imported"], a["rejected"]) for a in answer] == [(3, 2, 1), (1, 1, 0)]
    assert answer[1]["rejects"] is None


def test_import_refuses_clearly_while_the_server_holds_the_directory(
    run: Run, export: Path, data_dir: Path
) -> None:
    with holding(data_dir):
        one_line_error(run("import", str(export)), "POST /import (Mixpanel records)")


def test_import_of_a_missing_file(run: Run, tmp_path: Path) -> None:
    result = run("import", str(tmp_path / "nope.jsonl"))
    assert result.exit_code == 2 and "does not exist" in result.stderr
