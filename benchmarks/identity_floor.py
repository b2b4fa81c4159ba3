"""How far the identity engine is from the least its work can cost in CPython.

Run from the repository root::

    python -m benchmarks.identity_floor [--events 5000000 --users 1000000] [--runs 3]

On the ``original`` stream of :mod:`benchmarks.datagen`, the identity events are
found and copied through JSON as :mod:`benchmarks.identity_engine` does for its
identity-only pass; then, interleaved and the best of ``--runs`` each:

* **engine**: that benchmark's identity-only pass (a fresh engine, ``apply_many``
  in batches of 10,000, ``drain_changes`` after each);
* **floor**: :func:`benchmarks.identity_floor_loop.floor_pass` over the same batches,
  compiled by mypyc (as the engine is) into a temporary directory: only the
  dictionary and set work an identity event cannot do without (two look-ups in the
  id -> cluster map, the insert of the newcomer, the ``$insert_id`` set) plus a
  log tuple. Without mypyc it runs as Python, and the report says so.

Garbage collection is on in both, with what was alive before frozen, as in the
engine benchmark. The ratio engine / floor says how much of the engine's time goes
to what the floor leaves out: the rules' checks, outcomes, log entries and history,
the change set, and the collector's walks over what they keep.
"""

from __future__ import annotations

import argparse
import importlib
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

from idmerge.identity import Event, Mode, Policy, paused_gc

from benchmarks.datagen import Config
from benchmarks.identity_engine import (
    ROOT,
    batch_pass,
    fresh_copy,
    generate,
    git_head,
    identity_only_pass,
    loadavg,
    loaded_engine,
    log,
    settle,
    timed,
)

LOOP = Path(__file__).with_name("identity_floor_loop.py")
RESULTS = ROOT / "benchmarks" / "results" / "identity_floor.md"
BATCH = 10_000
_BUILD = (
    "from mypyc.build import mypycify; from setuptools import setup; "
    "setup(name='floor', ext_modules=mypycify(['identity_floor_loop.py'], opt_level='3'), "
    "script_args=['build_ext', '--inplace', '-q'])"
)


def floor_module(workdir: Path) -> tuple[ModuleType, bool]:
    """The floor loop compiled by mypyc in ``workdir`` (and True), or as Python."""
    shutil.copy(LOOP, workdir / LOOP.name)
    built = subprocess.run(
        [sys.executable, "-c", _BUILD], cwd=workdir, capture_output=True, text=True, check=False
    )
    if built.returncode == 0 and any(workdir.glob("identity_floor_loop*.so")):
        sys.path.insert(0, str(workdir))
        module = importlib.import_module("identity_floor_loop")
        return module, module.__file__ is not None and module.__file__.endswith(".so")
    log(f"mypyc build failed, timing the floor as Python: {built.stderr.strip()[-300:]}")
    return importlib.import_module("benchmarks.identity_floor_loop"), False


def floor_run(module: ModuleType, events: list[Event]) -> tuple[int, Any]:
    """How many events the floor applied, and its state: freed after the timing, as
    the engine's is (``identity_only_pass`` answers the engine)."""
    groups: dict[str, Any] = {}
    delivered: set[str] = set()
    entries: list[tuple[int, str, str, str]] = []
    applied = 0
    for first in range(0, len(events), BATCH):
        with paused_gc():  # as the engine's apply_many pauses it per batch
            batch = events[first : first + BATCH]
            applied += module.floor_pass(batch, first, groups, delivered, entries)
    return applied, (groups, delivered, entries)


def best_of(runs: int, work: dict[str, Callable[[], Any]]) -> dict[str, float]:
    """The best wall time of each of ``work``: one untimed warm-up of each, then
    ``runs`` timed calls, interleaved. What a call answers is freed after its
    timing (neither loop counts freeing its state)."""
    best = dict.fromkeys(work, float("inf"))
    for call in work.values():
        call()
    for _ in range(runs):
        for name, call in work.items():
            settle()
            best[name] = min(best[name], timed(call)[0])
    return best


def main(argv: list[str] | None = None) -> int:
    defaults = Config()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=defaults.events)
    parser.add_argument("--users", type=int, default=defaults.users)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=RESULTS, help="Markdown report ('-': none)")
    args = parser.parse_args(argv)
    config = Config(events=args.events, users=args.users, seed=args.seed)
    policy = Policy.for_mode(Mode.ORIGINAL)
    log(f"original: generating {config.events:,} events over {config.users:,} users")
    stream, _ = generate(config, "original")
    _, _, meaningful = batch_pass(policy, stream, BATCH)
    events = fresh_copy([stream[seq] for seq in meaningful])
    del stream  # unlike identity_engine's pass, which runs beside the 3 GB stream
    engine_hash, compiled_engine = loaded_engine()
    with tempfile.TemporaryDirectory(prefix="idmerge-floor-") as tmp:
        module, compiled_floor = floor_module(Path(tmp))
        applied = floor_run(module, events)[0]
        best = best_of(
            args.runs,
            {
                "engine": lambda: identity_only_pass(policy, events, BATCH),
                "floor": lambda: floor_run(module, events),
            },
        )
    n = len(events)
    kind = {True: "mypyc-compiled", False: "Python"}
    command = shlex.join(["python", "-m", "benchmarks.identity_floor", *(argv or sys.argv[1:])])
    now = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    lines = [
        "# The identity engine beside the floor of its work (`original`)",
        "",
        f"- command: `{command}`",
        f"- date: {now}; git {git_head()}; load average {loadavg()}",
        f"- stream: {config.events:,} events over {config.users:,} users, seed {config.seed}; "
        f"identity events {n:,} (the floor applied {applied:,}; it skips repeated insert_ids)",
        f"- best of {args.runs} after a warm-up, interleaved, collector on",
        "",
        "| loop | built | seconds | identity events/s |",
        "|---|---|---:|---:|",
        f"| engine (`apply_many`) | {kind[compiled_engine]}, {engine_hash} | "
        f"{best['engine']:.2f} | {n / best['engine']:,.0f} |",
        f"| floor | {kind[compiled_floor]} | {best['floor']:.2f} | {n / best['floor']:,.0f} |",
        "",
        f"engine / floor: {best['engine'] / best['floor']:.1f}x",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if str(args.out) != "-":
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
