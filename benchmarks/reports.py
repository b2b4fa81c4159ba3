"""Reports against ClickHouse: idmerge's segmentation, retention and funnel beside the
same questions put to ClickHouse's engine (``chdb``), on the same events and the same
identity mapping.

On the fixed-seed store of ``benchmarks/dataset.py`` (default 10M events over ~2M ids,
mode ``simplified``, 90 days from 2026-01-01):

* **segmentation**: unique users of "App Open" per UTC day, over the 90 days;
* **retention**: birth retention, born and return event "App Open", day buckets,
  ``interval_count`` 30 (31 counts), cohorts over the first 60 days;
* **funnel**: "App Open" -> "View Item" -> "Purchase", 7-day window, entries per UTC
  day over the 90 days.

idmerge runs its library calls (SQL and shaping) on the DuckDB store. For ClickHouse
the project's events (``event``, ``distinct_id``, ``time``, ``insert_id``) and identity
mapping are copied once, untimed: DuckDB writes them to Parquet, a
``chdb.session.Session`` loads them into MergeTree tables, and a ``COMPLEX_KEY_HASHED``
dictionary of the mapping resolves ids at query time (``dictGetOrDefault``: an id
without a row is its own person), as idmerge's join does. Neither side resolves ahead.

Each report has one or more ClickHouse formulations; all are timed and their answers
compared with idmerge's, and the ratio is taken against the fastest that answered the
same. The systems interleave (alternating which goes first) after one untimed warm-up;
figures are the median and best of ``--runs``; chdb's time includes parsing its output
into the Python values idmerge's answers are reduced to.

Run: ``python -m benchmarks.reports [--events 10000000 --ids 2000000 --runs 5]``;
writes ``benchmarks/results/reports.md``. A differing answer prints a MISMATCH line,
is marked in the table, and makes the exit status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import chdb
import chdb.session
import duckdb

from idmerge.errors import StoreLocked
from idmerge.query.buckets import Buckets
from idmerge.query.funnels import GRACE_MS, FunnelSpec, FunnelStep, funnel
from idmerge.query.retention import RetentionSpec, retention
from idmerge.query.segmentation import SegmentationSpec, segmentation
from idmerge.storage.duckdb import DATABASE_FILE, open_store

from benchmarks.dataset import DAY_MS, DatasetSpec, build, load_manifest

RESULTS = Path(__file__).parent / "results"
EVENT, VIEW, BUY = "App Open", "View Item", "Purchase"
COHORT_DAYS, RETURN_BUCKETS, WINDOW_MS = 60, 30, 7 * DAY_MS
#: The sort key of chdb's events table: the fastest of those tried (see NOTES).
ORDER_BY = "(event, distinct_id, time)"
RESOLVE = "dictGetOrDefault('resolve', 'resolved_distinct_id', tuple(distinct_id), distinct_id)"
NOTES = """\
- Ids are resolved through a dictionary. Written as `LEFT JOIN mapping`, the retention
  query became a cross join in ClickHouse 26.9's plan and had not finished after 10 min.
- ClickHouse inlines CTEs: the JOIN formulations compute `ev` (and its dictionary
  look-ups) twice. The array formulations read each person's events in one pass.
- The events table's `ORDER BY` was chosen by measurement (`--order-by` to change it):
  `(event, distinct_id, time)` was the fastest, or tied, for every formulation, against
  `(event, time)` and `tuple()`; a `COMPLEX_KEY_HASHED_ARRAY` dictionary changed nothing.
- `windowFunnel()` cannot express idmerge's 2-second grace (consecutive steps within 2 s
  count in either order); the array formulation applies it. A formulation answering
  otherwise than idmerge is marked in the tables, with a MISMATCH line.
