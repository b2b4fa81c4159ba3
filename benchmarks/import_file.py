"""``idmerge import`` of a big file against sending the same file to ``/import``.

One JSON-lines file of ``--events`` Mixpanel records (``benchmarks/datagen.py``'s
fixed-seed story, mode ``simplified``; its junk ids are rejected on both sides) is
loaded twice into fresh data directories, in the same run:

* **import**: ``import_file`` with the direct destination, as ``idmerge import`` runs
  it (read, decode, check, identity engine, DuckDB), in this process;
* **/import** (the baseline): a real server child (``benchmarks.server_ingest
  --serve``) takes the file as 2,000-record requests over ``--clients`` keep-alive
  connections (the lines are joined into a JSON array as they are, so the client
  costs little; it shares the 2 cores with the server).

Reported: events per second of each and their ratio (import / ``/import``); the
issue's target is a ratio of at least 1.0. Run: ``python -m benchmarks.import_file
[--events 5000000 --clients 8]``; writes ``benchmarks/results/import_file.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import datetime as dt
import json
import os
import platform
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from idmerge.ingest import ProjectWriter
from idmerge.ingest.files import CHUNK, WriterDestination, import_file, reject_path
from idmerge.storage.duckdb import open_store

from benchmarks.datagen import Config, record_chunks
from benchmarks.server_ingest import _load, _request, cli_project, start_server

RESULTS = Path(__file__).parent / "results" / "import_file.md"
DAY_MS = 86_400_000


def write_file(path: Path, events: int, seed: int, mode: str = "simplified") -> None:
    """datagen's story of the last 29 days as Mixpanel JSON lines of ``mode``."""
    start = now_ms() - 30 * DAY_MS
    config = Config(events=events, users=max(events // 5, 1), seed=seed, start_ms=start, days=29)
    with path.open("wb") as out:
        for chunk in record_chunks(config, mode, chunk_size=10_000):
            out.write(
                b"".join(json.dumps(r, separators=(",", ":")).encode() + b"\n" for r in chunk)
            )


def now_ms() -> int:
    return int(time.time() * 1000)


def direct(path: Path) -> tuple[float, int, int]:
    """Seconds, records accepted, records rejected."""
    with tempfile.TemporaryDirectory(prefix="idmerge-import-") as data_dir:
        cli_project(data_dir)
        store = open_store(data_dir)
        try:
            writer = ProjectWriter(store, store.projects()[0])
            started = time.perf_counter()
            report = import_file(WriterDestination(writer, "mixpanel", now_ms), path)
            return time.perf_counter() - started, report.imported, report.rejected
        finally:
            store.close()
            reject_path(path).unlink(missing_ok=True)


def requests(path: Path, secret: str) -> Iterator[bytes]:
    auth = "Basic " + base64.b64encode(f"{secret}:".encode()).decode()
    headers = {"Content-Type": "application/json", "Authorization": auth}
    lines: list[bytes] = []
    with path.open("rb") as source:
        for line in source:
            lines.append(line.rstrip(b"\n"))
            if len(lines) == CHUNK:
                yield _request("/import?strict=0", b"[" + b",".join(lines) + b"]", headers)
                lines = []
    if lines:
        yield _request("/import?strict=0", b"[" + b",".join(lines) + b"]", headers)


def over_http(path: Path, clients: int) -> float:
    with tempfile.TemporaryDirectory(prefix="idmerge-import-http-") as data_dir:
        project = cli_project(data_dir)
        child, port = start_server(data_dir)
        try:
            prepared = list(requests(path, project["secret"]))  # read before timing
            elapsed, _ = asyncio.run(_load(port, prepared, clients))
            return elapsed
        finally:
            child.terminate()
            child.wait(timeout=120)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="idmerge-import-file-") as tmp:
        path = Path(tmp) / "export.jsonl"
        write_file(path, args.events, args.seed)
        size_mb = path.stat().st_size / 1e6
        seconds, accepted, rejected = direct(path)
        http_seconds = over_http(path, args.clients)
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    direct_rate, http_rate = args.events / seconds, args.events / http_seconds
    lines = [
        "# `idmerge import` against `/import` over loopback",
        "",
        f"- command: `python -m benchmarks.import_file --events {args.events} "
        f"--clients {args.clients}`",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; load average after {load}",
        f"- machine: {os.cpu_count()} CPUs; Python {platform.python_version()}",
        f"- file: {args.events:,} lines, {size_mb:,.0f} MB; {accepted:,} accepted, "
        f"{rejected:,} rejected (the story's junk ids)",
        "",
        "| path | seconds | lines/s | ratio to /import |",
        "|---|---:|---:|---:|",
        f"| /import, {args.clients} clients, 2,000 a request (baseline) | {http_seconds:.1f} | "
        f"{http_rate:,.0f} | 1.00 |",
        f"| idmerge import (direct) | {seconds:.1f} | {direct_rate:,.0f} | "
        f"{direct_rate / http_rate:.2f} |",
    ]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
