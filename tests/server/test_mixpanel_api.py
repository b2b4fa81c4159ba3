"""Mixpanel's ingestion endpoints over loopback, in every transport form they accept."""

from __future__ import annotations

import base64
import gzip
import json
import time
import uuid
from typing import Any

import httpx
import pytest

from live import LiveServer


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def now_s() -> int:
    return int(time.time())


def event(token: str, name: str = "view", **properties: Any) -> dict[str, Any]:
    return {"event": name, "properties": {"token": token, **properties}}


def b64(value: Any) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def linked(server: LiveServer, mode: str, device: str, user: str) -> bool:
    return f"$device:{device}" in server.cluster(mode, user)


# -- /track ------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/track", "/track/"])
def test_track_get_with_base64_data(server: LiveServer, path: str) -> None:
    device, user = uid("d"), uid("u")
    data = b64(
        event(server.token("simplified"), "login", **{"$device_id": device, "$user_id": user})
    )
    answer = httpx.get(server.url + path, params={"data": data})
    assert (answer.status_code, answer.text) == (200, "1")
    assert linked(server, "simplified", device, user)


def test_track_post_form_json_array_verbose(server: LiveServer) -> None:
    device, user = uid("d"), uid("u")
    token = server.token("simplified")
    batch = [
        event(token, "view", **{"$device_id": device}),
        event(token, "login", **{"$device_id": device, "$user_id": user}),
    ]
    answer = httpx.post(
        server.url + "/track", params={"verbose": "1"}, data={"data": json.dumps(batch)}
    )
    assert answer.json() == {"status": 1, "error": None}
    assert linked(server, "simplified", device, user)


