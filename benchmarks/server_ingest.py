"""Ingestion over HTTP: ``/import`` and ``/track`` against the real server, durability on.

A server child process runs the real app (uvicorn, httptools, uvloop, group commit
into DuckDB) with two extra routes of this benchmark's own, ``/_decode/import`` and
``/_decode/track``: they read and decode the body exactly as the real endpoints do
(gunzip, form fields, ``data``, JSON) and answer at once. They are the **baseline**,
measured in the same run with the same requests, so the ratio stays comparable on a
noisy machine.

Two workloads from the fixed-seed story of ``benchmarks/datagen.py`` (mode
``simplified``, times moved to the last day so ``/track`` takes them):

* ``/import``: 2,000-event JSON batches from ``--clients`` concurrent connections,
  Basic auth with the project secret;
* ``/track``: SDK-sized requests, 50 events form-encoded (``data=<JSON>``), from
  ``--track-clients`` connections (browsers are many small clients).

The load comes from one asyncio process writing prepared bytes over keep-alive
connections, so the client costs little; it still shares the 2 cores with the server.

Once the server has stopped, the same run measures the **store alone**: the same
events, already turned into stored rows (id, properties as JSON text), committed
straight into a fresh DuckDB file through ``DuckDBStore.commit``, as the writer
does, in transactions of as many events as one request carries and as the group
commit gathers at most from all clients at once. No HTTP, no decoding, no identity:
the most the server could ever accept with this store, as a fraction of the
decode-only baseline.

Run: ``python -m benchmarks.server_ingest [--events 400000 --clients 8]``; writes
``benchmarks/results/server_ingest.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import msgspec
import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from idmerge.identity.device_links import stored_id
from idmerge.projects import create_project
from idmerge.server.app import create_app
from idmerge.server.http import is_form, json_response, read_body
from idmerge.server.mixpanel import LIMITS
from idmerge.server.writer import GROUP_RECORDS
from idmerge.storage.base import StoredEvent, WriteBatch
from idmerge.storage.duckdb import open_store
from idmerge.wire.body import as_records, decode_data, form_fields, json_records

from benchmarks.datagen import Config, record_chunks
from benchmarks.identity_engine import git_head

RESULTS = Path(__file__).parent / "results" / "server_ingest.md"
DAY_MS = 86_400_000


# -- the server child ----------------------------------------------------------------


def serve(data_dir: str, port: int) -> None:
    """The real app plus the decode-only baseline routes."""

    async def decode_import(request: Request) -> Response:
        records = json_records(await read_body(request, LIMITS.max_body_bytes))
        return json_response({"code": 200, "num_records_imported": len(records), "status": "OK"})

    async def decode_track(request: Request) -> Response:
        body = await read_body(request, LIMITS.max_body_bytes)
        fields = form_fields(body) if is_form(request) else {}
        records = as_records(decode_data(fields["data"]))
        return Response("1" if records else "0", media_type="text/plain")

    app = create_app(data_dir)
    app.router.routes.append(Route("/_decode/import", decode_import, methods=["POST"]))
    app.router.routes.append(Route("/_decode/track", decode_track, methods=["POST"]))
    uvicorn.run(app, host="127.0.0.1", port=port, loop="uvloop", http="httptools",
                log_level="warning")  # fmt: skip


# -- the load --------------------------------------------------------------------------


def _request(path: str, body: bytes, headers: dict[str, str]) -> bytes:
    head = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", f"Content-Length: {len(body)}"]
    head += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def _connection(
    port: int, requests: list[bytes], latencies: list[float], failures: list[str]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for request in requests:
            started = time.perf_counter()
            writer.write(request)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if b" 200 " not in status_line:
                failures.append(status_line.decode().strip() + " " + body[:200].decode())
    finally:
        writer.close()


async def _load(port: int, requests: list[bytes], clients: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    failures: list[str] = []
    shares = [requests[i::clients] for i in range(clients)]
    started = time.perf_counter()
    await asyncio.gather(*(_connection(port, s, latencies, failures) for s in shares))
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return elapsed, latencies


def _config(events: int, seed: int) -> Config:
    """The story both workloads send: its times in the last day, which /track takes."""
    start = int(time.time() * 1000) - DAY_MS
    return Config(events=events, users=max(events // 5, 1), seed=seed, start_ms=start, days=1)


def _workloads(
    events: int, seed: int, token: str, secret: str
) -> dict[str, tuple[list[bytes], int]]:
    """Request bytes per path, and events per request, prepared before timing."""
    config = _config(events, seed)
    auth = "Basic " + base64.b64encode(f"{secret}:".encode()).decode()
    imports = [
        json.dumps(chunk, separators=(",", ":")).encode()
        for chunk in record_chunks(config, "simplified", chunk_size=2000)
    ]
    tracks = []
    for chunk in record_chunks(config, "simplified", chunk_size=50):
        for record in chunk:
            record["properties"]["token"] = token
        data = json.dumps(chunk, separators=(",", ":"))
        tracks.append(("data=" + urllib.parse.quote(data, safe="")).encode())
    json_headers = {"Content-Type": "application/json", "Authorization": auth}
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    return {
        "import": ([_request("{path}", b, json_headers) for b in imports], 2000),
        "track": ([_request("{path}", b, form) for b in tracks], 50),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def cli_project(data_dir: str) -> dict[str, str]:
    """A ``simplified`` project ``bench`` in ``data_dir``, as ``idmerge project create``
    prints it (with its token and secret)."""
    done = subprocess.run(
        [sys.executable, "-m", "idmerge", "project", "create", "bench", "--data-dir", data_dir],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    project: dict[str, str] = json.loads(done.stdout)
    return project


def start_server(data_dir: str) -> tuple[subprocess.Popen[bytes], int]:
    """This module's server child over ``data_dir``, once it answers ``/health``."""
    port = _free_port()
    child = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.server_ingest", "--serve", data_dir, str(port)]
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                return child, port
        except httpx.TransportError:
            if time.monotonic() > deadline:
                child.terminate()
                raise
            time.sleep(0.1)