"""

Answer = dict[str, tuple[int, ...]]  # bucket label -> the report's numbers for it
ARRAYS = "one pass per person, arrays"
_T = TypeVar("_T")


def _label(day: int) -> str:
    """The label of UTC day number ``day`` (days since 1970-01-01)."""
    return (dt.date(1970, 1, 1) + dt.timedelta(days=day)).isoformat()


# -- ClickHouse's SQL ------------------------------------------------------------------


def segmentation_sql(start: int, days: int) -> dict[str, str]:
    return {
        "uniqExact of resolved ids": f"SELECT intDiv(time, {DAY_MS}) AS d, uniqExact({RESOLVE}) "
        f"FROM events WHERE event = '{EVENT}' AND time >= {start} "
        f"AND time < {start + days * DAY_MS} GROUP BY d ORDER BY d"
    }


def retention_sql(start: int) -> dict[str, str]:
    n, end = RETURN_BUCKETS + 1, start + COHORT_DAYS * DAY_MS
    ev = (
        f"SELECT {RESOLVE} AS u, time AS t FROM events "
        f"WHERE event = '{EVENT}' AND time < {end + n * DAY_MS}"
    )
    conds = ", ".join(f"t > t0 AND intDiv(t - t0, {DAY_MS}) = {k}" for k in range(n))
    join = (
        f"WITH ev AS ({ev}), birth AS (SELECT u AS bu, min(t) AS t0 FROM ev GROUP BY u "
        f"HAVING t0 >= {start} AND t0 < {end}) SELECT cohort, count(), "
        + ", ".join(f"sum(r[{k + 2}])" for k in range(n))
        + f" FROM (SELECT bu, intDiv(t0, {DAY_MS}) AS cohort, retention(true, {conds}) AS r "
        f"FROM birth b JOIN ev e ON e.u = b.bu WHERE e.t >= b.t0 AND e.t < b.t0 + {n * DAY_MS} "
        "GROUP BY bu, cohort) GROUP BY cohort ORDER BY cohort"
    )
    # One row per person: birth, all "App Open" times; the bucket numbers of the returns
    # (after the birth millisecond), each person counted once per bucket.
    arrays = (
        f"SELECT intDiv(t0, {DAY_MS}) AS cohort, count(), "
        f"sumForEach(arrayMap(k -> toUInt64(has(ks, k)), range({n}))) FROM ("
        f"SELECT t0, arrayMap(x -> intDiv(x - t0, {DAY_MS}), "
        f"arrayFilter(x -> x > t0 AND x < t0 + {n * DAY_MS}, ts)) AS ks FROM ("
        f"SELECT u, min(t) AS t0, groupArray(t) AS ts FROM ({ev}) GROUP BY u "
        f"HAVING t0 >= {start} AND t0 < {end})) GROUP BY cohort ORDER BY cohort"
    )
    return {"births JOIN events, retention()": join, ARRAYS: arrays}


def funnel_sql(start: int, days: int) -> dict[str, str]:
    end, names = start + days * DAY_MS, f"('{EVENT}', '{VIEW}', '{BUY}')"
    window_funnel = (
        f"WITH ev AS (SELECT {RESOLVE} AS u, time AS t, event AS name FROM events "
        f"WHERE event IN {names} AND time >= {start} AND time < {end + WINDOW_MS}), "
        f"entry AS (SELECT u AS eu, intDiv(t, {DAY_MS}) AS b, min(t) AS t0 FROM ev "
        f"WHERE name = '{EVENT}' AND t < {end} GROUP BY eu, b) "
        "SELECT b, countIf(level >= 1), countIf(level >= 2), countIf(level >= 3) FROM ("
        f"SELECT eu, b, windowFunnel({WINDOW_MS})(toUInt64(e.t), e.name = '{EVENT}' "
        f"AND e.t = n.t0, e.name = '{VIEW}', e.name = '{BUY}') AS level FROM entry n "
        f"JOIN ev e ON e.u = n.eu WHERE e.t >= n.t0 AND e.t <= n.t0 + {WINDOW_MS} "
        "GROUP BY eu, b) GROUP BY b ORDER BY b"
    )
    # One row per person: sorted step times. Each day's first open is an entry at t0; its
    # view is the earliest in [t0 - 2 s, t0 + W], then any purchase in [t1 - 2 s, t0 + W]:
    # idmerge's rules, grace included.
    arrays = (
        f"SELECT intDiv(t0, {DAY_MS}) AS b, count(), countIf(t1 > 0), countIf(t1 > 0 AND "
        f"arrayExists(x -> x >= t1 - {GRACE_MS} AND x <= t0 + {WINDOW_MS}, buys)) FROM ("
        f"SELECT t0, arrayFirst(x -> x >= t0 - {GRACE_MS} AND x <= t0 + {WINDOW_MS}, views) "
        f"AS t1, buys FROM (SELECT {RESOLVE} AS u, arraySort(groupArrayIf(time, event = "
        f"'{EVENT}' AND time >= {start} AND time < {end})) AS opens, "
        f"arraySort(groupArrayIf(time, event = '{VIEW}')) AS views, "
        f"groupArrayIf(time, event = '{BUY}') AS buys FROM events WHERE event IN {names} "
        f"AND time >= {start - 2 * GRACE_MS} AND time <= {end + WINDOW_MS} GROUP BY u) "
        f"ARRAY JOIN arrayFilter((x, i) -> i = 1 OR intDiv(x, {DAY_MS}) != "
        f"intDiv(opens[i - 1], {DAY_MS}), opens, arrayEnumerate(opens)) AS t0) "
        "GROUP BY b ORDER BY b"
    )
    return {"entries JOIN events, windowFunnel()": window_funnel, ARRAYS: arrays}


def parsed(start: int, days: int, width: int) -> Callable[[bytes], Answer]:
    """Reads TabSeparated rows ``day, numbers...`` (array cells flattened) into an answer
    holding every day of the range, zero-filled."""

    def parse(raw: bytes) -> Answer:
        answer = {_label(start // DAY_MS + d): (0,) * width for d in range(days)}
        for line in raw.decode().splitlines():
            day, *cells = line.split("\t")
            numbers = [int(x) for c in cells for x in c.strip("[]").split(",") if x]
            answer[_label(int(day))] = tuple(numbers)
        return answer

    return parse


# -- the two systems -------------------------------------------------------------------


@dataclass(slots=True)
class Report:
    name: str
    idmerge: Callable[[], Answer]
    chdb: dict[str, str]  # formulation -> SQL
    parse: Callable[[bytes], Answer]
    times: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # wall, CPU
    rss: dict[str, float] = field(default_factory=dict)  # most RSS growth in one call, MiB
    peak: float = 0.0  # the process's peak RSS over the timed calls, MiB
    mismatches: dict[str, str] = field(default_factory=dict)


def idmerge_reports(data_dir: Path, start: int, days: int, memory: str) -> tuple[Any, list[Report]]:
    store = _unlocked(lambda: open_store(data_dir, memory_limit=memory))
    project = store.projects()[0]
    first = dt.date.fromisoformat(_label(start // DAY_MS))
    everything = Buckets(first, first + dt.timedelta(days=days - 1))
    cohorts = Buckets(first, first + dt.timedelta(days=COHORT_DAYS - 1))
    seg = SegmentationSpec(event=EVENT, buckets=everything, type="unique")
    ret = RetentionSpec(cohorts, "birth", EVENT, EVENT, interval_count=RETURN_BUCKETS)
    steps = (FunnelStep(EVENT), FunnelStep(VIEW), FunnelStep(BUY))
    fun = FunnelSpec(steps=steps, buckets=everything, length_ms=WINDOW_MS)

    def seg_answer() -> Answer:
        found = segmentation(store, project, seg)["data"]["values"][EVENT]
        return {label: (n,) for label, n in found.items()}

    def ret_answer() -> Answer:
        found = retention(store, project, ret)
        return {label: (c["first"], *c["counts"]) for label, c in found.items()}

    def fun_answer() -> Answer:
        found = funnel(store, project, fun)["data"]
        return {label: tuple(s["count"] for s in d["steps"]) for label, d in found.items()}

    return store, [
        Report("segmentation", seg_answer, segmentation_sql(start, days), parsed(start, days, 1)),
        Report(
            "retention",
            ret_answer,
            retention_sql(start),
            parsed(start, COHORT_DAYS, RETURN_BUCKETS + 2),
        ),
        Report("funnel", fun_answer, funnel_sql(start, days), parsed(start, days, 3)),
    ]


def _unlocked(open_: Callable[[], _T], patience_s: float = 600) -> _T:
    """``open_()``, retried while another process holds the store's file (other
    benchmarks and tests share the cached data sets)."""
    deadline = time.monotonic() + patience_s
    while True:
        try:
            return open_()
        except (StoreLocked, duckdb.IOException) as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            print(f"store in use, waiting: {exc}", file=sys.stderr)
            time.sleep(10)


def load_chdb(data_dir: Path, project_id: int, order_by: str, tmp: Path) -> tuple[Any, float]:
    """A chdb session holding the project's events and mapping; and the copy's seconds."""
    started = time.perf_counter()
    con = _unlocked(lambda: duckdb.connect(str(data_dir / DATABASE_FILE), read_only=True))
    for table, columns in (
        ("events", "event, distinct_id, time, insert_id"),
        ("identity_mapping", "distinct_id, resolved_distinct_id"),
    ):
        con.execute(
            f"COPY (SELECT {columns} FROM {table} WHERE project_id = {int(project_id)}) "
            f"TO '{tmp / table}.parquet' (FORMAT parquet)"
        )
    con.close()
    session = chdb.session.Session(str(tmp / "chdb"))  # type: ignore[no-untyped-call, unused-ignore]
    for sql in (
        "CREATE TABLE events (event LowCardinality(String), distinct_id String, time Int64, "
        f"insert_id Nullable(String)) ENGINE = MergeTree ORDER BY {order_by}",
        f"INSERT INTO events SELECT * FROM file('{tmp}/events.parquet', Parquet)",
        "OPTIMIZE TABLE events FINAL",
        "CREATE TABLE mapping (distinct_id String, resolved_distinct_id String) "
        "ENGINE = MergeTree ORDER BY distinct_id",
        f"INSERT INTO mapping SELECT * FROM file('{tmp}/identity_mapping.parquet', Parquet)",
        "CREATE DICTIONARY resolve (distinct_id String, resolved_distinct_id String) "
        "PRIMARY KEY distinct_id SOURCE(CLICKHOUSE(TABLE 'mapping')) "
        "LAYOUT(COMPLEX_KEY_HASHED()) LIFETIME(0)",
        "SYSTEM RELOAD DICTIONARY resolve",
    ):
        session.query(sql)  # type: ignore[no-untyped-call, unused-ignore]
    return session, time.perf_counter() - started


def _proc(*paths: str) -> dict[str, str]:
    """``key: value`` lines of /proc files (the first of each key)."""
    info: dict[str, str] = {}
    for path in paths:
        with contextlib.suppress(OSError):
            for line in Path(path).read_text().splitlines():
                key, _, value = line.partition(":")
                info.setdefault(key.strip(), value.strip())
    return info


def _rss_mib(key: str) -> float:
    return int(_proc("/proc/self/status").get(key, "0 kB").split()[0]) / 1024


def measured(call: Callable[[], Answer]) -> tuple[Answer, float, float, float, float]:
    """The call's answer, wall and CPU seconds (all the process's threads), and its
    RSS growth and peak RSS in MiB (``VmHWM``, reset first through ``clear_refs``; the
    growth is NaN where the reset is refused)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        before = _rss_mib("VmRSS")
    except OSError:
        before = float("nan")
    wall, cpu = time.perf_counter(), time.process_time()
    answer = call()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    peak = _rss_mib("VmHWM")
    return answer, wall, cpu, peak - before, peak


