"""Acknowledged means durable: SIGKILL the server while several clients import, restart
it, and every acknowledged event is there exactly once, with identity state that
agrees with the events."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import httpx

from idmerge.identity import IdentityEngine
from idmerge.ingest import load_engine
from idmerge.projects import get_project
from idmerge.storage.duckdb import open_store

from live import LiveServer

CLIENTS = 4
BATCH = 200


def _batch(client: int, number: int) -> list[dict[str, Any]]:
    """A batch of ordinary events plus one $merge of two fresh ids."""
    now = int(time.time())
    a, b = f"c{client}-b{number}-a", f"c{client}-b{number}-b"
    records = [
        {
            "event": "view",
            "properties": {
                "time": now,
                "distinct_id": a if i % 2 else b,
                "$insert_id": f"c{client}-b{number}-{i}",
            },
        }
        for i in range(BATCH - 1)
    ]
    records.append(
        {
            "event": "$merge",
            "properties": {
                "time": now,
                "distinct_id": a,
                "$distinct_ids": [a, b],
                "$insert_id": f"c{client}-b{number}-merge",
            },
        }
    )
    return records


def test_sigkill_mid_stream_loses_nothing_acknowledged(fresh_server: LiveServer) -> None:
    server = fresh_server
    acknowledged: list[list[dict[str, Any]]] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(number: int) -> None:
        with httpx.Client(auth=(server.secret("original"), ""), timeout=30) as http:
            batch_no = 0
            while not stop.is_set():
                records = _batch(number, batch_no)
                batch_no += 1
                try:
                    answer = http.post(server.url + "/import", json=records)
                except httpx.TransportError:
                    return  # the server died under us: this batch is unacknowledged
                if answer.status_code == 200:
                    with lock:
                        acknowledged.append(records)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 60
    while len(acknowledged) < 12 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.stop(kill=True)  # SIGKILL, mid-stream
    stop.set()
    for thread in threads:
        thread.join()
    assert len(acknowledged) >= 12, server.log()

    # A client that lost its answer retries: harmless, by $insert_id.
    server.start()
    retried = acknowledged[0]
    with httpx.Client(auth=(server.secret("original"), ""), timeout=30) as http:
        assert http.post(server.url + "/import", json=retried).status_code == 200
    for records in acknowledged:
        a, b = records[-1]["properties"]["$distinct_ids"]
        assert server.cluster("original", a) == {a, b}
    server.stop()

    store = open_store(server.data_dir)
    try:
        project = get_project(store, "original")
        counts: dict[str, int] = {}
        for event in store.read_events_deduplicated(project.id):
            if event.insert_id is not None:
                counts[event.insert_id] = counts.get(event.insert_id, 0) + 1
        expected = {r["properties"]["$insert_id"] for records in acknowledged for r in records}
        assert all(counts.get(insert_id) == 1 for insert_id in expected)
        # identity state agrees with the events: the stored mapping is what the log
        # rebuilds, and every acknowledged merge is in it
        engine = load_engine(store, project)
        assert dict(store.read_mapping(project.id)) == dict(engine.mapping())
        rebuilt = IdentityEngine.replay(project.policy(), store.read_log(project.id))
        assert dict(rebuilt.mapping()) == dict(engine.mapping())
        stored_ids = set(store.distinct_ids(project.id))
        mapped = dict(engine.mapping())
        assert set(mapped) <= stored_ids | set(mapped.values())
    finally:
        store.close()


def test_identity_answers_reflect_each_acknowledged_request(fresh_server: LiveServer) -> None:
    server = fresh_server
    with httpx.Client(auth=(server.secret("original"), ""), timeout=30) as http:
        for n in range(5):
            a, b = f"r{n}-{uuid.uuid4().hex[:6]}", f"s{n}-{uuid.uuid4().hex[:6]}"
            merge = {
                "event": "$merge",
                "properties": {
                    "time": int(time.time()),
                    "distinct_id": a,
                    "$distinct_ids": [a, b],
                    "$insert_id": uuid.uuid4().hex,
                },
            }
            assert http.post(server.url + "/import", json=[merge]).status_code == 200
            assert server.cluster("original", b) == {a, b}