def stored_rows(events: int, seed: int) -> list[StoredEvent]:
    """The rows the writer stores for the ``/import`` workload's events: each under
    the id the ``simplified`` rules give it (``stored_id``), its properties encoded as
    the writer encodes them (no token, no annotations on these events)."""
    now = int(time.time() * 1000)
    rows: list[StoredEvent] = []
    for chunk in record_chunks(_config(events, seed), "simplified", chunk_size=10_000):
        for record in chunk:
            props = record["properties"]
            rows.append(
                StoredEvent(
                    len(rows),
                    record["event"],
                    stored_id(props)[0],
                    props["time"],
                    props.get("$insert_id"),
                    msgspec.json.encode(props).decode(),
                    now,
                )
            )
    return rows


def store_alone(rows: list[StoredEvent], per_commit: int) -> tuple[float, float]:
    """Events/s committing ``rows`` straight into a fresh store, ``per_commit`` per
    transaction, and the CPU time per event of this process (every thread: DuckDB's
    work in parallel). Only ``DuckDBStore.commit`` (Arrow table, INSERT, COMMIT) is
    timed."""
    with tempfile.TemporaryDirectory(prefix="idmerge-bench-store-") as data_dir:
        store = open_store(data_dir)
        try:
            project = create_project(store, "store-alone", now=int(time.time() * 1000))
            started, cpu = time.perf_counter(), time.process_time()
            for first in range(0, len(rows), per_commit):
                store.commit(project.id, WriteBatch(events=rows[first : first + per_commit]))
            elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        finally:
            store.close()
    return len(rows) / elapsed, cpu / len(rows)


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds a process has used so far, all its threads (fields
    14 and 15 of ``/proc/PID/stat``; the split starts at field 3)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        raise SystemExit("this benchmark reads the server's CPU time from /proc (Linux)") from None
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def run(events: int, clients: int, track_clients: int, seed: int) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="idmerge-bench-") as data_dir:
        project = cli_project(data_dir)
        child, port = start_server(data_dir)
        try:
            workloads = _workloads(events, seed, project["token"], project["secret"])
            for name, (templates, per_request) in workloads.items():
                # the story holds junk ids, which /import refuses in strict mode
                query = "?strict=0" if name == "import" else ""
                prepared = {
                    route: [t.replace(b"{path}", (route + query).encode(), 1) for t in templates]
                    for route in (f"/_decode/{name}", f"/{name}")
                }
                measured = {}
                connections = clients if name == "import" else track_clients
                for route, requests in prepared.items():
                    cpu = process_cpu_s(child.pid)
                    elapsed, latencies = asyncio.run(_load(port, requests, connections))
                    cpu = process_cpu_s(child.pid) - cpu
                    measured[route] = {
                        "server_cpu_us": cpu / (len(requests) * per_request) * 1e6,
                        "events_per_s": len(requests) * per_request / elapsed,
                        "p50_ms": _pct(latencies, 0.5),
                        "p99_ms": _pct(latencies, 0.99),
                        "requests": len(requests),
                    }
                real, base = measured[f"/{name}"], measured[f"/_decode/{name}"]
                rows.append(
                    {
                        "workload": name,
                        "events": events,
                        "per_request": per_request,
                        "clients": connections,
                        **{k: real[k] for k in ("events_per_s", "p50_ms", "p99_ms")},
                        "baseline_events_per_s": base["events_per_s"],
                        "baseline_p50_ms": base["p50_ms"],
                        "baseline_p99_ms": base["p99_ms"],
                        "ratio": real["events_per_s"] / base["events_per_s"],
                        "server_cpu_us": real["server_cpu_us"],
                        "baseline_server_cpu_us": base["server_cpu_us"],
                    }
                )
        finally:
            child.terminate()
            child.wait(timeout=60)
    return rows