def run(reports: list[Report], session: Any, runs: int) -> None:
    """Every report's calls, ``runs`` times after an untimed warm-up, alternating which
    system goes first; each chdb answer is compared with idmerge's of the same run."""
    for r in range(runs + 1):
        for report in reports:
            calls: list[tuple[str, Callable[[], Answer]]] = [("idmerge", report.idmerge)]
            for name, sql in report.chdb.items():
                calls.append((name, _chdb_call(session, sql, report.parse)))
            answers: dict[str, Answer] = {}
            for name, call in calls if r % 2 else calls[::-1]:
                answers[name], wall, cpu, rss, peak = measured(call)
                report.peak = max(report.peak, peak)
                if r:
                    report.times.setdefault(name, []).append((wall, cpu))
                    report.rss[name] = max(report.rss.get(name, 0.0), rss)
                print(f"run {r} {report.name} / {name}: {wall:.3f} s", file=sys.stderr)
            for name in report.chdb:
                diff = _difference(answers["idmerge"], answers[name])
                if diff and name not in report.mismatches:
                    report.mismatches[name] = diff
                    print(f"MISMATCH {report.name} / {name}: {diff}", file=sys.stderr)


def _chdb_call(session: Any, sql: str, parse: Callable[[bytes], Answer]) -> Callable[[], Answer]:
    return lambda: parse(session.query(sql, "TabSeparated").bytes())


