"""A project whose id keys are damaged in the file takes no writes, over HTTP too: its
ingestion answers 503 naming the damage, while its data stays readable and the other
projects go on as usual."""

from __future__ import annotations

from pathlib import Path

import duckdb
import httpx

from idmerge.storage.duckdb import DATABASE_FILE

from live import LiveServer

MAY_1 = 1_714_557_600_000  # 2024-05-01 10:00 UTC, ms


def record(distinct_id: str, n: int) -> dict[str, object]:
    properties = {"distinct_id": distinct_id, "time": MAY_1 + n, "$insert_id": f"i{n}"}
    return {"event": "App Open", "properties": properties}


def send(server: LiveServer, mode: str, n: int) -> httpx.Response:
    return httpx.post(
        server.url + "/import",
        params={"strict": "1"},
        json=[record(f"user-{n}", n)],
        auth=(server.secret(mode), ""),
        timeout=30,
    )


def test_a_project_with_damaged_keys_answers_503_and_stays_readable(tmp_path: Path) -> None:
    server = LiveServer(tmp_path, modes=("original", "legacy"))
    server.start()
    try:
        assert send(server, "original", 0).status_code == 200
        assert send(server, "legacy", 1).status_code == 200
    finally:
        server.stop()
    con = duckdb.connect(str(tmp_path / DATABASE_FILE))
    [(project_id,)] = con.execute("SELECT id FROM projects WHERE name = 'original'").fetchall()
    con.execute(f"INSERT INTO identity_keys VALUES ({project_id}, 'stray', 0)")  # key 0 twice
    con.close()

    server.start()
    try:
        refused = send(server, "original", 2)
        assert refused.status_code == 503, refused.text
        assert "damaged" in refused.text and "id keys" in refused.text
        assert send(server, "legacy", 3).status_code == 200  # the other project writes
        exported = httpx.get(
            server.url + "/api/2.0/export",
            params={"from_date": "2024-05-01", "to_date": "2024-05-01"},
            auth=(server.secret("original"), ""),
            timeout=30,
        )
        assert exported.status_code == 200, exported.text
        assert exported.text.count('"App Open"') == 1  # what it held before, readable
    finally:
        server.stop()
    assert "project 'original' takes no writes" in server.log()
