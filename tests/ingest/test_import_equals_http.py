"""An imported file and the same records sent over HTTP end up the same: identical
stored events (but for when they arrived), identity logs, clusters and reports, in
every mode; and a Segment archive imported equals the same messages sent to
``/v1/batch``."""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest

from idmerge.identity import Mode
from idmerge.ingest import ProjectWriter
from idmerge.ingest.files import WriterDestination, import_file
from idmerge.projects import Project, create_project
from idmerge.query.buckets import Buckets
from idmerge.query.funnels import FunnelSpec, FunnelStep, funnel
from idmerge.query.segmentation import SegmentationSpec, segmentation
from idmerge.server.state import now_ms  # the clock as the server reads it
from idmerge.storage.duckdb import DuckDBStore, open_store
from journeys import alias, device_id, identify, journeys, merge, track

from live import LiveServer

D1, D2, D3 = device_id(1), device_id(2), device_id(3)
MAY = Buckets(dt.date(2024, 5, 1), dt.date(2024, 5, 3))


def people() -> dict[str, list[Any]]:
    """Every identity event of the modes: a login on two devices, an $identify, an
    alias, a $merge of two user ids, and a junk id refused on the way."""
    return {
        "ann": [
            track("2024-05-01 10:00", "App Open", device=D1),
            identify("2024-05-01 10:01", D1, "ann"),
            track("2024-05-01 10:02", "Log In", device=D1, user="ann"),
            track("2024-05-01 10:05", "Purchase", user="ann", price=9),
            track("2024-05-02 09:00", "Log In", device=D2, user="ann"),
            alias("2024-05-02 09:01", "ann@crm", "ann"),
            merge("2024-05-02 09:02", "ann", "ann-old"),
        ],
        "bob": [
            track("2024-05-01 11:00", "App Open", device=D3),
            track("2024-05-01 11:01", "Log In", device=D3, user="undefined"),  # junk
            track("2024-05-03 08:00", "Purchase", distinct_id="bob"),
        ],
    }


def records(mode: Mode) -> list[dict[str, Any]]:
    return [{"event": e.name, "properties": dict(e.properties)} for e in journeys(mode, people())]


def comparable(store: DuckDBStore, project: Project) -> dict[str, Any]:
    """What must agree: events (not their arrival), the identity log, the mapping,
    and a report of each kind."""
    events = sorted(
        (e.name, e.distinct_id, e.time, e.insert_id, msgspec.json.decode(e.properties))
        for e in store.read_events(project.id)
    )
    log = [
        (e.op, e.ids, e.outcome, e.reason, e.event, e.insert_id) for e in store.read_log(project.id)
    ]
    unique = segmentation(store, project, SegmentationSpec("App Open", MAY, "unique"))
    steps = (FunnelStep("App Open"), FunnelStep("Purchase"))
    converted = funnel(store, project, FunnelSpec(steps, MAY))
    return {
        "events": [repr(e) for e in events],
        "log": log,
        "mapping": sorted(store.read_mapping(project.id)),
        "reports": (unique, converted),
    }


def by_http(server: LiveServer, path: str, body: Any, auth: str) -> int:
    """Send ``body``; answer how many records the server refused."""
    answer = httpx.post(server.url + path, json=body, auth=(auth, ""), timeout=30)
    assert answer.status_code in (200, 400), answer.text  # 400: strict, some refused
    return len(answer.json().get("failed_records", ()))


@pytest.mark.parametrize("mode", list(Mode))
def test_a_mixpanel_file_imports_as_over_import(
    fresh_server: LiveServer, tmp_path: Path, mode: Mode
) -> None:
    sent = records(mode)
    refused = by_http(fresh_server, "/import?strict=1", sent, fresh_server.secret(mode.value))
    fresh_server.stop()
    path = tmp_path / "export.jsonl.gz"
    path.write_bytes(gzip.compress(b"".join(msgspec.json.encode(r) + b"\n" for r in sent)))
    over_http = open_store(fresh_server.data_dir)
    try:
        (project,) = [p for p in over_http.projects() if p.name == mode.value]
        expected = comparable(over_http, project)
    finally:
        over_http.close()
    store = open_store(tmp_path / "imported")
    try:
        imported = create_project(store, "imported", mode, now=0)
        destination = WriterDestination(ProjectWriter(store, imported), "mixpanel", now_ms)
        assert import_file(destination, path).rejected == refused
        assert comparable(store, imported) == expected
    finally:
        store.close()


def test_a_segment_archive_imports_as_over_v1_batch(
    fresh_server: LiveServer, tmp_path: Path
) -> None:
    at = {"timestamp": "2024-05-01T10:00:00.000Z"}
    messages = [
        {"type": "track", "anonymousId": "a1", "event": "App Open", "messageId": "m1", **at},
        {"type": "identify", "anonymousId": "a1", "userId": "ann", "messageId": "m2",
         "traits": {"plan": "pro"}, **at},
        {"type": "alias", "userId": "ann", "previousId": "ann-old", "messageId": "m3", **at},
        {"type": "track", "userId": "ann", "event": "Purchase", "messageId": "m4", **at},
    ]  # fmt: skip
    assert by_http(fresh_server, "/v1/batch", {"batch": messages}, fresh_server.token("cdp")) == 0
    fresh_server.stop()
    over_http = open_store(fresh_server.data_dir)
    try:
        (project,) = [p for p in over_http.projects() if p.name == "cdp"]
        expected = comparable(over_http, project)
        profiles = sorted((p.target, p.properties) for p in over_http.read_profiles(project.id))
    finally:
        over_http.close()
    path = tmp_path / "archive.jsonl"
    path.write_bytes(b"".join(msgspec.json.encode(m) + b"\n" for m in messages))
    store = open_store(tmp_path / "imported")
    try:
        imported = create_project(store, "imported", Mode.CDP, now=0)
        import_file(WriterDestination(ProjectWriter(store, imported), "segment", now_ms), path)
        assert comparable(store, imported) == expected
        assert (
            sorted((p.target, p.properties) for p in store.read_profiles(imported.id)) == profiles
        )
    finally:
        store.close()
