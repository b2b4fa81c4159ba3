"""``idmerge replay`` against importing the same history.

``benchmarks/datagen.py``'s fixed-seed story in mode ``original`` (``--events``
Mixpanel records) is imported into an Original project of a fresh data directory
(``import_file`` with the direct destination: the baseline, measured in the same
run), then replayed from it three ways: under ``original`` again, under
``simplified``, and under ``simplified`` with ``--derive-simplified-ids``.

Reported: events per second of each and its ratio to the import; replay reads
stored rows instead of a file and skips the wire checks, so it should not be slower.
Run: ``python -m benchmarks.replay [--events 1000000]``; writes
``benchmarks/results/replay.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import tempfile
import time
from pathlib import Path

from idmerge.identity import Mode
from idmerge.ingest import ProjectWriter
from idmerge.ingest.files import WriterDestination, import_file
from idmerge.ingest.replay import replay
from idmerge.projects import create_project
from idmerge.storage.duckdb import open_store

from benchmarks.import_file import now_ms, write_file

RESULTS = Path(__file__).parent / "results" / "replay.md"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rows: list[tuple[str, float, int]] = []
    with tempfile.TemporaryDirectory(prefix="idmerge-replay-") as tmp:
        path = Path(tmp) / "export.jsonl"
        write_file(path, args.events, args.seed, "original")
        store = open_store(Path(tmp) / "data")
        try:
            source = create_project(store, "shop", Mode.ORIGINAL, now=now_ms())
            destination = WriterDestination(ProjectWriter(store, source), "mixpanel", now_ms)
            started = time.perf_counter()
            imported = import_file(destination, path).imported
            rows.append(("import of the file (baseline)", time.perf_counter() - started, imported))
            for label, mode, derive in (
                ("replay under original", Mode.ORIGINAL, False),
                ("replay under simplified", Mode.SIMPLIFIED, False),
                ("replay under simplified, --derive-simplified-ids", Mode.SIMPLIFIED, True),
            ):
                started = time.perf_counter()
                report = replay(
                    store, source, mode, into=None, now=now_ms, derive_simplified_ids=derive
                )
                rows.append((label, time.perf_counter() - started, report.events))
        finally:
            store.close()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    base_rate = rows[0][2] / rows[0][1]
    lines = [
        "# `idmerge replay` against importing the same history",
        "",
        f"- command: `python -m benchmarks.replay --events {args.events}`",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; load average after {load}",
        f"- machine: {os.cpu_count()} CPUs; Python {platform.python_version()}",
        f"- history: datagen's story in mode original, {args.events:,} records, "
        f"{rows[0][2]:,} accepted",
        "",
        "| run | seconds | events/s | ratio to the import |",
        "|---|---:|---:|---:|",
        *(
            f"| {label} | {seconds:.1f} | {events / seconds:,.0f} | "
            f"{events / seconds / base_rate:.2f} |"
            for label, seconds, events in rows
        ),
    ]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
