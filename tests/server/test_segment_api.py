"""The Segment / Customer.io endpoints over loopback: auth, translation, clock skew,
dedup and limits."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from live import LiveServer


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def send(
    server: LiveServer, call: str, body: dict[str, Any], *, mode: str = "cdp", **kw: Any
) -> httpx.Response:
    kw.setdefault("auth", (server.token(mode), ""))
    return httpx.post(server.url + f"/v1/{call}", json=body, **kw)


@pytest.mark.parametrize("call", ["track", "page", "screen", "identify"])
def test_each_call_links_anonymous_and_user(server: LiveServer, call: str) -> None:
    anon, user = uid("a"), uid("u")
    body: dict[str, Any] = {"userId": user, "anonymousId": anon, "messageId": uid("m")}
    if call == "track":
        body["event"] = "Signed Up"
    answer = send(server, call, body)
    assert (answer.status_code, answer.json()) == (200, {"success": True})
    assert server.cluster("cdp", user) == {user, f"$device:{anon}"}


def test_alias_folds_previous_id_into_user(server: LiveServer) -> None:
    anon, user = uid("a"), uid("u")
    assert send(server, "track", {"anonymousId": anon, "event": "Viewed"}).status_code == 200
    assert send(server, "alias", {"userId": user, "previousId": anon}).status_code == 200
    answer = server.identity("cdp", f"$device:{anon}")
    assert answer["resolved_distinct_id"] == user


def test_write_key_in_body(server: LiveServer) -> None:
    anon, user = uid("a"), uid("u")
    body = {"writeKey": server.token("cdp"), "userId": user, "anonymousId": anon, "event": "x"}
    assert send(server, "track", body, auth=None).status_code == 200
    assert f"$device:{anon}" in server.cluster("cdp", user)


def test_batch_and_message_dedup(server: LiveServer) -> None:
    anon, user, other = uid("a"), uid("u"), uid("v")
    message_id = uid("m")
    batch = {
        "batch": [
            {"type": "identify", "userId": user, "anonymousId": anon, "traits": {"plan": "pro"}},
            {"type": "track", "userId": other, "anonymousId": anon, "event": "x",
             "messageId": message_id},
        ]
    }  # fmt: skip
    assert send(server, "batch", batch).json() == {"success": True}
    assert send(server, "batch", batch).json() == {"success": True}
    assert server.cluster("cdp", user) == {user, f"$device:{anon}"}
    refusals = [h for h in server.identity("cdp", other)["history"] if h["outcome"] == "refused"]
    assert [h["reason"] for h in refusals] == ["errAnonDistinctIdAssignedAlready"]


def test_unknown_write_key_is_401(server: LiveServer) -> None:
    answer = send(server, "track", {"userId": "u", "event": "e"}, auth=("nope-nope-nope", ""))
    assert answer.status_code == 401
    assert answer.json()["success"] is False


def test_unknown_call_is_404(server: LiveServer) -> None:
    answer = send(server, "launch", {"userId": "u"})
    assert answer.status_code == 404
    assert "/v1/track" in answer.json()["message"]


def test_bad_message_refuses_the_whole_request(server: LiveServer) -> None:
    good, bad_user = uid("u"), uid("a")
    batch = {
        "batch": [
            {"type": "track", "userId": good, "anonymousId": bad_user, "event": "x"},
            {"type": "track", "event": "no user"},
        ]
    }
    answer = send(server, "batch", batch)
    assert answer.status_code == 400
    assert "1" in answer.json()["message"]
    assert server.cluster("cdp", good) == {good}


def test_mixpanel_mode_alias_is_create_alias(server: LiveServer) -> None:
    old, new = uid("old"), uid("new")
    assert send(server, "track", {"userId": old, "event": "x"}, mode="original").status_code == 200
    assert send(server, "alias", {"userId": new, "previousId": old}, mode="original").json() == {
        "success": True
    }
    assert server.cluster("original", new) == {old, new}
    assert json.dumps(server.identity("original", new)["history"]).count("$create_alias") == 1