def measure_store_alone(events: int, seed: int, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The store alone at the commit sizes each workload gives the writer (one request,
    and every client's at once, as far as a group goes), and the most the server could
    take on this machine's cores if it did nothing but decode (the baseline's server
    CPU per event) and store (this CPU per event)."""
    stored = stored_rows(events, seed)
    cores = os.cpu_count() or 1
    measured = []
    for r in rows:
        every = min(r["per_request"] * r["clients"], GROUP_RECORDS)
        sizes = [(r["per_request"], f"one /{r['workload']} request")]
        if every > r["per_request"]:
            sizes.append((every, f"{every // r['per_request']} /{r['workload']} requests"))
        for per_commit, what in sizes:
            per_s, cpu_s = store_alone(stored, per_commit)
            bound = cores / (r["baseline_server_cpu_us"] / 1e6 + cpu_s)
            measured.append(
                {
                    "per_commit": per_commit,
                    "what": what,
                    "events_per_s": per_s,
                    "cpu_us": cpu_s * 1e6,
                    "of_baseline": per_s / r["baseline_events_per_s"],
                    "bound_events_per_s": bound,
                    "bound_ratio": bound / r["baseline_events_per_s"],
                }
            )
    return measured


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| workload | events/request | clients | events/s | p50 ms | p99 ms "
        "| decode-only events/s | p50 ms | p99 ms | ratio "
        "| server CPU µs/event | decode-only: server CPU µs/event |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['workload']} | {r['per_request']} | {r['clients']} "
            f"| {r['events_per_s']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} "
            f"| {r['baseline_events_per_s']:,.0f} | {r['baseline_p50_ms']:.1f} "
            f"| {r['baseline_p99_ms']:.1f} | {r['ratio']:.2f} "
            f"| {r['server_cpu_us']:.1f} | {r['baseline_server_cpu_us']:.1f} |"
        )
    return "\n".join(lines)


def _store_table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| events per commit | as in | store alone: events/s | CPU µs/event "
        "| / decode-only events/s | decode + store on all cores: events/s "
        "| / decode-only events/s |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['per_commit']:,} | {r['what']} | {r['events_per_s']:,.0f} "
            f"| {r['cpu_us']:.1f} | {r['of_baseline']:.2f} "
            f"| {r['bound_events_per_s']:,.0f} | {r['bound_ratio']:.2f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=400_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--track-clients", type=int, default=32)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--serve", nargs=2, metavar=("DATA_DIR", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return 0
    rows = run(args.events, args.clients, args.track_clients, args.seed)
    load = os.getloadavg()  # of the HTTP run, before the store alone
    table = _table(rows)
    alone = _store_table(measure_store_alone(args.events, args.seed, rows))
    report = (
        f"# /import and /track over HTTP\n\n`python -m benchmarks.server_ingest "
        f"--events {args.events} --clients {args.clients} --track-clients "
        f"{args.track_clients}`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, git {git_head()}, "
        f"on {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, load average "
        f"{load[0]:.1f}\n\n{table}\n\n"
        "The store alone (the same events as stored rows, committed straight into a "
        "fresh DuckDB file through `DuckDBStore.commit`; no HTTP, decoding or identity), "
        "after the server stopped; CPU counts every thread of the process. The last two "
        f"columns: the most {os.cpu_count()} fully used cores could take if the server only "
        "decoded (the decode-only route's server CPU per event) and stored (this CPU per "
        "event), with no identity, encoding or HTTP work of the real route:\n\n"
        f"{alone}\n"
    )
    RESULTS.write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
