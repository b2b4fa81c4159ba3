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
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from idmerge.server.app import create_app
from idmerge.server.http import is_form, json_response, read_body
from idmerge.server.mixpanel import LIMITS
from idmerge.wire.body import as_records, decode_data, form_fields, json_records

from benchmarks.datagen import Config, record_chunks

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


def _workloads(
    events: int, seed: int, token: str, secret: str
) -> dict[str, tuple[list[bytes], int]]:
    """Request bytes per path, and events per request, prepared before timing."""
    start = int(time.time() * 1000) - DAY_MS
    config = Config(events=events, users=max(events // 5, 1), seed=seed, start_ms=start, days=1)
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


def create_project(data_dir: str) -> dict[str, str]:
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


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def run(events: int, clients: int, track_clients: int, seed: int) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory(prefix="idmerge-bench-") as data_dir:
        project = create_project(data_dir)
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
                    elapsed, latencies = asyncio.run(_load(port, requests, connections))
                    measured[route] = {
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
                    }
                )
        finally:
            child.terminate()
            child.wait(timeout=60)
    return rows


def _table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| workload | events/request | clients | events/s | p50 ms | p99 ms "
        "| decode-only events/s | p50 ms | p99 ms | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['workload']} | {r['per_request']} | {r['clients']} "
            f"| {r['events_per_s']:,.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} "
            f"| {r['baseline_events_per_s']:,.0f} | {r['baseline_p50_ms']:.1f} "
            f"| {r['baseline_p99_ms']:.1f} | {r['ratio']:.2f} |"
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
    table = _table(rows)
    load = os.getloadavg()
    report = (
        f"# /import and /track over HTTP\n\n`python -m benchmarks.server_ingest "
        f"--events {args.events} --clients {args.clients} --track-clients "
        f"{args.track_clients}` on {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, load average "
        f"{load[0]:.1f}\n\n{table}\n"
    )
    RESULTS.write_text(report)
    print(report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
