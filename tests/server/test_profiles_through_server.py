"""Profiles sent through the server land on the resolved id's profile; a merge hides
the other profile in the Mixpanel modes and combines them in cdp."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from idmerge.identity import Mode
from idmerge.ingest import ProjectWriter
from idmerge.profiles.reading import group_profile, person_profile
from idmerge.projects import get_project
from idmerge.storage.duckdb import open_store

from live import LiveServer


def _profiles(server: LiveServer, mode: str, distinct_id: str) -> dict[str, Any] | None:
    """The profile a reader sees for ``distinct_id``, from the stopped server's store."""
    store = open_store(server.data_dir)
    try:
        writer = ProjectWriter(store, get_project(store, mode))
        cluster = writer.engine.cluster(distinct_id)
        return person_profile(writer.profiles, cluster, cluster[0], Mode(mode))
    finally:
        store.close()


def _engage(server: LiveServer, mode: str, records: list[dict[str, Any]]) -> None:
    for record in records:
        record["$token"] = server.token(mode)
    answer = httpx.post(
        server.url + "/engage", params={"verbose": "1"}, data={"data": json.dumps(records)}
    )
    assert answer.json() == {"status": 1, "error": None}


def test_cdp_combines_profiles_primary_wins(fresh_server: LiveServer) -> None:
    server = fresh_server
    auth = (server.token("cdp"), "")
    batch = {
        "batch": [
            {"type": "identify", "anonymousId": "anon-1",
             "traits": {"plan": "free", "referrer": "ad"}},
            {"type": "identify", "userId": "user-1", "traits": {"plan": "pro", "email": "a@x"}},
            {"type": "alias", "userId": "user-1", "previousId": "anon-1"},
            {"type": "group", "userId": "user-1", "groupId": "acme", "traits": {"seats": 5}},
        ]
    }  # fmt: skip
    assert httpx.post(server.url + "/v1/batch", json=batch, auth=auth).status_code == 200
    assert server.identity("cdp", "$device:anon-1")["resolved_distinct_id"] == "user-1"
    server.stop()
    seen = _profiles(server, "cdp", "$device:anon-1")
    assert seen is not None
    assert {k: v for k, v in seen.items() if not k.startswith("$")} == {
        "plan": "pro",  # the survivor wins a conflict
        "email": "a@x",
        "referrer": "ad",  # and the gaps are filled from the folded profile
    }
    store = open_store(server.data_dir)
    try:
        writer = ProjectWriter(store, get_project(store, "cdp"))
        group = group_profile(writer.profiles, "groupId", "acme")
        assert group is not None and group["seats"] == 5
    finally:
        store.close()


def test_mixpanel_mode_hides_the_merged_profile(fresh_server: LiveServer) -> None:
    server = fresh_server
    now = int(time.time())
    _engage(server, "original", [{"$distinct_id": "anon-9", "$set": {"color": "red", "a": 1}}])
    _engage(server, "original", [{"$distinct_id": "user-9", "$set": {"color": "blue"}}])
    merge = {
        "event": "$merge",
        "properties": {"time": now, "$distinct_ids": ["user-9", "anon-9"], "$insert_id": "m-9"},
    }
    answer = httpx.post(server.url + "/import", json=[merge], auth=(server.secret("original"), ""))
    assert answer.status_code == 200
    # an update sent to either id now lands on the resolved id's profile
    _engage(server, "original", [{"$distinct_id": "anon-9", "$add": {"visits": 2}}])
    resolved = server.identity("original", "anon-9")["resolved_distinct_id"]
    server.stop()
    seen = _profiles(server, "original", "anon-9")
    assert seen is not None
    visible = {k: v for k, v in seen.items() if not k.startswith("$")}
    if resolved == "user-9":
        assert visible == {"color": "blue", "visits": 2}  # anon-9's profile is hidden
    else:
        assert visible == {"color": "red", "a": 1, "visits": 2}


def test_updates_apply_in_time_order_not_arrival_order(fresh_server: LiveServer) -> None:
    server = fresh_server
    now = int(time.time())
    _engage(server, "simplified", [{"$distinct_id": "u-t", "$time": now, "$set": {"v": "new"}}])
    _engage(
        server, "simplified", [{"$distinct_id": "u-t", "$time": now - 60, "$set": {"v": "old"}}]
    )
    server.stop()
    seen = _profiles(server, "simplified", "u-t")
    assert seen is not None and seen["v"] == "new"
