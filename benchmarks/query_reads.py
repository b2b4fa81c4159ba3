"""Reading data back out on resolved ids: export, one person's activity, explain.

On the fixed-seed store of ``benchmarks/dataset.py`` (default 10M events over ~2M ids,
mode ``simplified``, with one 500-id cluster), measures, each beside a **baseline**
taken in the same run:

* **export**: ``/api/2.0/export``'s library path (``export_lines``: DuckDB builds every
  JSON line on resolved ids) over every event, in a child process so its peak RSS is
  its own; baseline: streaming the stored ``properties`` text of the same events, the
  least any export must read. Run over 10 % of the days and over all of them: peak
  memory that does not grow with the export is what "constant memory" means.
* **activity look-up** (``stream/query``'s path: cluster from the engine, events by
  the ``events.distinct_id`` index) for 200 ids drawn with a fixed seed (devices and
  users, merged or not) and for an id of the 500-id cluster; baseline: one indexed
  ``count(*)`` of a single stored id.
* **explain** of the 500-id cluster from one of its devices; baseline: the engine's
  ``cluster()`` of the same id.

Run: ``python -m benchmarks.query_reads [--events 10000000 --ids 2000000]``; writes
``benchmarks/results/query_reads.md``. Targets (issue 4): look-up under 50 ms, explain
of a 500-id cluster under 100 ms.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from idmerge.ingest import ProjectWriter
from idmerge.projects import Project, get_project
from idmerge.query import discovery
from idmerge.query import identity as tools
from idmerge.query.export import ExportSpec, export_lines
from idmerge.settings import SETTINGS
from idmerge.storage.duckdb import DuckDBStore, open_store

from benchmarks.dataset import DatasetSpec, build, load_manifest

RESULTS = Path(__file__).parent / "results"


def _days(manifest: dict[str, Any], share: float) -> ExportSpec:
    spec = manifest["spec"]
    start = dt.date.fromisoformat(spec["start_day"])
    days = max(1, round(spec["days"] * share))
    return ExportSpec(start, start + dt.timedelta(days=days - 1))


def export_child(directory: str, share: float, baseline: bool, memory_limit: str) -> dict[str, Any]:
    """One export (or its baseline) in this process; its time, size and peak RSS."""
    manifest = load_manifest(directory)
    store = open_store(directory, memory_limit=memory_limit)
    project = get_project(store, manifest["project"]["name"])
    spec = _days(manifest, share)
    started = time.perf_counter()
    cpu = time.process_time()
    lines = size = 0
    if baseline:
        sql = (
            "SELECT properties FROM events WHERE project_id = $p AND time >= $start AND time < $end"
        )
        start_ms = (spec.from_date - dt.date(1970, 1, 1)).days * 86_400_000
        end_ms = (spec.to_date - dt.date(1970, 1, 1)).days * 86_400_000 + 86_400_000
        for batch in store.query(sql, {"p": project.id, "start": start_ms, "end": end_ms}):
            chunk = ("\n".join(batch.column(0).to_pylist()) + "\n").encode()
            lines += len(batch)
            size += len(chunk)
    else:
        for chunk in export_lines(store, project, spec):
            lines += chunk.count(b"\n")
            size += len(chunk)
    seconds = time.perf_counter() - started
    store.close()
    return {
        "lines": lines,
        "bytes": size,
        "seconds": seconds,
        "cpu_seconds": time.process_time() - cpu,
        "peak_rss_mb": _peak_rss_mb(),
    }


def _peak_rss_mb() -> float:
    """This process's peak RSS. Not ``ru_maxrss``: Linux carries that across fork and
    exec, so a child started by a process that built the data set would report the
    parent's peak. ``VmHWM`` belongs to the process's own address space."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _in_child(directory: Path, share: float, baseline: bool, memory_limit: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.query_reads", "--export-child", str(directory),
         "--share", str(share), "--memory-limit", memory_limit]
        + (["--baseline"] if baseline else []),
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    found: dict[str, Any] = json.loads(out.stdout)
    return found


def _timed_ms(call: Any, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def _sample_ids(store: DuckDBStore, project: Project, n: int, seed: int) -> list[str]:
    ids = sorted(store.distinct_ids(project.id))  # sorted: the same sample every run
    return random.Random(seed).sample(ids, min(n, len(ids)))


def look_ups(directory: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    store = open_store(directory)
    project = get_project(store, manifest["project"]["name"])
    started = time.perf_counter()
    writer = ProjectWriter(store, project)
    load_seconds = time.perf_counter() - started
    sample = _sample_ids(store, project, 200, seed=11)

    def person(distinct_id: str) -> int:
        members = discovery.people_ids(writer.engine, project.mode, [distinct_id])
        return len(discovery.activity(store, project, members))

    sizes = [person(x) for x in sample]  # warm the index and the caches
    per_id = [min(_timed_ms(lambda x=x: person(x), 3)) for x in sample]

    def indexed_count(distinct_id: str) -> None:
        list(store.query(
            "SELECT count(*) FROM events WHERE project_id = $p AND distinct_id = $d",
            {"p": project.id, "d": distinct_id},
        ))  # fmt: skip

    baseline = [min(_timed_ms(lambda x=x: indexed_count(x), 3)) for x in sample]
    big = manifest["big_cluster"]
    device = next(x for x in big["ids"] if x != big["user_id"])
    big_events = person(device)
    big_look_up = _timed_ms(lambda: person(device), 10)
    explain = _timed_ms(lambda: tools.explain(writer, device), 10)
    cluster = _timed_ms(lambda: writer.engine.cluster(device), 10)
    store.close()
    return {
        "engine_load_seconds": load_seconds,
        "sample": len(sample),
        "events_per_person_median": statistics.median(sizes),
        "events_per_person_max": max(sizes),
        "look_up_ms": _stats(per_id),
        "baseline_ms": _stats(baseline),
        "big_cluster_events": big_events,
        "big_cluster_look_up_ms": _stats(big_look_up),
        "explain_ms": _stats(explain),
        "explain_history": len(tools.explain(writer, device)["history"]),
        "cluster_ms": _stats(cluster),
    }


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": statistics.median(ordered),
        "p95": ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))],
        "max": ordered[-1],
    }


