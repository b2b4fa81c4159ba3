"""Bad input of every kind gets the protocol's error answer naming the problem: never
a 500, never a crash, and nothing accepted before is lost."""

from __future__ import annotations

import base64
import gzip
import json
import time
import uuid
from collections.abc import Callable
from typing import Any, NamedTuple

import httpx
import pytest

from live import LiveServer


class Case(NamedTuple):
    name: str
    send: Callable[[LiveServer], httpx.Response]
    status: int
    mentions: str  # a word the error answer must contain


def _import(body: bytes | str, *, mode: str = "simplified", **headers: str) -> Callable[..., Any]:
    def send(server: LiveServer) -> httpx.Response:
        return httpx.post(
            server.url + "/import",
            content=body,
            headers={"Content-Type": "application/json", **headers},
            auth=(server.secret(mode), ""),
            timeout=60,
        )

    return send


def _record(**properties: Any) -> dict[str, Any]:
    base = {"time": int(time.time()), "distinct_id": "u-bad", "$insert_id": uuid.uuid4().hex}
    base.update(properties)
    return {"event": "e", "properties": {k: v for k, v in base.items() if v is not None}}


def _records(*records: dict[str, Any]) -> bytes:
    return json.dumps(list(records)).encode()


def _track(params: dict[str, str]) -> Callable[..., Any]:
    def send(server: LiveServer) -> httpx.Response:
        return httpx.get(server.url + "/track", params={"verbose": "1", **params})

    return send


def _segment(body: bytes, *, key: str | None = "cdp") -> Callable[..., Any]:
    def send(server: LiveServer) -> httpx.Response:
        auth = (server.token(key), "") if key else None
        headers = {"Content-Type": "application/json"}
        return httpx.post(server.url + "/v1/batch", content=body, headers=headers, auth=auth)

    return send


def _deep(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = {"k": value}
    return value


IMPORT_CASES = [
    Case("malformed JSON", _import(b'[{"event": "e", '), 400, "JSON"),
    Case("invalid UTF-8", _import(b'[{"event": "\xff\xfe"}]'), 400, "UTF-8"),
    Case("bad gzip", _import(b"\x1f\x8bnot gzip", **{"Content-Encoding": "gzip"}), 400, "gzip"),
    Case("not a list of objects", _import(b"[1, 2]"), 400, "object"),
    Case("missing event", _import(_records({"properties": _record()["properties"]})), 400, "event"),
    Case("missing time", _import(_records(_record(time=None))), 400, "properties.time"),
    Case("time of wrong type", _import(_records(_record(time="today"))), 400, "properties.time"),
    Case("future time", _import(_records(_record(time=int(time.time()) + 86400))), 400, "future"),
    Case("ancient time", _import(_records(_record(time=86400))), 400, "properties.time"),
    Case("missing distinct_id", _import(_records(_record(distinct_id=None))), 400, "distinct_id"),
    Case("junk distinct_id", _import(_records(_record(distinct_id="undefined"))), 400, "distinct_id"),
    Case("bad insert_id", _import(_records(_record(**{"$insert_id": "no spaces allowed"}))), 400, "$insert_id"),
    Case("missing insert_id", _import(_records(_record(**{"$insert_id": None}))), 400, "$insert_id"),
    Case("deep nesting", _import(_records(_record(deep=_deep(5)))), 400, "nest"),
    Case("too many properties", _import(_records(_record(**{f"p{i}": i for i in range(300)}))), 400, "255"),
    Case("lone surrogate", _import(b'[{"event":"e","properties":{"time":%d,"distinct_id":"u","$insert_id":"s1","x":"\\ud800"}}]' % int(time.time())), 400, "UTF-8"),
    Case("too many events", _import(_records(*[_record() for _ in range(2001)])), 413, "2000"),
    Case("oversize body", _import(b"[" + b" " * (11 * 1024 * 1024) + b"]"), 413, "limit"),
    Case("oversize gzip bomb", _import(gzip.compress(b"[" + b" " * (11 * 1024 * 1024) + b"]"), **{"Content-Encoding": "gzip"}), 413, "limit"),
]  # fmt: skip

TRACK_CASES = [
    Case("track: no data", _track({}), 200, "data"),
    Case("track: bad base64", _track({"data": "%%%not-base64%%%"}), 200, "base64"),
    Case("track: base64 of non-JSON", _track({"data": base64.b64encode(b"{nope").decode()}), 200, "JSON"),
    Case("track: wrong type", _track({"data": json.dumps(["a string"])}), 200, "object"),
    Case("track: unknown token", _track({"data": json.dumps({"event": "e", "properties": {"token": "nope-nope-nope", "distinct_id": "x"}})}), 200, "token"),
    Case("track: no token", _track({"data": json.dumps({"event": "e", "properties": {"distinct_id": "x"}})}), 200, "token"),
]  # fmt: skip

SEGMENT_CASES = [
    Case("segment: malformed JSON", _segment(b"{"), 400, "JSON"),
    Case("segment: unknown write key", _segment(b'{"batch": []}', key=None), 401, "write key"),
    Case("segment: batch not a list", _segment(b'{"batch": 3}'), 400, "batch"),
    Case("segment: no user", _segment(json.dumps({"batch": [{"type": "track", "event": "e"}]}).encode()), 400, "anonymousId"),
    Case("segment: huge message", _segment(json.dumps({"batch": [{"type": "track", "event": "e", "userId": "u", "properties": {"p": "x" * 40_000}}]}).encode()), 400, "32"),
    Case("segment: huge batch", _segment(json.dumps({"batch": [{"type": "track", "event": "e", "userId": "u", "properties": {"p": "x" * 20_000}}] * 30}).encode()), 400, "limit"),
]  # fmt: skip


@pytest.mark.parametrize("case", IMPORT_CASES + TRACK_CASES + SEGMENT_CASES, ids=lambda c: c.name)
def test_bad_input_gets_a_clear_answer(server: LiveServer, case: Case) -> None:
    answer = case.send(server)
    assert answer.status_code == case.status, answer.text
    text = answer.text
    assert case.mentions.lower() in text.lower(), text
    if case.status == 200:  # /track: the verbose failure form
        assert answer.json()["status"] == 0


def test_bad_input_loses_nothing_accepted(server: LiveServer) -> None:
    device, user = f"d-{uuid.uuid4().hex[:8]}", f"u-{uuid.uuid4().hex[:8]}"
    login = {
        "event": "login",
        "properties": {"token": server.token("simplified"), "$device_id": device, "$user_id": user},
    }
    assert httpx.get(server.url + "/track", params={"data": json.dumps(login)}).text == "1"
    for case in IMPORT_CASES + TRACK_CASES + SEGMENT_CASES:
        assert case.send(server).status_code < 500
    assert httpx.get(server.url + "/health").status_code == 200
    assert f"$device:{device}" in server.cluster("simplified", user)


def test_wrong_secret_on_identity_api(server: LiveServer) -> None:
    answer = httpx.get(
        server.url + "/api/identity", params={"distinct_id": "x"}, auth=("wrong-secret", "")
    )
    assert answer.status_code == 401
    # Mixpanel's error shape: the request as received, query string included
    assert answer.json()["request"] == "/api/identity?distinct_id=x"
    assert "secret" in answer.json()["error"]


def test_unknown_path_is_a_clear_404(server: LiveServer) -> None:
    answer = httpx.get(server.url + "/nope")
    assert answer.status_code == 404
    assert "/nope" in answer.json()["error"]
