"""``idmerge import``: a table (or JSON) per file, rejects beside the input, and a
clear refusal while another process (the server) holds the data directory."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import msgspec
import pytest

from clirun import Run, holding, invoker, ok, one_line_error
from idmerge.identity import Mode
from idmerge.projects import create_project
from idmerge.storage.duckdb import open_store

from live import LiveServer

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
        one_line_error(run("import", str(export)), "idmerge import --server URL")


def test_import_of_a_missing_file(run: Run, tmp_path: Path) -> None:
    result = run("import", str(tmp_path / "nope.jsonl"))
    assert result.exit_code == 2 and "does not exist" in result.stderr


def test_import_through_a_running_server(
    server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Mixpanel records to /import with the secret, Segment messages to /v1/batch with
    the token: the identities link in the server's projects, and refusals land in the
    reject file with their line, as in the direct path."""
    tag = uuid.uuid4().hex[:8]
    device, user = f"00000000-0000-4000-8000-{tag}0000", f"ann-{tag}"
    mixpanel_lines = [
        {"event": "App Open", "properties": {"distinct_id": f"$device:{device}", "time": MAY_1,
                                             "$insert_id": f"{tag}-a"}},
        {"event": "$identify", "properties": {"distinct_id": user, "time": MAY_1 + 1,
         "$anon_distinct_id": f"$device:{device}", "$insert_id": f"{tag}-b"}},
        {"event": "Bad", "properties": {"time": MAY_1}},  # no distinct_id
    ]  # fmt: skip
    records = tmp_path / "mp.jsonl"
    records.write_bytes(b"".join(msgspec.json.encode(x) + b"\n" for x in mixpanel_lines))
    run = invoker(tmp_path / "unused", monkeypatch)
    url = ("--server", server.url, "--quiet", "--json")
    secret = ("--secret", server.secret("original"))
    answer = json.loads(ok(run("import", str(records), *url, *secret)).stdout)
    assert [(a["records"], a["imported"], a["rejected"]) for a in answer] == [(3, 2, 1)]
    (reject,) = [json.loads(x) for x in Path(f"{records}.rejects.jsonl").read_text().splitlines()]
    assert (reject["line"], reject["reason"]) == (3, "missing_field")
    explained = server.api("original", "/api/identity", distinct_id=f"$device:{device}")
    assert explained["resolved_distinct_id"] == user

    messages = [
        {"type": "identify", "anonymousId": f"anon-{tag}", "userId": user, "messageId": f"{tag}-1",
         "timestamp": "2024-05-01T10:00:00.000Z"},
        {"type": "teleport", "userId": user, "messageId": f"{tag}-2"},
    ]  # fmt: skip
    archive = tmp_path / "segment.jsonl"
    archive.write_bytes(b"".join(msgspec.json.encode(x) + b"\n" for x in messages))
    args = ("import", str(archive), "--format", "segment", *url, "--token", server.token("cdp"))
    answer = json.loads(ok(run(*args)).stdout)
    assert [(a["records"], a["imported"], a["rejected"]) for a in answer] == [(2, 1, 1)]
    assert (
        server.api("cdp", "/api/identity", distinct_id=f"$device:anon-{tag}")[
            "resolved_distinct_id"
        ]
        == user
    )
    wrong = run("import", str(records), *url, "--secret", "not-it")
    one_line_error(wrong, "refused the credentials")


def test_import_to_a_server_that_is_not_there(run: Run, export: Path) -> None:
    args = ("import", str(export), "--server", "http://127.0.0.1:9", "--secret", "s")
    one_line_error(run(*args), "no idmerge server answers at http://127.0.0.1:9")
    one_line_error(run("import", str(export), "--server", "http://127.0.0.1:9"), "needs --secret")
