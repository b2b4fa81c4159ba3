"""The read API over a real server: export, engage, mappings, split and the
discovery calls, with their answer shapes, errors and auth, under both path
families."""

from __future__ import annotations

import base64
import gzip
import io
import json
import time
import uuid
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from live import LiveServer

FAMILIES = ("/api/2.0", "/api/query")
MAY_1 = 1_714_521_600  # 2024-05-01 00:00:00 UTC, in seconds


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def guid() -> str:
    return str(uuid.uuid4())


def send(server: LiveServer, mode: str, events: list[dict[str, Any]]) -> None:
    """Import ``(name, properties)`` records, stamping time and insert ids."""
    for n, record in enumerate(events):
        props = record["properties"]
        props.setdefault("time", MAY_1 + n)
        props.setdefault("$insert_id", uuid.uuid4().hex)
    answer = httpx.post(
        server.url + "/import", params={"strict": "1"}, json=events, auth=(server.secret(mode), "")
    )
    assert answer.status_code == 200, answer.text


def event(name: str, **properties: Any) -> dict[str, Any]:
    return {"event": name, "properties": properties}


def get(server: LiveServer, mode: str, path: str, **params: Any) -> httpx.Response:
    return httpx.get(server.url + path, params=params, auth=(server.secret(mode), ""), timeout=30)


def export(server: LiveServer, mode: str, family: str = "/api/2.0", **params: Any) -> list[Any]:
    params = {"from_date": "2024-05-01", "to_date": "2024-05-01", **params}
    answer = get(server, mode, family + "/export", **params)
    assert answer.status_code == 200, answer.text
    return [json.loads(line) for line in answer.text.splitlines()]


def profile_update(server: LiveServer, mode: str, distinct_id: str, **values: Any) -> None:
    record = {"$token": server.token(mode), "$distinct_id": distinct_id, "$set": values}
    answer = httpx.post(server.url + "/engage", data={"data": json.dumps([record])})
    assert answer.text == "1"


@pytest.mark.parametrize("family", FAMILIES)
def test_export_resolves_ids_at_query_time(server: LiveServer, family: str) -> None:
    name, device, user = uid("Opened"), guid(), uid("user")
    send(
        server,
        "simplified",
        [event(name, distinct_id=f"$device:{device}", **{"$device_id": device})],
    )
    (line,) = export(server, "simplified", family, event=json.dumps([name]))
    assert line["properties"]["distinct_id"] == f"$device:{device}"
    send(server, "simplified", [event(uid("Login"), **{"$device_id": device, "$user_id": user})])
    (line,) = export(server, "simplified", family, event=json.dumps([name]))
    assert line["event"] == name
    assert line["properties"]["distinct_id"] == user
    assert line["properties"]["$distinct_id_before_identity"] == f"$device:{device}"
    assert line["properties"]["time"] == MAY_1
    assert {"$insert_id", "mp_processing_time_ms"} <= set(line["properties"])


def test_export_gzip_where_and_errors(server: LiveServer) -> None:
    name = uid("Bought")
    send(server, "original", [event(name, distinct_id=uid("u"), plan=p) for p in ("a", "b", "b")])
    answer = httpx.get(
        server.url + "/api/2.0/export",
        params={"from_date": "2024-05-01", "to_date": "2024-05-01", "event": json.dumps([name]),
                "where": 'properties["plan"] == "b"'},
        auth=(server.secret("original"), ""),
        headers={"Accept-Encoding": "gzip"},
    )  # fmt: skip
    assert answer.headers["content-encoding"] == "gzip"
    lines = answer.text.splitlines()  # httpx gunzips
    assert len(lines) == 2 and all(json.loads(x)["properties"]["plan"] == "b" for x in lines)

    bad = get(server, "original", "/api/2.0/export", from_date="2024-05-01",
              to_date="2024-05-01", where='properties["plan"] ==')  # fmt: skip
    assert bad.status_code == 400
    assert bad.json()["request"].startswith("/api/2.0/export?")
    assert "position" in bad.json()["error"]
    too_many = get(server, "original", "/api/2.0/export", from_date="2024-05-01",
                   to_date="2024-05-01", limit="100001")  # fmt: skip
    assert too_many.status_code == 400 and "limit" in too_many.json()["error"]
    missing = get(server, "original", "/api/2.0/export", from_date="2024-05-01")
    assert missing.status_code == 400 and "to_date" in missing.json()["error"]


