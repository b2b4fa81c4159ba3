"""The official ``mixpanel-browser`` SDK, unmodified, in headless Chromium, against a live
server: the identity flows Mixpanel documents give the clusters ``spec/identity.md``
promises, in ``simplified`` and ``original`` projects, batched or not, with base64 or
JSON payloads.

Each step runs in the page and returns once the server has answered everything the SDK
sent; the test then asks ``GET /api/identity``. What the SDK itself sends for
``identify``/``alias``/``reset`` is asserted too, so that a change in the SDK shows up
as such rather than as a server bug.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from .conftest import OpenPage
from .harness import Step
from live import LiveServer, assert_one_user

TRANSPORTS = [
    pytest.param(True, "base64", id="batch-base64"),
    pytest.param(True, "json", id="batch-json"),
    pytest.param(False, "base64", id="single-base64"),
    pytest.param(False, "json", id="single-json"),
]


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def device(device_id: str) -> str:
    return f"$device:{device_id}"


def assert_sent_as(step: Step, *, batch: bool, payload_format: str) -> None:
    """Every request of the step was accepted, in the shape the SDK was configured for."""
    assert step.requests, "the step sent nothing"
    for request in step.requests:
        where = f"{request.method} {request.path}"
        assert request.status == 200, f"{where}: {request.status} {request.response}"
        if batch:  # the batcher always asks for a verbose answer
            assert request.query.get("verbose") == ["1"], where
            assert json.loads(request.response)["status"] == 1, f"{where}: {request.response}"
            assert isinstance(request.payload, list), f"{where}: a batch is an array"
        else:
            assert request.response.strip() == "1", f"{where}: {request.response}"
            assert isinstance(request.payload, dict), f"{where}: one object per request"
        assert request.payload_format == payload_format, where


def history(server: LiveServer, mode: str, *ids: str) -> list[dict[str, Any]]:
    entries = {}
    for distinct_id in ids:
        for entry in server.identity(mode, distinct_id)["history"]:
            entries[entry["seq"]] = entry
    return [entries[seq] for seq in sorted(entries)]


def has_entry(entries: list[dict[str, Any]], **expected: Any) -> bool:
    return any(all(entry.get(k) == v for k, v in expected.items()) for entry in entries)


def only(events: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(events) == 1, events
    properties: dict[str, Any] = events[0]["properties"]
    return properties


# -- simplified --------------------------------------------------------------------------


@pytest.mark.parametrize(("batch", "payload_format"), TRANSPORTS)
def test_simplified_sign_in_then_reset_and_a_second_user(
    open_page: OpenPage, server: LiveServer, batch: bool, payload_format: str
) -> None:
    mode = "simplified"
    user_u, user_v = uid("u"), uid("v")
    with open_page(mode, batch_requests=batch, api_payload_format=payload_format) as page:
        # Anonymous: the SDK names the visitor $device:<uuid>.
        step = page.run("mp.track('Viewed landing page');")
        assert_sent_as(step, batch=batch, payload_format=payload_format)
        d1 = step.device_id
        assert only(step.events("Viewed landing page"))["distinct_id"] == device(d1)
        assert assert_one_user(server, mode, {device(d1)}) == device(d1)

        # identify() alone sends $identify carrying both ids; it has no identity meaning.
        step = page.run(f"mp.identify({json.dumps(user_u)});")
        assert_sent_as(step, batch=batch, payload_format=payload_format)
        sent = only(step.events("$identify"))
        assert (sent["$user_id"], sent["$device_id"]) == (user_u, d1)
        assert assert_one_user(server, mode, {device(d1)}) == device(d1)
        assert has_entry(
            history(server, mode, user_u, device(d1)),
            event="$identify",
            outcome="ignored",
            reason="mode_simplified_ignores_event",
        )

        # The next event carries $device_id and $user_id: the device joins the user.
        step = page.run("mp.track('Signed in');")
        assert_sent_as(step, batch=batch, payload_format=payload_format)
        assert assert_one_user(server, mode, {user_u, device(d1)}) == user_u
        assert has_entry(history(server, mode, user_u), outcome="linked")

        # Log out: reset() makes a new device id; the next person signs in on it.
        step = page.run("mp.reset(); mp.track('Viewed landing page');")
        d2 = step.device_id
        assert d2 != d1
        assert only(step.events())["distinct_id"] == device(d2)
        step = page.run(f"mp.identify({json.dumps(user_v)}); mp.track('Signed in');")
        assert_sent_as(step, batch=batch, payload_format=payload_format)

    assert assert_one_user(server, mode, {user_v, device(d2)}) == user_v
    assert assert_one_user(server, mode, {user_u, device(d1)}) == user_u


def test_simplified_alias_merges_nothing(open_page: OpenPage, server: LiveServer) -> None:
    """In a Simplified project $create_alias is ignored, and the device, already U's,
    is not handed to the alias."""
    mode = "simplified"
    user_u, alias_a = uid("u"), uid("a")
    with open_page(mode) as page:
        d1 = page.run(f"mp.track('Landed'); mp.identify({json.dumps(user_u)}); mp.track('In');")
        d1_id = d1.device_id
        step = page.run(f"mp.alias({json.dumps(alias_a)});")
        sent = only(step.events("$create_alias"))
        assert (sent["alias"], sent["distinct_id"]) == (alias_a, user_u)
        # alias() ends with identify(alias): the SDK's $user_id is now the alias.
        step = page.run("mp.track('After alias');")
        sent = only(step.events("After alias"))
        assert (sent["$user_id"], sent["$device_id"]) == (alias_a, d1_id)

    assert assert_one_user(server, mode, {user_u, device(d1_id)}) == user_u
    assert assert_one_user(server, mode, {alias_a}) == alias_a
    entries = history(server, mode, user_u, alias_a, device(d1_id))
    assert has_entry(
        entries, event="$create_alias", outcome="ignored", reason="mode_simplified_ignores_event"
    )
    assert has_entry(
        entries, event="After alias", outcome="refused", reason="errAnonDistinctIdAssignedAlready"
    )


@pytest.mark.parametrize("mode", ["simplified", "original"])
def test_returning_user_on_a_second_browser(
    open_page: OpenPage, server: LiveServer, mode: str
) -> None:
    user = uid("u")
    sign_in = f"mp.track('Landed'); await h.settle(); mp.identify({json.dumps(user)});"
    sign_in += " mp.track('Signed in');"
    with open_page(mode) as laptop:
        d1 = laptop.run(sign_in).device_id
    with open_page(mode, batch_requests=False, api_payload_format="json") as phone:
        d2 = phone.run(sign_in).device_id
    assert d1 != d2

    resolved = assert_one_user(server, mode, {user, device(d1), device(d2)})
    if mode == "simplified":
        assert resolved == user


@pytest.mark.parametrize("payload_format", ["base64", "json"])
@pytest.mark.parametrize("mode", ["simplified", "original"])
def test_a_whole_sign_in_in_one_batch(
    open_page: OpenPage, server: LiveServer, mode: str, payload_format: str
) -> None:
    """Every item of a batch counts, not only the first. (The SDK queues asynchronously:
    the script waits for each item so that the batch holds them in this order.)"""
    user = uid("u")
    with open_page(mode, batch_autostart=False, api_payload_format=payload_format) as page:
        step = page.run(
            f"""mp.track('Viewed landing page');
            await h.untilQueued(1);
            mp.identify({json.dumps(user)});
            await h.untilQueued(2);
            mp.track('Signed in');
            await h.untilQueued(3);
            mp.start_batch_senders();"""
        )
    assert_sent_as(step, batch=True, payload_format=payload_format)
    (batch,) = [r for r in step.requests if r.path.rstrip("/").endswith("/track")]
    assert [e["event"] for e in batch.items] == ["Viewed landing page", "$identify", "Signed in"]

    resolved = assert_one_user(server, mode, {user, device(step.device_id)})
    if mode == "simplified":
        assert resolved == user


# -- original ----------------------------------------------------------------------------


@pytest.mark.parametrize(("batch", "payload_format"), [TRANSPORTS[0], TRANSPORTS[3]])
def test_original_identify_alias_then_reset_and_a_second_user(
    open_page: OpenPage, server: LiveServer, batch: bool, payload_format: str
) -> None:
    mode = "original"
    user_u, alias_a, user_v = uid("u"), uid("a"), uid("v")
    with open_page(mode, batch_requests=batch, api_payload_format=payload_format) as page:
        step = page.run("mp.track('Viewed landing page');")
        d1 = step.device_id
        assert_one_user(server, mode, {device(d1)})

        # identify() sends $identify: distinct_id = the new id, $anon_distinct_id = the old.
        step = page.run(f"mp.identify({json.dumps(user_u)});")
        assert_sent_as(step, batch=batch, payload_format=payload_format)
        sent = only(step.events("$identify"))
        assert (sent["distinct_id"], sent["$anon_distinct_id"]) == (user_u, device(d1))
        assert_one_user(server, mode, {user_u, device(d1)})

        # alias() sends $create_alias {alias, distinct_id: the current id}.
        step = page.run(f"mp.alias({json.dumps(alias_a)});")
        assert_sent_as(step, batch=batch, payload_format=payload_format)
        sent = only(step.events("$create_alias"))
        assert (sent["alias"], sent["distinct_id"]) == (alias_a, user_u)
        assert_one_user(server, mode, {user_u, alias_a, device(d1)})

        # reset() on a shared computer: the next person starts from a new anonymous id.
        step = page.run("mp.reset(); mp.track('Viewed landing page');")
        d2 = step.device_id
        assert d2 != d1
        assert_one_user(server, mode, {device(d2)})
        step = page.run(f"mp.identify({json.dumps(user_v)}); mp.track('Signed in');")
        assert_sent_as(step, batch=batch, payload_format=payload_format)
        sent = only(step.events("$identify"))
        assert (sent["distinct_id"], sent["$anon_distinct_id"]) == (user_v, device(d2))

    assert_one_user(server, mode, {user_v, device(d2)})
    assert_one_user(server, mode, {user_u, alias_a, device(d1)})


def test_original_second_user_without_reset_is_not_merged(
    open_page: OpenPage, server: LiveServer
) -> None:
    """Without reset() the second identify names the first user as the anonymous id;
    that id is no GUID, so the two users stay apart (Mixpanel's shared-device guard)."""
    mode = "original"
    user_u, user_w = uid("u"), uid("w")
    with open_page(mode) as page:
        d1 = page.run(f"mp.track('Landed'); await h.settle(); mp.identify({json.dumps(user_u)});")
        step = page.run(f"mp.identify({json.dumps(user_w)});")
        sent = only(step.events("$identify"))
        assert (sent["distinct_id"], sent["$anon_distinct_id"]) == (user_w, user_u)

    assert_one_user(server, mode, {user_u, device(d1.device_id)})
    assert assert_one_user(server, mode, {user_w}) == user_w
    assert has_entry(
        history(server, mode, user_u, user_w),
        event="$identify",
        outcome="refused",
        reason="errAnonDistinctIdNonGUIDForm",
    )