def _difference(expected: Answer, found: Answer) -> str:
    """Empty when equal, else the first differing buckets."""
    keys = [k for k in sorted(expected.keys() | found.keys()) if expected.get(k) != found.get(k)]
    shown = "; ".join(f"{k}: idmerge {expected.get(k)}, chdb {found.get(k)}" for k in keys[:3])
    return shown + (f" (and {len(keys) - 3} more buckets)" if len(keys) > 3 else "")


# -- the report ------------------------------------------------------------------------


def _median(report: Report, name: str, which: int = 0) -> float:
    return statistics.median(t[which] for t in report.times[name])


def fastest(report: Report) -> str:
    """The quickest chdb formulation among those that answered as idmerge did (among
    all of them when none did)."""
    right = [n for n in report.chdb if n not in report.mismatches] or list(report.chdb)
    return min(right, key=lambda n: _median(report, n))


def _machine() -> str:
    info = _proc("/proc/cpuinfo", "/proc/meminfo")
    ram = int(info.get("MemTotal", "0 kB").split()[0]) / 2**20
    model = info.get("model name", platform.processor())
    return f"{os.cpu_count()} CPUs ({model}), {ram:.1f} GiB RAM"


def _git() -> str:
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        return subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            capture_output=True, text=True, check=True, cwd=Path(__file__).parent,
        ).stdout.strip()  # fmt: skip
    return "unknown"


