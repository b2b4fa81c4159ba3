"""Identity state through the embedded store: ingest into DuckDB, then rebuild on start.

Per mode, in a fresh process and a fresh data directory:

1. **ingest**: the fixed-seed stream of ``benchmarks/datagen.py`` goes through
   :class:`~idmerge.ingest.ProjectWriter` (engine, JSON encoding, one DuckDB
   transaction per batch) in batches of ``--batch`` events;
2. **rebuild**: the store is closed and opened again, and the engine is rebuilt the
   way the server does on start (:func:`~idmerge.ingest.load_engine`: read the
   identity log, replay it); the rebuilt mapping is checked against the stored one;
3. **baseline**, measured in the same process: reading the same number of rows, of
   two columns, from the events table into Python lists. The rebuild is reported
   per 1M identity-log entries and as a ratio to that baseline, which stays
   comparable from run to run on a noisy machine.

Run: ``python -m benchmarks.identity_store [--events 5000000 --users 1000000
--modes simplified,original,legacy,cdp]``; writes ``benchmarks/results/identity_store.md``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from idmerge.identity import IdentityEngine, Mode
from idmerge.ingest import ProjectWriter, load_engine
from idmerge.projects import create_project, get_project
from idmerge.storage.duckdb import open_store

from benchmarks.datagen import Config, event_chunks

RESULTS = Path(__file__).parent / "results" / "identity_store.md"


def run_mode(mode: str, events: int, users: int, seed: int, batch: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="idmerge-bench-") as data_dir:
        store = open_store(data_dir)
        project = create_project(store, "bench", Mode(mode), now=0)
        writer = ProjectWriter(store, project)
        config = Config(events=events, users=users, seed=seed)
        ingest_seconds = 0.0
        ingested = 0
        for chunk in event_chunks(config, mode, chunk_size=batch):
            started = time.perf_counter()
            writer.ingest(chunk, received_at=0)
            ingest_seconds += time.perf_counter() - started
            ingested += len(chunk)
        incremental = sorted(writer.engine.mapping())
        del writer
        store.close()
        gc.collect()

        store = open_store(data_dir)
        project = get_project(store, "bench")
        started = time.perf_counter()
        log = list(store.read_log(project.id))
        read_seconds = time.perf_counter() - started
        started = time.perf_counter()
        engine = IdentityEngine.replay(project.policy(), log)
        replay_seconds = time.perf_counter() - started
        started = time.perf_counter()
        load_engine(store, project)  # the server's path, end to end (cdp reads seen ids)
        load_seconds = time.perf_counter() - started
        same = sorted(engine.mapping()) == incremental == list(store.read_mapping(project.id))

        started = time.perf_counter()
        rows = 0
        for part in store._stream(  # the same reader the log goes through
            "SELECT seq, distinct_id FROM events WHERE project_id = $p LIMIT $n",
            {"p": project.id, "n": len(log)},
        ):
            seqs, ids = part.column(0).to_pylist(), part.column(1).to_pylist()
            rows += len(list(zip(seqs, ids, strict=True)))
        baseline_seconds = time.perf_counter() - started
        size = sum(f.stat().st_size for f in Path(data_dir).iterdir())
        store.close()
    entries = len(log)
    per_million = load_seconds * 1_000_000 / max(entries, 1)
    return {
        "mode": mode,
        "events": ingested,
        "ingest_seconds": ingest_seconds,
        "entries": entries,
        "read_seconds": read_seconds,
        "replay_seconds": replay_seconds,
        "load_seconds": load_seconds,
        "per_million": per_million,
        "baseline_seconds": baseline_seconds,
        "ratio": load_seconds / max(baseline_seconds, 1e-9),
        "same": same,
        "db_mib": size / 2**20,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def report(results: list[dict[str, Any]], command: str) -> str:
    lines = [
        "# Identity state through the DuckDB store",
        "",
        f"- date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"- machine: {os.cpu_count()} CPUs, Python {platform.python_version()}",
        f"- command: `{command}`",
        "",
        "| mode | events | ingest events/s | log entries | read log | replay | "
        "rebuild (load_engine) | rebuild per 1M entries | baseline read | rebuild / baseline | "
        "rebuilt = stored mapping | DB size | peak RSS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['mode']} | {r['events']:,} | {r['events'] / r['ingest_seconds']:,.0f} | "
            f"{r['entries']:,} | {r['read_seconds']:.2f} s | {r['replay_seconds']:.2f} s | "
            f"{r['load_seconds']:.2f} s | {r['per_million']:.2f} s | "
            f"{r['baseline_seconds']:.2f} s | {r['ratio']:.1f}x | "
            f"{'yes' if r['same'] else 'NO'} | {r['db_mib']:,.0f} MiB | "
            f"{r['peak_rss_mib']:,.0f} MiB |"
        )
    lines += [
        "",
        "Target: a rebuild of 1M identity events in under 5 s: "
        + ", ".join(f"{r['mode']} {'met' if r['per_million'] < 5 else 'MISSED'}" for r in results)
        + ".",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--modes", default="simplified,original,legacy,cdp")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        result = run_mode(args.worker, args.events, args.users, args.seed, args.batch)
        print(json.dumps(result))
        return 0
    results = []
    for mode in args.modes.split(","):
        out = subprocess.run(
            [
                sys.executable, "-m", "benchmarks.identity_store", "--worker", mode,
                "--events", str(args.events), "--users", str(args.users),
                "--seed", str(args.seed), "--batch", str(args.batch),
            ],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        results.append(json.loads(out.stdout.splitlines()[-1]))
        print(results[-1], file=sys.stderr)
    command = "python -m benchmarks.identity_store " + " ".join(argv or sys.argv[1:])
    text = report(results, command.strip())
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