def test_track_json_body_and_gzip(server: LiveServer) -> None:
    device, user = uid("d"), uid("u")
    body = json.dumps(
        [event(server.token("simplified"), "login", **{"$device_id": device, "$user_id": user})]
    ).encode()
    answer = httpx.post(
        server.url + "/track",
        content=gzip.compress(body),
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert answer.text == "1"
    assert linked(server, "simplified", device, user)


def test_track_img_and_callback_forms(server: LiveServer) -> None:
    data = b64(event(server.token("simplified"), **{"$device_id": uid("d")}))
    img = httpx.get(server.url + "/track", params={"data": data, "img": "1"})
    assert img.headers["content-type"] == "image/gif"
    assert img.content.startswith(b"GIF89a")
    jsonp = httpx.get(server.url + "/track", params={"data": data, "callback": "mp.cb_1"})
    assert jsonp.text == "mp.cb_1(1)"
    verbose = httpx.get(
        server.url + "/track", params={"data": data, "callback": "cb", "verbose": "1"}
    )
    assert verbose.text == 'cb({"status":1,"error":null})'
    evil = httpx.get(server.url + "/track", params={"data": data, "callback": "alert(1)//"})
    assert evil.status_code == 400


def test_track_ignores_ip_underscore_and_test(server: LiveServer) -> None:
    data = b64(event(server.token("simplified"), **{"$device_id": uid("d")}))
    answer = httpx.get(
        server.url + "/track", params={"data": data, "ip": "1", "_": "123", "test": "1"}
    )
    assert answer.text == "1"


def test_track_cors_preflight_and_echo(server: LiveServer) -> None:
    origin = "http://app.example:3000"
    preflight = httpx.options(
        server.url + "/track/",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
    )
    assert preflight.status_code in (200, 204)
    assert preflight.headers["access-control-allow-origin"] == origin
    assert preflight.headers["access-control-allow-credentials"] == "true"
    assert "POST" in preflight.headers["access-control-allow-methods"]
    data = b64(event(server.token("simplified"), **{"$device_id": uid("d")}))
    answer = httpx.post(server.url + "/track", data={"data": data}, headers={"Origin": origin})
    assert answer.headers["access-control-allow-origin"] == origin


def test_track_refuses_merge_and_records_why(server: LiveServer) -> None:
    a, b = uid("a"), uid("b")
    merge = event(server.token("original"), "$merge", **{"$distinct_ids": [a, b]})
    assert httpx.get(server.url + "/track", params={"data": b64(merge)}).text == "1"
    history = server.identity("original", a)["history"]
    assert [(h["outcome"], h["reason"]) for h in history] == [("refused", "merge_requires_import")]
    assert server.cluster("original", a) == {a}
    warned = [w for w in server.warnings("original") if w["distinct_id"] in (a, b)]
    assert [w["reason"] for w in warned] == ["merge_requires_import"]


def test_track_unknown_token_answers_failure(server: LiveServer) -> None:
    data = b64(event("no-such-token-123", **{"$device_id": uid("d")}))
    answer = httpx.get(server.url + "/track", params={"data": data, "verbose": "1"})
    assert answer.status_code == 200
    assert answer.json()["status"] == 0
    assert "token" in answer.json()["error"]


def test_track_refusal_is_a_warning_and_the_rest_is_kept(server: LiveServer) -> None:
    device, user = uid("d"), uid("u")
    token = server.token("simplified")
    old = now_s() - 10 * 86400
    batch = [
        event(token, "ancient", time=old, **{"$device_id": device}),
        event(token, "login", **{"$device_id": device, "$user_id": user}),
    ]
    answer = httpx.post(server.url + "/track?verbose=1", data={"data": json.dumps(batch)})
    assert answer.json()["status"] == 0
    assert "properties.time" in answer.json()["error"]
    assert linked(server, "simplified", device, user)
    warned = [w for w in server.warnings("simplified") if w["event"] == "ancient"]
    assert warned and warned[0]["field"] == "properties.time"
    assert warned[0]["endpoint"] == "/track"


# -- /import -----------------------------------------------------------------------


def imported(server: LiveServer, mode: str, records: Any, **kwargs: Any) -> httpx.Response:
    kwargs.setdefault("auth", (server.secret(mode), ""))
    return httpx.post(server.url + "/import", json=records, timeout=30, **kwargs)


def import_event(name: str, distinct_id: str, **properties: Any) -> dict[str, Any]:
    props = {"time": now_s(), "distinct_id": distinct_id, "$insert_id": uuid.uuid4().hex}
    return {"event": name, "properties": {**props, **properties}}


def test_import_all_valid(server: LiveServer) -> None:
    a, b = uid("a"), uid("b")
    answer = imported(server, "original", [import_event("$merge", a, **{"$distinct_ids": [a, b]})])
    assert answer.status_code == 200
    assert answer.json() == {"code": 200, "num_records_imported": 1, "status": "OK"}
    assert server.cluster("original", a) == {a, b}


def test_import_strict_reports_failed_records(server: LiveServer) -> None:
    good = import_event("view", uid("u"))
    late = import_event("view", uid("u"), time=now_s() + 7200)
    late["properties"]["$insert_id"] = "late-1"
    junk = import_event("view", "undefined")
    junk["properties"]["$insert_id"] = "junk-1"
    answer = imported(server, "simplified", [good, late, junk])
    assert answer.status_code == 400
    body = answer.json()
    assert body["code"] == 400
    assert body["status"] == "Bad Request"
    assert body["error"] == "some data points in the request failed validation"
    assert body["num_records_imported"] == 1
    failed = {r["index"]: r for r in body["failed_records"]}
    assert set(failed) == {1, 2}
    assert failed[1]["insert_id"] == "late-1"
    assert failed[1]["field"] == "properties.time"
    assert failed[2]["field"] == "properties.distinct_id"
    assert all(r["message"] for r in failed.values())


def test_import_strict_0_keeps_the_valid_and_answers_ok(server: LiveServer) -> None:
    good = import_event("view", uid("u"))
    bad = import_event("view", uid("u"))
    del bad["properties"]["$insert_id"]
    answer = imported(server, "simplified", [good, bad], params={"strict": "0"})
    assert answer.status_code == 200
    assert answer.json()["num_records_imported"] == 1


def test_import_ndjson_gzip(server: LiveServer) -> None:
    a, b = uid("a"), uid("b")
    lines = "\n".join(
        json.dumps(r)
        for r in [import_event("view", a), import_event("$merge", a, **{"$distinct_ids": [a, b]})]
    )
    answer = httpx.post(
        server.url + "/import",
        content=gzip.compress(lines.encode()),
        headers={"Content-Type": "application/x-ndjson", "Content-Encoding": "gzip"},
        auth=(server.secret("original"), ""),
    )
    assert answer.json()["num_records_imported"] == 2
    assert server.cluster("original", b) == {a, b}


@pytest.mark.parametrize(
    "auth",
    [None, ("wrong-secret-123", ""), ("token-as-secret", "")],
)
def test_import_refuses_bad_credentials(server: LiveServer, auth: Any) -> None:
    if auth == ("token-as-secret", ""):
        auth = (server.token("simplified"), "")
    answer = httpx.post(server.url + "/import", json=[import_event("v", uid("u"))], auth=auth)
    assert answer.status_code == 401
    assert answer.json() == {
        "code": 401,
        "error": "Invalid credentials",
        "status": "Unauthorized",
    }


def test_import_service_account_with_project_id(server: LiveServer) -> None:
    secret = server.secret("simplified")
    project_id = str(server.projects["simplified"]["id"])
    for pid in (project_id, "simplified"):
        answer = imported(
            server,
            "simplified",
            [import_event("v", uid("u"))],
            auth=("svc.user", secret),
            params={"project_id": pid},
        )
        assert answer.status_code == 200, answer.text
    missing = imported(server, "simplified", [import_event("v", uid("u"))], auth=("svc", secret))
    assert missing.status_code == 401
    wrong = imported(
        server,
        "simplified",
        [import_event("v", uid("u"))],
        auth=("svc", secret),
        params={"project_id": "original"},
    )
    assert wrong.status_code == 401


def test_import_legacy_form_mode(server: LiveServer) -> None:
    a, b = uid("a"), uid("b")
    record = import_event("$merge", a, **{"$distinct_ids": [a, b]})
    answer = httpx.post(
        server.url + "/import",
        data={"data": json.dumps([record]), "verbose": "1"},
        auth=(server.secret("original"), ""),
    )
    assert answer.json() == {"status": 1, "error": None}
    assert server.cluster("original", a) == {a, b}


def test_import_too_many_events_is_413(server: LiveServer) -> None:
    records = [import_event("v", "u1") for _ in range(2001)]
    answer = imported(server, "simplified", records)
    assert answer.status_code == 413
    assert answer.json()["code"] == 413
    assert "2000" in answer.json()["error"] or "2,000" in answer.json()["error"]


def test_import_duplicate_identity_event_changes_nothing(server: LiveServer) -> None:
    a, b = uid("a"), uid("b")
    merge = import_event("$merge", a, **{"$distinct_ids": [a, b]})
    for _ in range(2):
        assert imported(server, "original", [merge]).status_code == 200
    merged = [h for h in server.identity("original", a)["history"] if h["outcome"] == "merged"]
    assert len(merged) == 1


# -- /engage and /groups -------------------------------------------------------------


def test_engage_verbose_2_answers_a_real_400(server: LiveServer) -> None:
    bad = {"$token": server.token("simplified"), "$distinct_id": uid("u"), "$frobnicate": {}}
    data = {"data": json.dumps([bad])}
    plain = httpx.post(server.url + "/engage", params={"verbose": "1"}, data=data)
    assert (plain.status_code, plain.json()["status"]) == (200, 0)
    assert "$frobnicate" in plain.json()["error"]
    strict = httpx.post(server.url + "/engage", params={"verbose": "2"}, data=data)
    assert (strict.status_code, strict.json()["status"]) == (400, 0)
    good = {"$token": server.token("simplified"), "$distinct_id": uid("u"), "$set": {"a": 1}}
    ok = httpx.post(
        server.url + "/engage", params={"verbose": "2"}, data={"data": json.dumps(good)}
    )
    assert ok.status_code == 200
    assert ok.json() == {"status": 1, "error": None}


def test_groups_get_base64_and_refuses_add(server: LiveServer) -> None:
    token = server.token("simplified")
    update = {"$token": token, "$group_key": "company", "$group_id": uid("g"), "$set": {"n": 1}}
    answer = httpx.get(server.url + "/groups/", params={"data": b64(update), "verbose": "1"})
    assert answer.json() == {"status": 1, "error": None}
    adding = {**update, "$add": {"n": 1}}
    del adding["$set"]
    refused = httpx.get(server.url + "/groups", params={"data": b64(adding), "verbose": "1"})
    assert refused.json()["status"] == 0
    assert "$add" in refused.json()["error"]
