"""``mixpanel-utils`` (PyPI, Mixpanel's own export tool) reading data back out of a
real server: raw export plain and gzip, to memory and to a file, and profiles through
its concurrent ``/engage`` paging; what comes back equals what was ingested, on
resolved ids. Pointed at the server by overwriting its base-URL attributes, as
``reference/mixpanel_query.md`` §7.1 shows."""

from __future__ import annotations

import gzip
import json
import logging
from pathlib import Path

import httpx
import pytest
from mixpanel_utils import MixpanelUtils

from .support import guid, unique
from live import LiveServer

MAY_1 = 1_714_521_600


def utils_for(server: LiveServer, mode: str, auth: str) -> MixpanelUtils:
    extra: dict[str, str] = {}
    if auth == "service_account":
        extra = {"service_account_username": "svc-reader", "project_id": mode}
    utils = MixpanelUtils(
        server.secret(mode), pool_size=2, read_pool_size=4, max_retries=1, **extra
    )
    utils.raw_api = server.url + "/api"
    utils.formatted_api = server.url + "/api"
    utils.import_api = server.url
    return utils


def ingest(server: LiveServer, mode: str, records: list[dict[str, object]]) -> None:
    for n in range(0, len(records), 2000):
        answer = httpx.post(server.url + "/import", params={"strict": "1"},
                            json=records[n : n + 2000], auth=(server.secret(mode), ""))  # fmt: skip
        assert answer.status_code == 200, answer.text


