"""Identity-engine benchmark: throughput of ``apply_many`` / ``apply``, rebuild, memory.

Run from the repository root::

    python -m benchmarks.identity_engine [--events 5000000 --users 1000000]
        [--modes simplified,original,legacy,cdp] [--seed 7]

Each mode runs in a fresh subprocess (so peak RSS is per mode), one after the other.
In each, the stream of :mod:`benchmarks.datagen` is generated into memory first (not
timed); then:

* **identity events** are the events with identity meaning (the spec's "any event
  whose processing may change clusters": an outcome, ``noop`` included, logged or
  not); the log holds only the entries of those that changed something or were
  refused or ignored.
* **``apply`` pass** (a diagnostic): ``engine.apply(event, seq)``, one call per
  event, over every event, keeping the log entries as the caller does.
* **``apply_many`` pass**: the writer's path, a fresh engine fed batches of
  ``--batch`` events (10,000), ``drain_changes`` after each; its log must equal the
  ``apply`` pass's. Reported: events/s, and identity events / the whole pass.
* **identity-only pass** (the figure the throughput target is judged on): a fresh
  engine applies only the identity events as the server's writer does, through
  ``apply_many`` in batches, ``drain_changes`` after each; identity events / that
  time, the best of ``ONLY_RUNS`` engines. Freeing the engine afterwards, which a
  server does only when it stops, is timed apart and reported, not counted. The events are
  copied first, in order, into new objects (a JSON round trip, not timed): that is
  how a server's writer gets them, just decoded and side by side in memory, whereas
  the generated stream leaves each identity event among fifteen others, scattered
  through gigabytes. Diagnostics, interleaved with the pass and also the best of
  ``ONLY_RUNS``: the events where the stream left them, and the copies with the
  garbage collector off (how much of the pass its passes take).
* **baseline**: the same loop over the same events that only reads each event's
  identity properties and does one dict assignment, run between the timed sections
  (before the first pass and after each one); the best time counts. The ratios to
  it are the figures to compare run to run on a noisy machine: both are measured in
  the same process, minutes apart, on the same objects, and on CPU time
  (``time.process_time``), which time slices lost to other processes do not
  inflate. Wall times are reported too, with the load average.
* **rebuild**: ``IdentityEngine.replay(policy, log)`` of the pass's log in a fresh
  process that loads the log (and, in ``cdp``, the stored ids, as ``load_engine``
  does) from a file, as a server does at start-up; its time, and that time scaled to
  1M log entries (what a rebuild replays). The rebuilt engine is compared with the
  live one (a hash of the id -> resolved id map). Diagnostics: the same with the cyclic garbage
  collector off, and a replay inside the benchmark process (whose heap the 3 GB
  stream has scattered: slower, as a split in a long-running server may be).
* **memory**: peak RSS of the mode's process through the pass (``ru_maxrss``: the
  stream held in memory, the engine and the log), the stream's RSS, the RSS growth
  over the pass (engine + the log the caller keeps + the engine's undrained change
  set); in the rebuild process, the RSS of the loaded log and the RSS the rebuilt
  engine adds, and the engine's retained memory measured exactly with
  ``tracemalloc`` by replaying once more under tracing (everything the rebuilt
  engine allocated and still holds; the log entries it references are not counted).

Garbage collection stays on in every timed section, but the stream and whatever was
alive before the section are frozen (``gc.freeze()``) so that collections walk only
what the timed code allocated, as they would in a server that does not hold millions
of events in memory.

``--profile MODE`` runs one mode in this process under ``cProfile`` (the writer's
``apply_many`` path when the engine has it, else ``apply``; then the replay) and
prints the hottest functions instead of timing.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import hashlib
import json
import os
import pickle
import platform
import pstats
import resource
import shlex
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from idmerge.identity import Event, IdentityEngine, LogEntry, Mode, Policy, paused_gc

from benchmarks.datagen import MODES, Config, Story, event_chunks

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "identity_engine.md"
ENGINE_SOURCES = ROOT / "src" / "idmerge" / "identity"


def engine_fingerprint() -> str:
    """A hash of the engine's sources, so a result names the code it measured."""
    digest = hashlib.sha256()
    for path in sorted(ENGINE_SOURCES.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def loaded_engine() -> tuple[str, bool]:
    """A hash of the engine modules this process loaded (``.py`` or, when the engine
    was compiled with mypyc, the extension modules), and whether they are compiled."""
    digest = hashlib.sha256()
    compiled = False
    # mypyc puts the compiled code of all modules in one "<hash>__mypyc" library and
    # leaves a small shim per module: hash both
    names = (n for n in sys.modules if n.startswith("idmerge.identity") or n.endswith("__mypyc"))
    for name in sorted(names):
        path = getattr(sys.modules[name], "__file__", None)
        if path:
            compiled = compiled or not path.endswith(".py")
            digest.update(Path(path).name.encode())
            digest.update(Path(path).read_bytes())
    return digest.hexdigest()[:12], compiled


#: The engine this process imported (others may edit the sources meanwhile).
LOADED_ENGINE, COMPILED = loaded_engine()
LOADED_SOURCES = engine_fingerprint()

#: Targets from the issue.
TARGET_IDENTITY_PER_S = 300_000  # for simplified and original
TARGET_REPLAY_1M_S = 5.0
#: Fresh engines timed on the identity-only pass (and on each of its diagnostics,
#: interleaved); the best counts. The same code measured 260k-340k identity events/s
#: from one process to the next (simplified, 2026-11-22), so one pass says little.
ONLY_RUNS = 3


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def loadavg() -> str:
    """The 1-minute load average (other processes competing for the 2 cores)."""
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def settle() -> None:
    """Collect, then freeze everything alive so timed code's collections skip it."""
    gc.collect()
    gc.freeze()


# -- the measured loops -------------------------------------------------------------


def engine_pass(policy: Policy, events: Sequence[Event]) -> tuple[IdentityEngine, list[LogEntry]]:
    engine = IdentityEngine(policy)
    apply = engine.apply
    entries: list[LogEntry] = []
    keep = entries.append
    for seq, event in enumerate(events):
        entry = apply(event, seq).entry
        if entry is not None:
            keep(entry)
    return engine, entries


def batch_pass(
    policy: Policy, events: Sequence[Event], batch: int
) -> tuple[IdentityEngine, list[LogEntry], list[int]]:
    """The writer's path: ``apply_many`` per batch, then ``drain_changes``.

    Answers the engine, the log, and the sequence numbers of the *identity events*:
    those with identity meaning (an outcome, logged or not; the spec's "any event
    whose processing may change clusters")."""
    engine = IdentityEngine(policy)
    apply_many = engine.apply_many
    drain = engine.drain_changes
    entries: list[LogEntry] = []
    meaningful: list[int] = []
    for first in range(0, len(events), batch):
        applied = apply_many(events[first : first + batch], first)
        entries.extend(applied.entries)
        meaningful.extend(
            first + i for i, outcome in enumerate(applied.outcomes) if outcome is not None
        )
        drain()
    return engine, entries, meaningful


def fresh_copy(events: list[Event]) -> list[Event]:
    """``events`` re-created in order, the way a server's decoder hands a batch to the
    writer: through JSON, so every object is new and side by side in memory, and an
    id two events share is two strings, as decoded it is (a pickle would keep one)."""
    fields = [(e.name, e.properties, e.time, e.insert_id, e.trusted) for e in events]
    with paused_gc():  # as in ``generate``: the copies are alive, acyclic and many
        decoded = msgspec.json.decode(msgspec.json.encode(fields))
        return [Event(*row) for row in decoded]


def identity_only_pass(policy: Policy, events: Sequence[Event], batch: int) -> IdentityEngine:
    """A fresh engine applies only the identity events, as the server's writer does:
    ``apply_many`` per batch, then ``drain_changes``. Answers the engine, so that
    freeing it (which a server does only when it stops) is timed apart."""
    engine = IdentityEngine(policy)
    apply_many, drain = engine.apply_many, engine.drain_changes
    for first in range(0, len(events), batch):
        apply_many(events[first : first + batch], first)
        drain()
    return engine


def timed_pass(policy: Policy, events: Sequence[Event], batch: int) -> tuple[float, float, float]:
    """(wall, CPU, seconds to free the engine after it) of one identity-only pass."""
    wall, cpu, engine = timed(lambda: identity_only_pass(policy, events, batch))
    kept = [engine]
    del engine
    freed, _, _ = timed(kept.clear)
    return wall, cpu, freed


def baseline_device_user(events: Sequence[Event]) -> int:
    """simplified / cdp: read ``$user_id``, ``$device_id`` (else ``distinct_id``)."""
    last: dict[Any, Any] = {}
    for seq, event in enumerate(events):
        props = event.properties
        user = props.get("$user_id")
        device = props.get("$device_id")
        if user is None:
            user = props.get("distinct_id")
        if event.name[0] == "$":
            device = props.get("alias", device)
        last[user] = device if device is not None else seq
    return len(last)


def baseline_distinct_id(events: Sequence[Event]) -> int:
    """original / legacy: read ``distinct_id``, and the other ids of ``$`` events."""
    last: dict[Any, Any] = {}
    for seq, event in enumerate(events):
        props = event.properties
        sent = props.get("distinct_id")
        other: Any = seq
        if event.name[0] == "$":
            other = (
                props.get("$anon_id")
                or props.get("$anon_distinct_id")
                or props.get("alias")
                or props.get("$distinct_ids")
            )
        last[sent] = other
    return len(last)


BASELINES: dict[str, Callable[[Sequence[Event]], int]] = {
    "simplified": baseline_device_user,
    "cdp": baseline_device_user,
    "original": baseline_distinct_id,
    "legacy": baseline_distinct_id,
}


def timed(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(wall seconds, CPU seconds, result) of ``fn()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def generate(config: Config, mode: str) -> tuple[list[Event], dict[str, int]]:
    """The whole stream in memory. The collector is off meanwhile: millions of live,
    acyclic objects would only make every full collection longer."""
    story = Story(config)
    events: list[Event] = []
    gc.disable()
    try:
        for chunk in event_chunks(config, mode, story=story):
            events.extend(chunk)
    finally:
        gc.enable()
    return events, story.stats()


# -- one mode, in its own process -----------------------------------------------------


def run_mode(mode: str, config: Config, *, repeat: int = 1, batch: int = 10_000) -> dict[str, Any]:
    policy = Policy.for_mode(Mode(mode))
    load_start = loadavg()
    rss_start = rss_bytes()
    log(f"{mode}: generating {config.events:,} events over {config.users:,} users")
    gen_s, _, (events, story) = timed(lambda: generate(config, mode))
    settle()
    stream_rss = rss_bytes() - rss_start
    log(f"{mode}: generated in {gen_s:.1f} s, stream RSS {stream_rss / 2**20:,.0f} MiB")
    baseline = BASELINES[mode]
    baseline_wall: list[float] = []
    baseline_cpu: list[float] = []

    def run_baseline() -> None:
        settle()
        wall, cpu, _ = timed(lambda: baseline(events))
        baseline_wall.append(wall)
        baseline_cpu.append(cpu)

    run_baseline()
    pass_s: list[float] = []
    pass_cpu: list[float] = []
    rss_pass = 0
    engine: IdentityEngine | None = None
    entries: list[LogEntry] = []
    for r in range(repeat):
        engine = None
        entries = []
        settle()
        before = rss_bytes()
        wall, cpu, (engine, entries) = timed(lambda: engine_pass(policy, events))
        if r == 0:
            rss_pass = rss_bytes() - before
        pass_s.append(wall)
        pass_cpu.append(cpu)
        log(f"{mode}: pass {r + 1}/{repeat} {wall:.2f} s, {len(entries):,} identity events")
    assert engine is not None
    n_id = len(entries)  # identity events of the apply pass
    undrained = engine.clusters.changes_pending()
    peak_after_pass = peak_rss_bytes()
    run_baseline()

    engine = None
    settle()
    wall, cpu, (engine, batch_entries, meaningful) = timed(
        lambda: batch_pass(policy, events, batch)
    )
    log(f"{mode}: apply_many pass {wall:.2f} s, {len(batch_entries):,} identity events")
    many = {
        "many_s": wall,
        "many_cpu_s": cpu,
        "many_entries": len(batch_entries),
        "many_same_log": batch_entries == entries,
        "identity_meaning": len(meaningful),
    }
    entries = batch_entries  # identical when many_same_log; else the writer's log
    del batch_entries
    run_baseline()

    in_stream = [events[seq] for seq in meaningful]
    identity_events = fresh_copy(in_stream)
    only_runs, nogc_s, stream_s = [], [], []
    for _ in range(ONLY_RUNS):  # the pass and its diagnostics, interleaved, best of each
        settle()
        only_runs.append(timed_pass(policy, identity_events, batch))
        settle()
        with paused_gc():  # the share of the collector's passes over the engine's objects
            nogc_s.append(timed_pass(policy, identity_events, batch)[0])
        settle()  # the same events where the generated stream left them
        stream_s.append(timed_pass(policy, in_stream, batch)[0])
    only_s, only_cpu, only_freed = min(only_runs)
    only_n = len(identity_events)
    only_nogc_s, only_stream_s = min(nogc_s), min(stream_s)
    identity_events.clear()  # the copies: memory for the rebuild below
    in_stream.clear()
    log(
        f"{mode}: identity-only pass {', '.join(f'{run[0]:.2f}' for run in only_runs)} s; "
        f"collector off {only_nogc_s:.2f} s; events as the stream left them {only_stream_s:.2f} s; "
        f"freeing the engine afterwards {only_freed:.2f} s (not counted)"
    )

    run_baseline()
    n_events = len(events)
    seen = engine.seen_ids if mode == "cdp" else set()

    # diagnostic: replay in this process, the entries pointing into the stream's heap
    settle()
    inplace_s, _, rebuilt = timed(lambda: IdentityEngine.replay(policy, entries, seen_ids=seen))
    del rebuilt

    # The rebuild that counts is a server's at start-up: a fresh process loads the log
    # (and, in cdp, the stored ids) and replays it. Hand them over through a file.
    digest = mapping_digest(engine)
    clustered = len(engine.clusters)
    with tempfile.NamedTemporaryFile(prefix="idmerge-log-", suffix=".pickle") as f:
        pickle.dump((entries, seen), f, protocol=pickle.HIGHEST_PROTOCOL)
        f.flush()
        child = [sys.executable, "-m", "benchmarks.identity_engine", "--replay-worker"]
        done = subprocess.run(
            [*child, mode, "--log", f.name], cwd=ROOT, stdout=subprocess.PIPE, text=True, check=True
        )
    rebuild = json.loads(done.stdout.strip().splitlines()[-1])
    log(f"{mode}: replay {rebuild['replay_s']:.2f} s (in this process: {inplace_s:.2f} s)")

    outcomes = Counter(
        f"{e.op.name.lower()} {e.outcome.value}" + (f" {e.reason.value}" if e.reason else "")
        for e in entries
    )
    best = min(pass_s)
    return {
        "mode": mode,
        "events": n_events,
        "identity_events": len(meaningful),
        "identity_share": len(meaningful) / n_events,
        "logged_entries": n_id,
        "generate_s": gen_s,
        "pass_s": best,
        "pass_s_all": pass_s,
        "pass_cpu_s": min(pass_cpu),
        "events_per_s": n_events / best,
        "identity_per_s": len(meaningful) / many["many_s"],
        "identity_only_s": only_s,
        "identity_only_cpu_s": only_cpu,
        "identity_only_freed_s": only_freed,
        "identity_only_entries": only_n,
        "identity_only_per_s": only_n / only_s,
        "identity_only_s_all": [run[0] for run in only_runs],
        "identity_only_nogc_s": only_nogc_s,
        "identity_only_nogc_per_s": only_n / only_nogc_s,
        "identity_only_stream_s": only_stream_s,
        "identity_only_stream_per_s": only_n / only_stream_s,
        "baseline_s": min(baseline_wall),
        "baseline_s_all": baseline_wall,
        "baseline_cpu_s": min(baseline_cpu),
        "ratio": min(pass_cpu) / min(baseline_cpu),
        "ratio_wall": best / min(baseline_wall),
        **rebuild,
        # a rebuild replays the log, so it is scaled per logged entry
        "replay_per_1m_s": rebuild["replay_s"] * 1_000_000 / max(n_id, 1),
        "replay_nogc_per_1m_s": rebuild["replay_nogc_s"] * 1_000_000 / max(n_id, 1),
        "replay_equals_incremental": rebuild["digest"] == digest,
        "replay_inplace_s": inplace_s,
        "peak_rss": peak_after_pass,
        "peak_rss_final": peak_rss_bytes(),
        "stream_rss": stream_rss,
        "pass_rss_delta": rss_pass,
        "clustered_ids": clustered,
        "undrained_changes": undrained,
        "outcomes": dict(outcomes.most_common()),
        "story": story,
        "loadavg": [load_start, loadavg()],
        "engine": LOADED_ENGINE,
        "compiled": COMPILED,
        "engine_changed_during_run": engine_fingerprint() != LOADED_SOURCES,
        "batch": batch,
        **many,
    }


def mapping_digest(engine: IdentityEngine) -> str:
    """A hash of the engine's id -> resolved id map, to compare two engines."""
    digest = hashlib.sha256()
    for distinct_id, resolved in sorted(engine.mapping()):
        digest.update(f"{distinct_id}\0{resolved}\n".encode())
    return digest.hexdigest()


def replay_worker(mode: str, path: str) -> dict[str, Any]:
    """Rebuild from a log file in this fresh process, as a server does at start-up."""
    policy = Policy.for_mode(Mode(mode))
    with open(path, "rb") as f:
        entries, seen = pickle.load(f)
    settle()
    rss_log = rss_bytes()
    replay_s, replay_cpu, rebuilt = timed(
        lambda: IdentityEngine.replay(policy, entries, seen_ids=seen)
    )
    rss_engine = rss_bytes() - rss_log
    peak = peak_rss_bytes()
    digest = mapping_digest(rebuilt)
    del rebuilt
    # diagnostic: the same replay with the cyclic collector off throughout
    settle()
    gc.disable()
    try:
        nogc_s, nogc_cpu, rebuilt = timed(
            lambda: IdentityEngine.replay(policy, entries, seen_ids=seen)
        )
    finally:
        gc.enable()
    del rebuilt
    gc.collect()
    tracemalloc.start()
    traced = IdentityEngine.replay(policy, entries, seen_ids=seen)
    gc.collect()
    retained = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    del traced
    return {
        "replay_s": replay_s,
        "replay_cpu_s": replay_cpu,
        "replay_nogc_s": nogc_s,
        "replay_nogc_cpu_s": nogc_cpu,
        "rebuild_rss_log": rss_log,
        "rebuild_rss_engine": rss_engine,
        "rebuild_peak_rss": peak,
        "engine_traced": retained,
        "digest": digest,
    }


# -- profiling ---------------------------------------------------------------------


def profile_mode(mode: str, config: Config, top: int, batch: int = 10_000) -> None:
    policy = Policy.for_mode(Mode(mode))
    events, _ = generate(config, mode)
    settle()
    profiler = cProfile.Profile()
    profiler.enable()
    engine, entries, _ = batch_pass(policy, events, batch)
    how = f"apply_many, batches of {batch:,}"
    profiler.disable()
    print(f"## {mode}: {how}, {len(events):,} events ({len(entries):,} identity)")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(top)
    seen = engine.seen_ids if mode == "cdp" else set()
    settle()
    profiler = cProfile.Profile()
    profiler.enable()
    IdentityEngine.replay(policy, entries, seen_ids=seen)
    profiler.disable()
    print(f"## {mode}: replay of {len(entries):,} log entries")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(top)


# -- report ------------------------------------------------------------------------


def mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def machine() -> dict[str, str]:
    mem_kib = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    cpu = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(
                (ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name")), cpu
            )
    except OSError:
        pass
    return {
        "nproc": str(len(os.sched_getaffinity(0))),
        "ram": f"{mem_kib / 2**20:.1f} GiB",
        "cpu": cpu,
        "python": platform.python_version(),
    }


def git_head() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return "unknown"
    return out.stdout.strip() or "no commit"


def report(results: list[dict[str, Any]], config: Config, command: str) -> str:
    m = machine()
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Identity engine benchmark",
        "",
        f"- date: {when}",
        f"- machine: {m['nproc']} CPUs (`nproc`), {m['ram']} RAM, {m['cpu']}",
        f"- Python {m['python']}; git {git_head()} plus the working tree; the engine "
        "modules each mode's process loaded (sha256 of the files): "
        + ", ".join(
            f"{r['mode']} `{r['engine']}`"
            + (" mypyc-compiled" if r.get("compiled") else " pure Python")
            + (" (sources changed during the run)" if r["engine_changed_during_run"] else "")
            for r in results
        ),
        f"- command: `{command}`",
        f"- stream: {config.events:,} events, {config.users:,} users, seed {config.seed} "
        "(`benchmarks/datagen.py`); each mode in its own process",
        "",
        "## Throughput",
        "",
        "| mode | identity events (share) | `apply` per event, wall (CPU) | events/s "
        "| identity events/s over the whole `apply_many` pass "
        "| identity-only pass: identity events/s "
        "| baseline, wall (CPU) | `apply` / baseline (CPU) "
        "| `apply_many` pass, wall (CPU): events/s | `apply_many` / baseline (CPU) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        many = (
            f"{r['many_s']:.2f} s ({r['many_cpu_s']:.2f} s): "
            f"{r['events'] / r['many_s']:,.0f} "
            f"| {r['many_cpu_s'] / r['baseline_cpu_s']:.1f}x"
        )
        lines.append(
            f"| {r['mode']} | {r['identity_events']:,} ({r['identity_share']:.1%}) "
            f"| {r['pass_s']:.2f} s ({r['pass_cpu_s']:.2f} s) | {r['events_per_s']:,.0f} "
            f"| {r['identity_per_s']:,.0f} | {r['identity_only_per_s']:,.0f} "
            f"| {r['baseline_s']:.2f} s ({r['baseline_cpu_s']:.2f} s) | {r['ratio']:.1f}x "
            f"| {many} |"
        )
    lines += [
        "",
        "## Rebuild and memory",
        "",
        "Rebuild = `IdentityEngine.replay` of the pass's log in a fresh process that loaded "
        "the log (and, in cdp, the stored ids) from a file, as a server does at start-up.",
        "",
        "| mode | rebuild (log entries) | rebuild per 1M log entries "
        "| diagnostic: collector off, per 1M | diagnostic: replay inside the benchmark "
        "process, per 1M | rebuilt = incremental | rebuild process: RSS once the log is loaded, "
        "+ growth by the rebuild | engine retained (tracemalloc) | peak RSS through the pass "
        "| stream RSS | RSS growth over the pass (engine + log) | clustered ids |",
        "|---|---:|---:|---:|---:|:---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        per_m = 1_000_000 / max(r["logged_entries"], 1)
        lines.append(
            f"| {r['mode']} | {r['replay_s']:.2f} s ({r['logged_entries']:,}) "
            f"| {r['replay_per_1m_s']:.2f} s | {r['replay_nogc_per_1m_s']:.2f} s "
            f"| {r['replay_inplace_s'] * per_m:.2f} s "
            f"| {'yes' if r['replay_equals_incremental'] else 'NO'} "
            f"| {mib(r['rebuild_rss_log'])} + {mib(r['rebuild_rss_engine'])} "
            f"| {mib(r['engine_traced'])} | {mib(r['peak_rss'])} | {mib(r['stream_rss'])} "
            f"| {mib(r['pass_rss_delta'])} | {r['clustered_ids']:,} |"
        )
    lines += ["", "## Targets", ""]
    for r in results:
        if r["mode"] in ("simplified", "original"):
            ok = r["identity_only_per_s"] >= TARGET_IDENTITY_PER_S
            lines.append(
                f"- {r['mode']}: identity events/s (the identity events alone, through "
                f"`apply_many`) {r['identity_only_per_s']:,.0f} vs {TARGET_IDENTITY_PER_S:,}: "
                f"**{'met' if ok else 'MISSED'}** (over the whole stream: "
                f"{r['identity_per_s']:,.0f} identity events/s among "
                f"{r['events'] / r['many_s']:,.0f} events/s; with the collector off: "
                f"{r['identity_only_nogc_per_s']:,.0f}; on the events "
                "where the stream left them: "
                f"{r['identity_only_stream_per_s']:,.0f})"
            )
    for r in results:
        ok = r["replay_per_1m_s"] < TARGET_REPLAY_1M_S
        lines.append(
            f"- {r['mode']}: rebuild in a fresh process, scaled to 1M log entries, "
            f"{r['replay_per_1m_s']:.2f} s "
            f"vs < {TARGET_REPLAY_1M_S:g} s: **{'met' if ok else 'MISSED'}**"
        )
    lines += ["", "## Identity outcomes", ""]
    for r in results:
        parts = ", ".join(f"{k}: {v:,}" for k, v in r["outcomes"].items())
        extra = (
            f" (events with identity meaning, logged or not: {r['identity_meaning']:,}; "
            f"`apply_many` log = `apply` log: {'yes' if r['many_same_log'] else 'NO'})"
        )
        lines.append(f"- {r['mode']}: {parts}{extra}")
    story = results[0]["story"] if results else {}
    lines += [
        "",
        "## Stream",
        "",
        "Same story in every mode: " + ", ".join(f"{k} {v:,}" for k, v in story.items()) + ".",
        "",
        "## Raw timings",
        "",
    ]
    for r in results:
        lines.append(
            f"- {r['mode']}: load average {r['loadavg'][0]} at the start, {r['loadavg'][1]} "
            f"at the end; pass {', '.join(f'{s:.2f}' for s in r['pass_s_all'])} s "
            f"(CPU {r['pass_cpu_s']:.2f} s); engine / baseline on wall time "
            f"{r['ratio_wall']:.1f}x; identity-only pass "
            f"{', '.join(f'{s:.2f}' for s in r['identity_only_s_all'])} s (best: CPU "
            f"{r['identity_only_cpu_s']:.2f} s; then freeing the engine "
            f"{r['identity_only_freed_s']:.2f} s, not counted), collector off "
            f"{r['identity_only_nogc_s']:.2f} s "
            f"({r['identity_only_nogc_per_s']:,.0f}/s), on the events "
            f"where the stream left them {r['identity_only_stream_s']:.2f} s; baseline "
            f"{', '.join(f'{s:.2f}' for s in r['baseline_s_all'])} s; replay {r['replay_s']:.2f} s "
            f"(CPU {r['replay_cpu_s']:.2f} s), inside the benchmark process "
            f"{r['replay_inplace_s']:.2f} s, collector off {r['replay_nogc_s']:.2f} s "
            f"(CPU {r['replay_nogc_cpu_s']:.2f} s); generation {r['generate_s']:.1f} s; "
            f"undrained change notes after the pass: {r['undrained_changes']:,}; "
            f"peak RSS at the end (two engines, tracemalloc): {mib(r['peak_rss_final'])}; "
            f"`apply_many` batches of {r['batch']:,} events, drained after each"
        )
    return "\n".join(lines) + "\n"


# -- command line ------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    defaults = Config()
    parser = argparse.ArgumentParser(prog="python -m benchmarks.identity_engine")
    parser.add_argument("--events", type=int, default=defaults.events)
    parser.add_argument("--users", type=int, default=defaults.users)
    parser.add_argument("--modes", default=",".join(MODES))
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--repeat", type=int, default=1, help="engine passes; the best counts")
    parser.add_argument("--batch", type=int, default=10_000, help="events per apply_many call")
    parser.add_argument("--out", default=str(RESULTS), help="Markdown report ('-': none)")
    parser.add_argument("--json", help="also write the raw results here")
    parser.add_argument("--profile", metavar="MODE", help="cProfile one mode in this process")
    parser.add_argument("--top", type=int, default=30, help="functions shown by --profile")
    parser.add_argument("--worker", metavar="MODE", help=argparse.SUPPRESS)
    parser.add_argument("--replay-worker", metavar="MODE", help=argparse.SUPPRESS)
    parser.add_argument("--log", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    config = Config(events=args.events, users=args.users, seed=args.seed)

    if args.replay_worker:
        print(json.dumps(replay_worker(args.replay_worker, args.log)))
        return 0
    if args.worker:
        result = run_mode(args.worker, config, repeat=args.repeat, batch=args.batch)
        print(json.dumps(result))
        return 0
    if args.profile:
        profile_mode(args.profile, config, args.top, args.batch)
        return 0

    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for mode in modes:
        if mode not in MODES:
            parser.error(f"unknown mode {mode!r}")
    command = "python -m benchmarks.identity_engine " + shlex.join(
        argv if argv is not None else sys.argv[1:]
    )
    results: list[dict[str, Any]] = []
    failed: list[str] = []
    for mode in modes:
        worker = [
            sys.executable,
            "-m",
            "benchmarks.identity_engine",
            "--worker",
            mode,
            "--events",
            str(args.events),
            "--users",
            str(args.users),
            "--seed",
            str(args.seed),
            "--repeat",
            str(args.repeat),
            "--batch",
            str(args.batch),
        ]
        done = subprocess.run(worker, cwd=ROOT, stdout=subprocess.PIPE, text=True, check=False)
        if done.returncode != 0 or not done.stdout.strip():
            log(f"{mode}: the worker failed (exit {done.returncode}); left out of the report")
            failed.append(mode)
            continue
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
    text = report(results, config, command.strip())
    if failed:
        text += f"\nFailed (see stderr): {', '.join(failed)}\n"
    print(text)
    if args.out != "-":
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        log(f"wrote {out}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