def report_text(reports: list[Report], facts: dict[str, Any]) -> str:
    m, counts = facts["manifest"], facts["manifest"]["counts"]
    lines = [
        "# Reports: idmerge (DuckDB) against ClickHouse (chdb)",
        "",
        f"- command: `{facts['command']}`",
        f"- date: {facts['date']}; git {_git()}; load average before {facts['load_before']}, "
        f"after {facts['load_after']}",
        f"- machine: {_machine()}; Python {platform.python_version()}; duckdb "
        f"{duckdb.__version__} ({facts['duckdb_threads']} threads, memory_limit "
        f"{facts['memory_limit']}); chdb {chdb.__version__}, ClickHouse {facts['clickhouse']} "
        f"(max_threads {facts['chdb_threads']})",
        f"- data: `benchmarks/dataset.py` digest {m['digest']}: {counts['events']:,} events "
        f"({counts['duplicate_events']:,} re-sent), {counts['distinct_stored_ids']:,} stored "
        f"ids, {counts['mapped_ids']:,} mapped ids in {counts['clusters']:,} clusters; mode "
        f"{m['spec']['mode']}, {m['spec']['days']} days from {m['spec']['start_day']}",
        f"- copy into chdb (untimed): {facts['load_seconds']:.1f} s (DuckDB -> Parquet -> "
        f"MergeTree `ORDER BY {facts['order_by']}`, dictionary loaded); peak RSS of the "
        f"process (both engines) {facts['peak_rss']:,.0f} MiB",
        f"- {facts['runs']} timed runs after a warm-up, the systems interleaved: medians, "
        "best in parentheses; CPU counts all the process's threads",
        "",
        "| report | idmerge s | chdb s | chdb's fastest formulation | idmerge / chdb "
        "| same, on CPU | identical answers |",
        "|---|---:|---:|---|---:|---:|:---:|",
    ]
    for r in reports:
        chdb_, wrong = fastest(r), [n for n in r.chdb if n in r.mismatches]
        lines.append(
            f"| {r.name} | {_median(r, 'idmerge'):.2f} ({min(r.times['idmerge'])[0]:.2f}) | "
            f"{_median(r, chdb_):.2f} ({min(r.times[chdb_])[0]:.2f}) | {chdb_} | "
            f"{_median(r, 'idmerge') / _median(r, chdb_):.2f} | "
            f"{_median(r, 'idmerge', 1) / _median(r, chdb_, 1):.2f} | "
            + ("yes |" if not wrong else f"**NO** ({', '.join(wrong)}) |")
        )
    lines += [
        "",
        "Every formulation (RSS growth: the most `VmHWM` rose above `VmRSS` in one call):",
        "",
        "| report | system: formulation | wall s | best s | CPU s | RSS growth MiB "
        "| answer as idmerge's |",
        "|---|---|---:|---:|---:|---:|:---:|",
    ]
    for r in reports:
        for name in ("idmerge", *r.chdb):
            same = "" if name == "idmerge" else "**NO**" if name in r.mismatches else "yes"
            lines.append(
                f"| {r.name} | {'' if name == 'idmerge' else 'chdb: '}{name} | "
                f"{_median(r, name):.3f} | {min(r.times[name])[0]:.3f} | "
                f"{_median(r, name, 1):.3f} | {r.rss[name]:,.0f} | {same} |"
            )
    lines += [
        "",
        *(f"MISMATCH {r.name} / {n}: {d}\n" for r in reports for n, d in r.mismatches.items()),
    ]
    return "\n".join([*lines, "Notes:", "", NOTES])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--ids", type=int, default=2_000_000)
    parser.add_argument("--runs", type=int, default=5, help="timed runs, after a warm-up")
    parser.add_argument("--memory-limit", default="2GB", help="DuckDB's memory_limit")
    parser.add_argument("--order-by", default=ORDER_BY, help="sort key of chdb's events table")
    parser.add_argument("--out", type=Path, default=RESULTS / "reports.md")
    args = parser.parse_args(argv)
    spec = DatasetSpec(events=args.events, ids=args.ids)
    data_dir = build(spec, log=lambda line: print(line, file=sys.stderr))
    facts: dict[str, Any] = {
        "command": shlex.join(["python", "-m", "benchmarks.reports", *(argv or sys.argv[1:])]),
        "manifest": load_manifest(data_dir),
        "date": f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC",
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "memory_limit": args.memory_limit,
        "order_by": args.order_by,
        "runs": args.runs,
    }
    with tempfile.TemporaryDirectory(prefix="idmerge-reports-") as tmp:
        project_id = facts["manifest"]["project"]["id"]
        session, facts["load_seconds"] = load_chdb(data_dir, project_id, args.order_by, Path(tmp))
        found = session.query("SELECT version(), getSetting('max_threads')", "TabSeparated")
        facts["clickhouse"], facts["chdb_threads"] = found.bytes().decode().split()
        store, reports = idmerge_reports(data_dir, spec.start_ms, spec.days, args.memory_limit)
        threads = next(store.query("SELECT current_setting('threads') AS n")).to_pylist()
        facts["duckdb_threads"] = threads[0]["n"]
        load_peak = _rss_mib("VmHWM")
        try:
            run(reports, session, args.runs)
        finally:
            store.close()
            session.close()
    facts["peak_rss"] = max(load_peak, *(r.peak for r in reports))
    facts["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    text = report_text(reports, facts)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    if any(r.mismatches for r in reports):
        print("MISMATCH: chdb and idmerge answered differently (see above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