@pytest.mark.parametrize(
    "auth, status",
    [(None, 401), (("wrong-secret", ""), 401), (("someone", "wrong-secret"), 401)],
)
def test_read_api_needs_the_secret(server: LiveServer, auth: Any, status: int) -> None:
    for path in ("/api/2.0/export", "/api/query/engage", "/api/identity/mappings"):
        answer = httpx.get(
            server.url + path, params={"from_date": "2024-05-01", "to_date": "2024-05-01",
                                        "project_id": "simplified"}, auth=auth,
        )  # fmt: skip
        assert answer.status_code == status, path
        assert set(answer.json()) >= {"request", "error"}


def test_service_account_and_bare_secret(server: LiveServer) -> None:
    secret = server.secret("legacy")
    for auth, params in (
        (("svc", secret), {"project_id": "legacy"}),
        ((secret, ""), {}),
    ):
        answer = httpx.get(server.url + "/api/query/cohorts/list", params=params, auth=auth)
        assert answer.status_code == 200 and answer.json() == []
    bare = httpx.get(  # Airbyte and tap-mixpanel send base64(secret), no colon
        server.url + "/api/2.0/cohorts/list",
        headers={"Authorization": "Basic " + base64.b64encode(secret.encode()).decode()},
    )
    assert bare.status_code == 200
    plain = httpx.get(  # a service account as plain user:secret, not base64
        server.url + "/api/2.0/cohorts/list",
        params={"project_id": "legacy"},
        headers={"Authorization": f"Basic svc:{secret}"},
    )
    assert plain.status_code == 200
    garbled = httpx.get(  # neither base64 nor user:secret
        server.url + "/api/2.0/cohorts/list", headers={"Authorization": "Basic !!not-base64!!"}
    )
    assert garbled.status_code == 401 and "HTTP Basic" in garbled.json()["error"]


@pytest.mark.parametrize("mode", ["simplified", "original", "cdp"])
def test_engage_finds_the_cluster_profile_by_any_id(server: LiveServer, mode: str) -> None:
    device, user = guid(), uid("user")
    anonymous = device if mode == "original" else f"$device:{device}"
    profile_update(server, mode, anonymous, plan="free", referrer="ad")
    profile_update(server, mode, user, plan="pro", email=f"{user}@x")
    if mode == "original":
        login = event("$identify", distinct_id=user, **{"$anon_distinct_id": device})
    else:
        login = event("Login", distinct_id=user, **{"$device_id": device, "$user_id": user})
    send(server, mode, [login])
    for asked in (anonymous, user):
        answer = get(server, mode, "/api/2.0/engage", distinct_id=asked).json()
        (row,) = answer["results"]
        assert row["$distinct_id"] == user
        props = row["$properties"]
        assert props["plan"] == "pro" and props["email"] == f"{user}@x"
        # the Mixpanel modes hide the other profile; cdp fills the gaps from it
        assert ("referrer" in props) == (mode == "cdp")


def test_engage_pages_where_and_output_properties(server: LiveServer) -> None:
    cohort = uid("cohort")
    ids = [f"{cohort}-{n:02d}" for n in range(25)]
    records = [
        {"$token": server.token("legacy"), "$distinct_id": x, "$set": {"cohort": cohort, "n": n}}
        for n, x in enumerate(ids)
    ]
    assert httpx.post(server.url + "/engage", data={"data": json.dumps(records)}).text == "1"
    where = f'properties["cohort"] == "{cohort}" and properties["n"] >= 5'
    first = get(server, "legacy", "/api/query/engage", where=where, page_size=10,
                output_properties=json.dumps(["n"])).json()  # fmt: skip
    assert first["total"] == 20 and first["page"] == 0 and first["page_size"] == 10
    assert first["status"] == "ok"
    seen = [r["$distinct_id"] for r in first["results"]]
    assert all(set(r["$properties"]) == {"n"} for r in first["results"])
    session = first["session_id"]
    # later pages of the session, by JSON POST (mixpanel-headless) and form POST (docs)
    second = httpx.post(
        server.url + "/api/query/engage/", auth=(server.secret("legacy"), ""),
        json={"where": where, "page": 1, "page_size": 10, "session_id": session},
    ).json()  # fmt: skip
    third = httpx.post(
        server.url + "/api/2.0/engage", auth=(server.secret("legacy"), ""),
        data={"where": where, "page": "2", "page_size": "10", "session_id": session},
    ).json()  # fmt: skip
    assert second["session_id"] == third["session_id"] == session
    seen += [r["$distinct_id"] for r in second["results"]]
    assert third["results"] == []
    assert seen == ids[5:]
    selector = get(server, "legacy", "/api/2.0/engage",
                   selector=f'properties["cohort"] == "{cohort}"').json()  # fmt: skip
    assert selector["total"] == 25


