"""``idmerge import``: a table (or JSON) per file, rejects beside the input, and a
clear refusal while another process (the server) holds the data directory."""

from __future__ import annotations

import contextlib
import gzip
import json
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import msgspec
import pytest

from clirun import Run, holding, invoker, ok, one_line_error, one_project_dir
from idmerge.wire.segment import MAX_BATCH_BYTES

from live import LiveServer

MAY_1 = 1_714_521_600


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return one_project_dir(tmp_path / "data")


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


def import_through(
    server: LiveServer, lines: list[Any], path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[tuple[int, int, int]], list[dict[str, Any]]]:
    """``lines`` written as JSON lines to ``path``, imported into the server's
    ``original`` project: each file's (records, imported, rejected), and the rejects."""
    path.write_bytes(b"".join(msgspec.json.encode(x) + b"\n" for x in lines))
    run = invoker(path.parent / "unused", monkeypatch)
    args = ("--server", server.url, "--quiet", "--json", "--secret", server.secret("original"))
    answer = json.loads(ok(run("import", str(path), *args)).stdout)
    rejects = Path(f"{path}.rejects.jsonl")
    found = [json.loads(x) for x in rejects.read_text().splitlines()] if rejects.exists() else []
    return [(a["records"], a["imported"], a["rejected"]) for a in answer], found


def test_import_through_a_server_cuts_parts_within_its_body_limit(
    server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2,000 records of ~6 KB are over /import's 10 MB: they go in parts that fit it,
    every good record lands and the bad one is reported at its own line."""
    tag = uuid.uuid4().hex[:8]
    wide = {f"p{k}": "x" * 250 for k in range(25)}
    lines = [
        {"event": "View", "properties": {"distinct_id": f"u-{tag}", "time": MAY_1 + n,
                                         "$insert_id": f"{tag}-{n}", **wide}}
        for n in range(1999)
    ]  # fmt: skip
    lines.append({"event": "Bad", "properties": {"time": MAY_1}})  # no distinct_id
    assert sum(len(msgspec.json.encode(x)) + 1 for x in lines) > 10 * 1024 * 1024
    counts, (reject,) = import_through(server, lines, tmp_path / "wide.jsonl", monkeypatch)
    assert counts == [(2000, 1999, 1)]
    assert (reject["line"], reject["reason"]) == (2000, "missing_field")


def test_a_record_alone_past_the_body_limit_is_rejected_and_the_import_goes_on(
    server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record of 11 MB cannot go in any request: the server refuses it (413), and it
    is that record's rejection, not the end of the import."""
    tag = uuid.uuid4().hex[:8]
    lines = [
        {"event": "View", "properties": {"distinct_id": f"u-{tag}", "time": MAY_1 + n,
                                         "$insert_id": f"{tag}-{n}"}}
        for n in range(3)
    ]  # fmt: skip
    lines[1]["properties"]["huge"] = "x" * (11 * 1024 * 1024)
    counts, (reject,) = import_through(server, lines, tmp_path / "huge.jsonl", monkeypatch)
    assert counts == [(3, 2, 1)]
    assert (reject["line"], reject["reason"]) == (2, "too_large")
    assert reject["record"] == lines[1]  # kept whole in the reject file: nothing is lost


def test_import_to_a_server_that_is_not_there(run: Run, export: Path) -> None:
    args = ("import", str(export), "--server", "http://127.0.0.1:9", "--secret", "s")
    one_line_error(run(*args), "no idmerge server answers at http://127.0.0.1:9")
    one_line_error(run("import", str(export), "--server", "http://127.0.0.1:9"), "needs --secret")


def test_import_of_a_gzip_cut_short(run: Run, export: Path) -> None:
    """A broken file is one line naming it and where it broke; what came before is in."""
    cut = export.with_name("cut.jsonl.gz")
    cut.write_bytes(gzip.compress(export.read_bytes())[:-12])  # its end marker lost
    one_line_error(run("import", str(cut)), f"{cut} breaks off after line 2: ")
    explained = json.loads(ok(run("explain", "$device:d1", "--json")).stdout)
    assert explained["resolved_distinct_id"] == "ann"


@contextlib.contextmanager
def answering(answer: Callable[[bytes], bytes]) -> Iterator[tuple[str, list[bytes]]]:
    """A stand-in server: its URL, and the bodies POSTed to it; ``answer(body)`` is
    the raw bytes it answers with (an HTTP answer, or anything else)."""
    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers["Content-Length"])))
            self.wfile.write(answer(bodies[-1]))
            self.close_connection = True

        def log_message(self, *args: object) -> None:
            pass

    with ThreadingHTTPServer(("127.0.0.1", 0), Handler) as server:
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}", bodies
        finally:
            server.shutdown()
            thread.join()


def http_answer(status: str, body: bytes) -> bytes:
    head = f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
    return head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def segment_archive(path: Path, count: int) -> Path:
    messages = [
        {"type": "track", "userId": f"u{n}", "event": "View", "messageId": f"m{n}",
         "properties": {"pad": "x" * 400}}
        for n in range(count)
    ]  # fmt: skip
    path.write_bytes(b"".join(msgspec.json.encode(m) + b"\n" for m in messages))
    return path


def test_segment_through_a_server_in_batches_within_its_limit(run: Run, tmp_path: Path) -> None:
    """2,000 messages of 0.5 KB go in a few batches under 500 KB, each taken whole, not
    in one batch that is refused and then a message at a time."""

    def segment(body: bytes) -> bytes:
        if len(body) > MAX_BATCH_BYTES:
            return http_answer("400 Bad Request", b'{"error": "the batch is too large"}')
        return http_answer("200 OK", b'{"success": true}')

    archive = segment_archive(tmp_path / "archive.jsonl", 2_000)
    with answering(segment) as (url, bodies):
        args = ("--format", "segment", "--server", url, "--token", "t", "--json")
        answer = json.loads(ok(run("import", str(archive), *args)).stdout)
    assert [(a["imported"], a["rejected"]) for a in answer] == [(2_000, 0)]
    assert len(bodies) == 2  # 970 KB in all
    assert sum(len(msgspec.json.decode(body)["batch"]) for body in bodies) == 2_000


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (http_answer("503 Service Unavailable", b'{"error": "the disk is full"}'),
         "the server refused the batch (503): the disk is full"),
        (b"SSH-2.0-OpenSSH_9.2\r\n", "no idmerge server answers at http://127.0.0.1:"),
    ],
    ids=["503", "not HTTP"],
)  # fmt: skip
def test_segment_through_a_server_that_fails_stops_in_one_line(
    run: Run, tmp_path: Path, answer: bytes, message: str
) -> None:
    """A server that cannot take the batch, or that is not an HTTP server, stops the
    import: its messages are not written off as rejected one by one."""
    archive = segment_archive(tmp_path / "archive.jsonl", 3)
    with answering(lambda body: answer) as (url, bodies):
        args = ("--format", "segment", "--server", url, "--token", "t", "--quiet")
        one_line_error(run("import", str(archive), *args), message)
    assert len(bodies) == 1
    assert not Path(f"{archive}.rejects.jsonl").exists()
