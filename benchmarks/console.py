"""The console's person page for a big person: time to render, in headless Chromium.

A fresh data directory gets one ``simplified`` project with a QA-style person: one
user id who logged in on ``--devices`` devices (default 499, so the cluster holds 500
ids), with ``--events`` events (default 10,000) spread over those ids and 30 days,
among ``--background`` events of 2,000 other people (all from a fixed seed). A real
``idmerge serve`` answers over loopback, and Debian's Chromium (the tests' DevTools
harness) opens the console.

Timed, in the page (``performance.now()``, so no DevTools round trip is counted): from
setting ``location.hash`` to the person page having rendered everything (the router
marks ``body[data-ready]``): the API calls (``/api/identity``, ``engage``,
``stream/query``), the graph of 500 nodes and their edges, the history and a
timeline of 10,000 rows. The **baseline**, measured in the same run, is the same page
for a person of one id and ten events: the page's fixed cost. The target (issue 6)
is under one second for the big person.

Run: ``python -m benchmarks.console [--devices 499 --events 10000 --runs 7]``;
writes ``benchmarks/results/console.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path
from random import Random

from idmerge.identity import Event
from idmerge.ingest import ProjectWriter
from idmerge.storage.duckdb import open_store

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # the tests' live server and DevTools harness

from browser.harness import Chromium  # type: ignore[import-not-found]  # noqa: E402

from live import LiveServer  # type: ignore[import-not-found]  # noqa: E402

RESULTS = Path(__file__).parent / "results" / "console.md"
USER = "user-qa-big"
START = int(dt.datetime(2026, 1, 1, tzinfo=dt.UTC).timestamp() * 1000)
DAY_MS = 86_400_000
NAMES = ("App Open", "View Item", "Add To Cart", "Search", "Purchase")

#: Renders the person page for ``id`` and answers how long it took, in ms.
RENDER = """
(async (id, run) => {
  const hash = "#/person?id=" + encodeURIComponent(id) + "&run=" + run;
  const started = performance.now();
  location.hash = hash;
  while (document.body.dataset.ready !== hash) await new Promise(r => setTimeout(r, 1));
  return {ms: performance.now() - started,
          nodes: document.querySelectorAll("#graph .node").length,
          rows: document.querySelectorAll("#timeline tbody tr").length,
          failed: document.querySelector("main .error")?.textContent ?? null};
})(%s, %d)
"""


def events(devices: int, big_events: int, background: int, seed: int = 42) -> list[Event]:
    """The big person's logins and events, and the background people's, in time order."""
    rnd = Random(seed)
    found: list[tuple[int, Event]] = []

    def add(when: int, name: str, props: dict[str, object], insert_id: str) -> None:
        props = {**props, "time": when, "$insert_id": insert_id}
        found.append((when, Event(name, props, when, insert_id)))

    device_ids = [f"{rnd.getrandbits(128):032x}" for _ in range(devices)]
    for n, device in enumerate(device_ids):  # each device logs in once, a few hours apart
        when = START + n * (30 * DAY_MS // max(devices, 1))
        add(when, "Log In", {"$device_id": device, "$user_id": USER, "distinct_id": USER}, f"l{n}")
    for n in range(big_events - devices):
        when = START + rnd.randrange(30 * DAY_MS)
        device = rnd.choice(device_ids)
        props: dict[str, object] = {"$device_id": device, "distinct_id": f"$device:{device}"}
        add(when, rnd.choice(NAMES), props, f"b{n}")
    for n in range(background):
        person = rnd.randrange(2_000)
        props = {"$device_id": f"bg{person}", "distinct_id": f"$device:bg{person}"}
        add(START + rnd.randrange(30 * DAY_MS), rnd.choice(NAMES), props, f"g{n}")
    found.sort(key=lambda pair: pair[0])
    return [event for _, event in found]


def build(data_dir: Path, args: argparse.Namespace) -> tuple[LiveServer, str]:
    server = LiveServer(data_dir, modes=("simplified",))
    store = open_store(data_dir)
    try:
        project = next(p for p in store.projects() if p.name == "simplified")
        writer = ProjectWriter(store, project)
        batch = events(args.devices, args.events, args.background)
        for start in range(0, len(batch), 20_000):
            chunk = batch[start : start + 20_000]
            writer.ingest(chunk, received_at=chunk[-1].time)
        small = [
            Event("App Open", {"distinct_id": "solo", "time": START + n, "$insert_id": f"s{n}"},
                  START + n, f"s{n}")
            for n in range(10)
        ]  # fmt: skip
        writer.ingest(small, received_at=START + 10)
    finally:
        store.close()
    return server, "solo"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=499)
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--background", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="idmerge-console-") as tmp:
        server, solo = build(Path(tmp), args)
        server.start()
        try:
            with Chromium() as browser, browser.page(server.url + "/") as page:
                secret = json.dumps(server.secret("simplified"))
                page.evaluate(f"sessionStorage.setItem('idmerge.secret', {secret})", timeout=5)
                timings: dict[str, list[float]] = {"big": [], "baseline": []}
                shape: dict[str, dict[str, object]] = {}
                for run in range(args.runs + 1):  # the first of each is a warm-up
                    for label, person in (("baseline", solo), ("big", USER)):
                        got = page.evaluate(RENDER % (json.dumps(person), run), timeout=120)
                        if got["failed"]:
                            raise SystemExit(f"the page failed: {got['failed']}")
                        shape[label] = got
                        if run:
                            timings[label].append(got["ms"])
        finally:
            server.stop()
    big, base = statistics.median(timings["big"]), statistics.median(timings["baseline"])
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        "# Console: the person page of a big person",
        "",
        f"- command: `python -m benchmarks.console --devices {args.devices} --events "
        f"{args.events} --background {args.background} --runs {args.runs}`",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; load average after {load}",
        f"- machine: {os.cpu_count()} CPUs; Python {platform.python_version()}; "
        "Debian's Chromium, headless",
        f"- big person: {shape['big']['nodes']} ids in the graph, "
        f"{shape['big']['rows']} timeline rows",
        "",
        "| page | median ms | best ms | ratio to baseline |",
        "|---|---:|---:|---:|",
        f"| baseline: 1 id, 10 events | {base:.0f} | {min(timings['baseline']):.0f} | 1.0 |",
        f"| big: {args.devices + 1} ids, {args.events:,} events | {big:.0f} | "
        f"{min(timings['big']):.0f} | {big / base:.1f} |",
        "",
        f"Target: the big person under 1,000 ms: **{'met' if big < 1000 else 'NOT met'}**.",
    ]
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