def test_mappings_in_three_formats_and_split(server: LiveServer) -> None:
    device, user = guid(), uid("user")
    name = uid("Opened")
    send(
        server,
        "original",
        [
            event(name, distinct_id=device),
            event("$identify", distinct_id=user, **{"$anon_distinct_id": device,
                                                    "$insert_id": f"login-{user}"}),
        ],
    )  # fmt: skip
    rows = get(server, "original", "/api/identity/mappings").text.splitlines()
    assert {"distinct_id": device, "resolved_distinct_id": user} in map(json.loads, rows)
    csv = get(server, "original", "/api/identity/mappings", format="csv")
    assert f"{device},{user}" in csv.text.splitlines()
    parquet = get(server, "original", "/api/identity/mappings", format="parquet")
    table = pq.read_table(io.BytesIO(parquet.content)).to_pylist()
    assert {"distinct_id": device, "resolved_distinct_id": user} in table
    for answer, suffix in ((csv, "csv"), (parquet, "parquet")):
        disposition = f'attachment; filename="original-identity-mappings.{suffix}"'
        assert answer.headers["content-disposition"] == disposition
    bad = get(server, "original", "/api/identity/mappings", format="xml")
    assert bad.status_code == 400 and "format" in bad.json()["error"]

    preview = httpx.post(
        server.url + "/api/identity/split", auth=(server.secret("original"), ""),
        json={"insert_id": f"login-{user}", "dry_run": True},
    )  # fmt: skip
    assert preview.status_code == 200, preview.text
    assert preview.json()["dry_run"] is True and preview.json()["moved_ids"] == [device]
    (line,) = export(server, "original", event=json.dumps([name]))
    assert line["properties"]["distinct_id"] == user  # a preview writes nothing
    split = httpx.post(
        server.url + "/api/identity/split", auth=(server.secret("original"), ""),
        json={"insert_id": f"login-{user}"},
    )  # fmt: skip
    assert split.status_code == 200, split.text
    assert "dry_run" not in split.json()
    assert split.json()["moved_events"] == preview.json()["moved_events"] >= 1
    assert split.json()["clusters"][device] == {"resolved_distinct_id": device, "cluster": [device]}
    (line,) = export(server, "original", event=json.dumps([name]))
    assert line["properties"]["distinct_id"] == device  # re-attributed at once
    again = httpx.post(
        server.url + "/api/identity/split", auth=(server.secret("original"), ""),
        json={"insert_id": f"login-{user}"},
    )  # fmt: skip
    assert again.status_code == 400 and "undone already" in again.json()["error"]
    nothing = httpx.post(server.url + "/api/identity/split", auth=(server.secret("original"), ""),
                         json={})  # fmt: skip
    assert nothing.status_code == 400