def report(spec: DatasetSpec, manifest: dict[str, Any], found: dict[str, Any]) -> str:
    counts = manifest["counts"]
    lines = [
        "# Query reads: export, activity look-up, explain",
        "",
        f"- command: `python -m benchmarks.query_reads --events {spec.events} --ids {spec.ids}`",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; {os.cpu_count()} CPUs; "
        f"Python {platform.python_version()}; load average before: {found['load']}",
        f"- data: {counts['events']:,} events, {counts['distinct_stored_ids']:,} stored ids, "
        f"{counts['clusters']:,} clusters, {counts['merges']:,} merges "
        f"(mode {spec.mode}, seed {spec.seed}); one cluster of {spec.big_cluster} ids",
        "",
        "## Export (library path of `/api/2.0/export`)",
        "",
        f"DuckDB `memory_limit` {found['memory_limit']} (the `memory_limit` setting); "
        "peak RSS is each child's `VmHWM`.",
        "",
        "| days | events | export s | events/s | peak RSS MB | baseline s (stored text) "
        "| export / baseline | baseline peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for share, (run, base) in found["export"].items():
        lines.append(
            f"| {float(share):.0%} | {run['lines']:,} | {run['seconds']:.2f} | "
            f"{run['lines'] / run['seconds']:,.0f} | {run['peak_rss_mb']:.0f} | "
            f"{base['seconds']:.2f} | {run['seconds'] / base['seconds']:.2f} | "
            f"{base['peak_rss_mb']:.0f} |"
        )
    look = found["look_ups"]
    lines += [
        "",
        "## One person's activity (`stream/query`'s path) and explain",
        "",
        f"Engine loaded from the store in {look['engine_load_seconds']:.1f} s. "
        f"{look['sample']} ids drawn with seed 11; median person "
        f"{look['events_per_person_median']:.0f} events (max {look['events_per_person_max']}).",
        "",
        "| what | median ms | p95 ms | max ms | target | baseline median ms | ratio |",
        "|---|---:|---:|---:|---|---:|---:|",
        _row("activity look-up, sampled ids", look["look_up_ms"], "< 50 ms", look["baseline_ms"]),
        _row(
            f"activity of the 500-id cluster ({look['big_cluster_events']:,} events)",
            look["big_cluster_look_up_ms"],
            "< 50 ms",
            look["baseline_ms"],
        ),
        _row(
            f"explain of the 500-id cluster ({look['explain_history']} history entries)",
            look["explain_ms"],
            "< 100 ms",
            look["cluster_ms"],
        ),
        "",
        "Baselines: one indexed `count(*)` of a single stored id (look-ups); the engine's "
        "`cluster()` of the same id (explain).",
    ]
    return "\n".join(lines) + "\n"


def _row(what: str, stats: dict[str, float], target: str, base: dict[str, float]) -> str:
    return (
        f"| {what} | {stats['median']:.1f} | {stats['p95']:.1f} | {stats['max']:.1f} | "
        f"{target} | {base['median']:.2f} | {stats['median'] / base['median']:.1f} |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--ids", type=int, default=2_000_000)
    parser.add_argument("--export-child", help=argparse.SUPPRESS)
    parser.add_argument("--share", type=float, default=1.0, help=argparse.SUPPRESS)
    parser.add_argument("--baseline", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--memory-limit",
        default=next(x.default for x in SETTINGS if x.name == "memory_limit"),
        help="DuckDB memory_limit of the exports (default: the server's default)",
    )
    args = parser.parse_args(argv)
    if args.export_child:
        print(
            json.dumps(
                export_child(args.export_child, args.share, args.baseline, args.memory_limit)
            )
        )
        return 0
    spec = DatasetSpec(events=args.events, ids=args.ids)
    directory = build(spec, log=lambda line: print(line, file=sys.stderr))
    manifest = load_manifest(directory)
    found: dict[str, Any] = {"load": " ".join(f"{x:.2f}" for x in os.getloadavg()), "export": {}}
    found["memory_limit"] = args.memory_limit
    for share in (0.1, 1.0):
        base = _in_child(directory, share, True, args.memory_limit)
        run = _in_child(directory, share, False, args.memory_limit)
        found["export"][str(share)] = (run, base)
        print(f"export {share:.0%}: {run}, baseline {base}", file=sys.stderr)
    found["look_ups"] = look_ups(directory, manifest)
    text = report(spec, manifest, found)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "query_reads.md").write_text(text)
    (RESULTS / "query_reads.json").write_text(json.dumps(found, indent=1) + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
