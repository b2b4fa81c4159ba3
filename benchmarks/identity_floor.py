"""How far the identity engine is from the least its work can cost in CPython.

Run from the repository root::

    python -m benchmarks.identity_floor [--events 5000000 --users 1000000] [--runs 3]

On the ``original`` stream of :mod:`benchmarks.datagen`, the identity events are
found and copied through JSON as :mod:`benchmarks.identity_engine` does for its
identity-only pass; then, interleaved and the best of ``--runs`` each:

* **engine**: that benchmark's identity-only pass (a fresh engine, ``apply_many``
  in batches of 10,000);
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
import gc
import importlib
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from idmerge.identity import Event, Mode, Policy

from benchmarks.datagen import Config
from benchmarks.identity_engine import (
    batch_pass,
    fresh_copy,
    generate,
    identity_only_pass,
    loaded_engine,
    log,
    settle,
)

LOOP = Path(__file__).with_name("identity_floor_loop.py")
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


def floor_run(module: ModuleType, events: list[Event]) -> int:
    groups: dict[str, Any] = {}
    delivered: set[str] = set()
    entries: list[tuple[int, str, str, str]] = []
    applied = 0
    for first in range(0, len(events), BATCH):
        gc.disable()  # as the engine's apply_many pauses the collector per batch
        try:
            applied += module.floor_pass(
                events[first : first + BATCH], first, groups, delivered, entries
            )
        finally:
            gc.enable()
    return applied


def best_of(runs: int, work: dict[str, Callable[[], Any]]) -> dict[str, float]:
    """The best wall time of each of ``work``, the calls interleaved."""
    best = dict.fromkeys(work, float("inf"))
    for _ in range(runs):
        for name, call in work.items():
            settle()
            start = time.perf_counter()
            call()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    config = Config(events=args.events, users=args.users, seed=args.seed)
    policy = Policy.for_mode(Mode.ORIGINAL)
    log(f"original: generating {config.events:,} events over {config.users:,} users")
    stream, _ = generate(config, "original")
    _, _, meaningful = batch_pass(policy, stream, BATCH)
    events = fresh_copy([stream[seq] for seq in meaningful])
    del stream
    engine_hash, compiled_engine = loaded_engine()
    with tempfile.TemporaryDirectory(prefix="idmerge-floor-") as tmp:
        module, compiled_floor = floor_module(Path(tmp))
        applied = floor_run(module, events)
        best = best_of(
            args.runs,
            {
                "engine": lambda: identity_only_pass(policy, events, BATCH),
                "floor": lambda: floor_run(module, events),
            },
        )
    n = len(events)
    kind = {True: "mypyc-compiled", False: "Python"}
    engine_rate, floor_rate = n / best["engine"], n / best["floor"]
    print(f"identity events: {n:,} (the floor applied {applied:,}; it skips repeated insert_ids)")
    engine_kind = f"{kind[compiled_engine]}, {engine_hash}"
    print(f"engine ({engine_kind}): {best['engine']:.2f} s, {engine_rate:,.0f}/s")
    print(f"floor ({kind[compiled_floor]}): {best['floor']:.2f} s, {floor_rate:,.0f}/s")
    print(f"engine / floor: {best['engine'] / best['floor']:.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