@pytest.mark.parametrize("family", FAMILIES)
def test_discovery_calls(server: LiveServer, family: str) -> None:
    """Names and properties are counted over the 31 days up to the project's newest
    event, so this test's event is sent as of now (other tests send newer ones)."""
    name, user = uid("Discovered"), uid("user")
    now = int(time.time())
    today = time.strftime("%Y-%m-%d", time.gmtime(now))
    send(
        server,
        "cdp",
        [event(name, distinct_id=user, time=now, **{"$user_id": user, "color": "red"})],
    )
    profile_update(server, "cdp", user, **{"seats": 3, "$last_seen_at": "2024-05-01T10:00:00"})
    assert name in get(server, "cdp", family + "/events/names", type="general", limit=10000).json()
    top = get(server, "cdp", family + "/events/properties/top", event=name).json()
    assert top["color"] == {"count": 1}
    assert "color" in get(server, "cdp", family + "/events/properties/top", limit=2000).json()
    props = get(server, "cdp", family + "/engage/properties").json()
    assert props["status"] == "ok"
    assert props["results"]["seats"]["type"] == "number"
    assert props["results"]["$last_seen_at"]["type"] == "datetime"
    stream = get(server, "cdp", family + "/stream/query", distinct_ids=json.dumps([user]),
                 from_date=today, to_date=today).json()  # fmt: skip
    (found,) = [e for e in stream["results"]["events"] if e["event"] == name]
    assert found["properties"]["$distinct_id"] == found["properties"]["distinct_id"] == user
    assert get(server, "cdp", family + "/cohorts/list").json() == []


def test_unknown_read_path_is_a_json_404(server: LiveServer) -> None:
    answer = get(server, "cdp", "/api/2.0/nothing-here")
    assert answer.status_code == 404 and "no endpoint" in answer.json()["error"]


def test_export_is_not_truncated_by_streaming(server: LiveServer) -> None:
    """More lines than one Arrow batch, plain and gzip, all present."""
    name = uid("Bulk")
    for start in range(0, 3000, 1000):
        send(
            server,
            "legacy",
            [event(name, distinct_id=f"bulk-{n}") for n in range(start, start + 1000)],
        )
    lines = export(server, "legacy", event=json.dumps([name]))
    assert len(lines) == 3000
    with httpx.stream(
        "GET",
        server.url + "/api/2.0/export",
        params={"from_date": "2024-05-01", "to_date": "2024-05-01", "event": json.dumps([name])},
        auth=(server.secret("legacy"), ""), headers={"Accept-Encoding": "gzip"},
    ) as answer:  # fmt: skip
        raw = b"".join(answer.iter_raw())
    assert raw[:2] == b"\x1f\x8b"
    assert len(gzip.decompress(raw).decode().splitlines()) == 3000


def test_legacy_engage_reads_the_alias_target_profile(server: LiveServer) -> None:
    """Legacy resolves at ingestion: after ``alias(user -> device)`` an update sent to
    the user id lands on the device's profile, which both ids find; the device is the
    id the answer names (the alias maps to it)."""
    device, user = guid(), uid("user")
    profile_update(server, "legacy", device, plan="free")
    send(server, "legacy", [event("$create_alias", distinct_id=device, alias=user)])
    profile_update(server, "legacy", user, plan="pro")
    for asked in (device, user):
        (row,) = get(server, "legacy", "/api/2.0/engage", distinct_id=asked).json()["results"]
        assert row["$distinct_id"] == device
        assert row["$properties"]["plan"] == "pro"
    rows = get(server, "legacy", "/api/identity/mappings").text.splitlines()
    assert {"distinct_id": user, "resolved_distinct_id": device} in map(json.loads, rows)


def test_warnings_filter_by_reason(server: LiveServer) -> None:
    user = uid("user")
    send(
        server,
        "original",
        [event("$identify", distinct_id=user, **{"$anon_distinct_id": "undefined"})],
    )
    found = server.warnings("original", reason="errJunkId", limit=1000)
    assert found and {w["reason"] for w in found} == {"errJunkId"}
    assert any(w["distinct_id"] == user for w in found)
    assert server.warnings("original", reason="noSuchReason") == []


@pytest.mark.parametrize("mode", ["simplified", "original", "legacy", "cdp"])
def test_an_unknown_id_is_a_cluster_of_one(server: LiveServer, mode: str) -> None:
    """spec/query-api.md: every id is a user, so explain answers 200, not 404."""
    nobody = uid("never-seen")
    answer = get(server, mode, "/api/identity", distinct_id=nobody)
    assert answer.status_code == 200
    assert answer.json() == {
        "distinct_id": nobody,
        "resolved_distinct_id": nobody,
        "cluster": [nobody],
        "history": [],
    }