@pytest.mark.parametrize("auth", ["api_secret", "service_account"])
def test_export_plain_gzip_and_to_a_file(
    server: LiveServer, auth: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    mode = "original"
    name = unique("Exported")
    pairs = [(guid(), unique("user")) for _ in range(5)]
    records: list[dict[str, object]] = []
    for n, (anonymous, user) in enumerate(pairs):
        key = anonymous[:8]
        records += [
            {"event": name, "properties": {"distinct_id": anonymous, "time": MAY_1 + n,
                                           "$insert_id": f"{key}-0", "n": n}},
            {"event": "$identify", "properties": {"distinct_id": user, "time": MAY_1 + n + 1,
             "$insert_id": f"{key}-1", "$anon_distinct_id": anonymous}},
            {"event": name, "properties": {"distinct_id": user, "time": MAY_1 + n + 2,
                                           "$insert_id": f"{key}-2", "n": n}},
        ]  # fmt: skip
    ingest(server, mode, records)
    expected = {
        f"{anonymous[:8]}-{k}": user for anonymous, user in pairs for k in (0, 2)
    }  # every event of the person, on the resolved (identified) id
    utils = utils_for(server, mode, auth)
    params = {"from_date": "2024-05-01", "to_date": "2024-05-01", "event": json.dumps([name])}
    with caplog.at_level(logging.WARNING, logger="mixpanel_utils"):
        plain = utils.query_export(dict(params))
        zipped = utils.query_export(dict(params), add_gzip_header=True)
        utils.export_events(str(tmp_path / "out.json"), dict(params), add_gzip_header=True)
        utils.export_events(str(tmp_path / "packed.json"), dict(params), compress=True)
    assert [r.getMessage() for r in caplog.records if r.name == "mixpanel_utils"] == []
    for found in (plain, zipped):
        assert {
            e["properties"]["$insert_id"]: e["properties"]["distinct_id"] for e in found
        } == expected
        assert all(e["event"] == name for e in found)
    written = json.loads((tmp_path / "out.json").read_text())
    assert {e["properties"]["$insert_id"] for e in written} == set(expected)
    compressed = json.loads(gzip.decompress((tmp_path / "packed.json.gz").read_bytes()))
    assert {e["properties"]["$insert_id"] for e in compressed} == set(expected)
    where = dict(params, where='properties["n"] == 3')
    assert {e["properties"]["n"] for e in utils.query_export(where)} == {3}


def test_engage_concurrent_paging_returns_every_profile_once(server: LiveServer) -> None:
    """2,500 profiles at Mixpanel's page size of 1,000: pages 1 and 2 are fetched
    concurrently with page 0's session_id."""
    mode = "simplified"
    cohort = unique("cohort")
    records = [
        {"$token": server.token(mode), "$distinct_id": f"{cohort}-{n:04d}",
         "$set": {"cohort": cohort, "n": n, "$email": f"{n}@{cohort}.test"}}
        for n in range(2500)
    ]  # fmt: skip
    for start in range(0, len(records), 2000):
        answer = httpx.post(
            server.url + "/engage", data={"data": json.dumps(records[start : start + 2000])}
        )
        assert answer.text == "1"
    utils = utils_for(server, mode, "api_secret")
    profiles = utils.query_engage(
        {"where": f'properties["cohort"] == "{cohort}"', "output_properties": ["n", "$email"]}
    )
    assert len(profiles) == 2500
    assert sorted(p["$distinct_id"] for p in profiles) == [r["$distinct_id"] for r in records]
    assert all(
        p["$properties"]
        == {
            "n": int(p["$distinct_id"][-4:]),
            "$email": f"{int(p['$distinct_id'][-4:])}@{cohort}.test",
        }
        for p in profiles
    )
    selected = utils.query_engage(
        {"selector": f'properties["n"] < 3 and properties["cohort"] == "{cohort}"'}
    )
    assert sorted(p["$properties"]["n"] for p in selected) == [0, 1, 2]


def test_reports_through_the_clients_request_call_count_resolved_users(server: LiveServer) -> None:
    """segmentation, retention, funnels/list and funnels, asked through mixpanel-utils'
    own ``request`` (as a script on top of it would): an anonymous start joined by a
    later ``$identify`` counts as one person who converted and came back."""
    mode = "original"
    opened, bought = unique("Opened"), unique("Bought")
    anonymous, user = guid(), unique("user")
    key = anonymous[:8]
    records = [
        {"event": opened, "properties": {"distinct_id": anonymous, "time": MAY_1 + 60,
                                         "$insert_id": f"{key}-0"}},
        {"event": "$identify", "properties": {"distinct_id": user, "time": MAY_1 + 120,
         "$insert_id": f"{key}-1", "$anon_distinct_id": anonymous}},
        {"event": bought, "properties": {"distinct_id": user, "time": MAY_1 + 180,
                                         "$insert_id": f"{key}-2"}},
        {"event": opened, "properties": {"distinct_id": user, "time": MAY_1 + 86_400 + 60,
                                         "$insert_id": f"{key}-3"}},
    ]  # fmt: skip
    ingest(server, mode, records)
    saved = httpx.post(
        server.url + "/api/funnels",
        json={"name": unique("checkout"), "steps": [opened, bought]},
        auth=(server.secret(mode), ""),
    )
    assert saved.status_code == 201, saved.text
    funnel_id = saved.json()["funnel_id"]
    utils = utils_for(server, mode, "api_secret")

    def ask(path: list[str], **params: object) -> object:
        return json.loads(utils.request(utils.formatted_api, path, params))

    may = {"from_date": "2024-05-01", "to_date": "2024-05-01"}
    users = ask(["segmentation"], event=opened, type="unique", unit="day",
                from_date="2024-05-01", to_date="2024-05-02")  # fmt: skip
    assert users["data"]["values"][opened] == {"2024-05-01": 1, "2024-05-02": 1}
    cohorts = ask(["retention"], born_event=opened, event=opened, interval_count=2, **may)
    assert cohorts == {"2024-05-01": {"counts": [0, 1, 0], "first": 1}}
    listed = ask(["funnels", "list"])
    assert {"funnel_id": funnel_id, "name": saved.json()["name"]} in listed
    funnel = ask(["funnels"], funnel_id=funnel_id, unit="day", **may)
    steps = funnel["data"]["2024-05-01"]["steps"]
    assert [(s["event"], s["count"]) for s in steps] == [(opened, 1), (bought, 1)]
    assert steps[1]["avg_time"] == 120.0
