"""A fixed-seed idmerge data directory for query benchmarks, built once and cached.

Query benchmarks (funnels, retention, segmentation, export, explain) need a real data
directory: events stored by the writer, with the identity log and the mapping the
engine really produced. This module makes one by going through the library the way
the server does (``open_store``, ``create_project``, ``ProjectWriter.ingest`` in
20,000-event calls), so what a benchmark reads is what a user's store would hold.

Same :class:`DatasetSpec` -> same events (names, ids, times, ``$insert_id`` s,
property values), on the same Python minor version: everything comes from one
``random.Random(spec.seed)``, drawn in a fixed order, and no wall clock reaches the
data (``received_at`` is the batch's last event time plus two seconds; the project's
token and secret derive from the spec's digest).

The data
--------
Over ``days`` days from ``start_day`` (UTC):

* **people**, drawn until their ids reach ``ids``: each has one or more devices (an
  anonymous ``$device_id``, a GUID made of RNG bytes; a few people switch phones or
  laptops), and about 60 % log in at some session, as ``user-NNNNNNN``; 5 % of
  those also get a CRM id through ``$create_alias`` (not in ``simplified``, where an
  alias means nothing). ``ids`` counts devices plus user ids plus CRM ids.
* **events**: exactly ``events`` in all, shared among people by a log-normal weight
  (a few heavy users, many light ones), in sessions of consecutive events, at most
  one session per person per day. A third of people are regulars, around before the
  window and visiting across all of it; the others arrive on some day, visit for a
  while and do less the later they arrive. Sessions follow a day/night curve (UTC).
  A session opens with "App Open", then walks a small funnel ("View Item" ->
  "Add To Cart" -> "Purchase") among a Zipf-ish tail of 20 other names; properties
  ``$os``, ``$browser``, ``$city`` (per device), ``plan`` (per person) and ``price``
  on the commerce events. About 2 % of events are re-sent (a retry: the same event,
  time and ``$insert_id``) to exercise dedup.
* **logins**, in the mode's wire shape, as the SDKs send them:

  ============= ======================================================================
  mode          anonymous event / login / later events on a logged-in device
  ============= ======================================================================
  simplified,   ``$device_id`` D, ``distinct_id`` ``$device:D`` / "Sign Up" or "Log In"
  cdp           with ``$device_id`` D and ``$user_id`` U / both ids, ``distinct_id`` U
  original      ``distinct_id`` ``$device:D`` / ``$identify`` (``distinct_id`` U,
                ``$anon_distinct_id`` ``$device:D``), then "Sign Up" or "Log In" /
                ``distinct_id`` U
  legacy        ``distinct_id`` D / first login: ``$create_alias`` (``alias`` U,
                ``distinct_id`` D), then "Sign Up"; on another device: "Log In"
                (no merge: legacy cannot merge a second device) / ``distinct_id`` U
  ============= ======================================================================

* **one big cluster** (``big_cluster`` ids, 0 for none): ``user-big-<size>``, a
  QA account that logs in on ``big_cluster - 1`` devices, a few a day, so that its
  cluster holds exactly ``big_cluster`` ids (Mixpanel's original-mode limit, 500,
  counts the user id too). Legacy merges each further device by
  ``$create_alias`` (``alias`` D, ``distinct_id`` U), as a back office would. Its
  ids are in the manifest, for the explain benchmark.

Each day's sessions are rendered, sorted by time and ingested before the next day's,
so ingestion order is time order, as from a live collector. Memory is bounded by the
population (about 50 bytes a person and 17 a device) and one day of events; the
engine and DuckDB take the rest (10M events: 2.8 GB peak RSS, 1.3 GB on disk, about
5 minutes here, two thirds of it in ``ingest``).

Unlike ``datagen.py`` (the identity benchmarks' story, with junk ids, shared devices
and refused merges), every identity event here succeeds: the data is for queries.

The manifest (``manifest.json``, :func:`load_manifest`) holds ``spec`` and its
``digest``, ``project`` (``id``, ``name``, ``token``, ``secret``, ``mode``),
``big_cluster`` (``user_id``, ``resolved_id``, ``size``, ``ids``; null without one),
``counts`` (``events``, ``duplicate_events``, ``people``, ``identified_people``,
``devices``, ``distinct_stored_ids``, ``mapped_ids``, ``clusters`` of two ids or
more, ``log_entries``, ``merges`` (merged or linked), ``log_outcomes``) and the
build's ``build_seconds``, ``plan_seconds``, ``ingest_seconds``, ``events_per_second``.

Use::

    from benchmarks.dataset import DatasetSpec, build, load_manifest
    data_dir = build(DatasetSpec(events=10_000_000, ids=2_000_000))  # cached
    manifest = load_manifest(data_dir)  # project token, big cluster ids, counts

    python -m benchmarks.dataset --events 10000000 --ids 2000000 --mode simplified
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import shutil
import sys
import time as clock
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from random import Random
from typing import Any

from idmerge.identity import Event, Mode, Outcome
from idmerge.ingest.pipeline import ProjectWriter
from idmerge.projects import create_project
from idmerge.storage.duckdb import open_store

#: Bump when the generated data changes for the same spec: it invalidates the cache.
GENERATOR_VERSION = 1
DATA_ROOT = Path(__file__).parent / ".data"
MANIFEST = "manifest.json"
MARKER = "COMPLETE"  # written last: its presence means the build finished
PROJECT_NAME = "bench"
BATCH_EVENTS = 20_000  # events per ProjectWriter.ingest call (one transaction)
MODES = tuple(mode.value for mode in Mode)

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
RECEIVE_DELAY_MS = 2_000

IDENTIFIED_SHARE = 0.6
REGULAR_SHARE = 0.35  # people already around when the window starts
ALIAS_SHARE = 0.05
DUPLICATE_RATE = 0.02
MAX_DEVICES = 8
MAX_GAP_MS = 90_000  # between two events of a session

_IDENTIFIED, _ALIAS, _ALIAS_DONE, _BIG = 1, 2, 4, 8
_NEVER = 0xFFFF

APP_OPEN, SIGN_UP, LOG_IN = "App Open", "Sign Up", "Log In"
VIEW, CART, PURCHASE = "View Item", "Add To Cart", "Purchase"
_PRICED = frozenset({VIEW, CART, PURCHASE})
_TAIL_NAMES = (
    "Search", "View Category", "Scroll", "View Cart", "Add To Wishlist", "Share",
    "Remove From Cart", "Apply Coupon", "Begin Checkout", "Rate Item", "Open Notification",
    "Filter Results", "Watch Video", "Read Article", "Change Settings", "Compare Items",
    "Invite Friend", "Save Search", "Contact Support", "Delete Account",
)  # fmt: skip
#: the long tail of event names, each repeated by its (Zipf-like) weight
_TAIL = tuple(name for rank, name in enumerate(_TAIL_NAMES, 1) for _ in range(round(60 / rank)))
_PLANS = ("free", "pro", "team", "enterprise")
_PLATFORMS = (
    (("Windows", "Chrome"), 60), (("Windows", "Edge"), 25), (("Windows", "Firefox"), 10),
    (("Mac OS X", "Chrome"), 30), (("Mac OS X", "Safari"), 25), (("Linux", "Firefox"), 6),
    (("iOS", "Mobile Safari"), 50), (("Android", "Chrome Mobile"), 50),
)  # fmt: skip
_CITIES = (
    "New York", "London", "São Paulo", "Tokyo", "Berlin", "Paris", "Mumbai", "Toronto",
    "Sydney", "Madrid", "Chicago", "Seoul", "Mexico City", "Lagos", "Amsterdam",
    "Singapore", "Warsaw", "Austin", "Dublin", "Cape Town",
)  # fmt: skip
#: sessions starting in each UTC hour, relatively: a day/night curve
_HOUR_WEIGHTS = (2, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 8, 8, 8, 8, 8, 8, 8, 9, 9, 8, 6, 4, 3)
_HOURS = tuple(hour for hour, weight in enumerate(_HOUR_WEIGHTS) for _ in range(weight))


def _by_byte(weighted: tuple[tuple[Any, int], ...]) -> tuple[Any, ...]:
    """256 entries, each value as often as its weight allows: a device's random byte
    then picks a weighted value without drawing again."""
    total = sum(weight for _, weight in weighted)
    out: list[Any] = []
    for value, weight in weighted:
        out.extend([value] * round(256 * weight / total))
    return tuple((out + out[-1:] * 256)[:256])


#: ``Event(...)`` without the namedtuple's Python-level ``__new__``: twice as fast
_new_event = tuple.__new__
_PLATFORM_BY_BYTE = _by_byte(_PLATFORMS)
_CITY_BY_BYTE = _by_byte(tuple((city, round(100 / rank)) for rank, city in enumerate(_CITIES, 1)))


@dataclass(frozen=True, slots=True)
class DatasetSpec:
    """What to build; equal specs give equal data (and share one cache entry)."""

    events: int = 1_000_000  # exact number of events ingested, re-sent ones included
    ids: int = 200_000  # about this many devices + user ids + CRM ids
    mode: str = "simplified"  # the project's identity mode
    seed: int = 42
    start_day: str = "2026-01-01"  # UTC day the window starts on
    days: int = 90
    big_cluster: int = 500  # ids in the big cluster (user id included); 0: none

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown mode {self.mode!r}; one of {', '.join(MODES)}")
        date.fromisoformat(self.start_day)  # raises on a malformed day
        if self.days < 1 or self.events < 1:
            raise ValueError("days and events must be at least 1")
        if self.big_cluster == 1 or self.big_cluster < 0:
            raise ValueError("big_cluster is 0 (none) or a cluster size of at least 2")
        if self.ids <= self.big_cluster:
            raise ValueError(f"ids ({self.ids}) must exceed big_cluster ({self.big_cluster})")

    @property
    def start_ms(self) -> int:
        day = date.fromisoformat(self.start_day)
        return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)

    @property
    def big_user(self) -> str | None:
        return f"user-big-{self.big_cluster}" if self.big_cluster else None

    def digest(self) -> str:
        """Names the cache entry: the spec and the generator's version."""
        text = json.dumps({"generator": GENERATOR_VERSION, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(slots=True)
class _Population:
    """Every person and device, and each day's sessions, as compact arrays."""

    flags: bytearray = field(default_factory=bytearray)  # _IDENTIFIED | _ALIAS | ...
    plans: bytearray = field(default_factory=bytearray)  # index into _PLANS
    first_device: array[int] = field(default_factory=lambda: array("q", [0]))  # per person + 1
    sessions: array[int] = field(default_factory=lambda: array("H"))  # sessions per person
    login: array[int] = field(default_factory=lambda: array("H"))  # first login session
    done: array[int] = field(default_factory=lambda: array("H"))  # sessions rendered so far
    devices: bytes = b""  # 16 random bytes per device: its id and its attributes
    linked: bytearray = field(default_factory=bytearray)  # per device: logged in on it
    day_people: list[array[int]] = field(default_factory=list)  # per day: whose session
    day_sizes: list[array[int]] = field(default_factory=list)  # per day: its event count


def _first_at_least(sizes: list[int], start: int, least: int) -> int | None:
    return next((s for s in range(start, len(sizes)) if sizes[s] >= least), None)


def _populate(spec: DatasetSpec, rng: Random) -> _Population:
    """Draw people until their ids reach ``spec.ids``, share the events among them,
    and lay their sessions out on days."""
    rnd = rng.random
    pop = _Population(
        day_people=[array("I") for _ in range(spec.days)],
        day_sizes=[array("I") for _ in range(spec.days)],
    )
    ndevs, first_days, weights = array("H"), array("H"), array("d")
    with_alias = spec.mode != Mode.SIMPLIFIED
    budget, ids = spec.ids - spec.big_cluster, 0
    while ids < budget:
        identified = rnd() < IDENTIFIED_SHARE
        more = 0.35 if identified else 0.12
        n = 1
        while n < min(MAX_DEVICES, spec.days) and rnd() < more:
            n += 1
        flag = _IDENTIFIED if identified else 0
        if identified and with_alias and rnd() < ALIAS_SHARE:
            flag |= _ALIAS
        r = rnd()
        pop.flags.append(flag)
        pop.plans.append(0 if r < 0.6 else 1 if r < 0.85 else 2 if r < 0.97 else 3)
        ndevs.append(n)
        # a regular from before the window visits across all of it; a newcomer
        # arrives on some day, and does less the less of the window is left
        first = 0 if rnd() < REGULAR_SHARE else rng.randrange(spec.days - n + 1)
        first_days.append(first)
        weights.append(rng.lognormvariate(0.0, 1.0) * (spec.days - first) / spec.days)
        ids += n + identified + (flag & _ALIAS) // _ALIAS
    people = len(pop.flags)

    # Each person gets their minimum (a session per device, room for a login), the rest
    # goes by weight; rounding leftovers go one each to the first people.
    minima = [n + (2 if f & _IDENTIFIED else 0) for n, f in zip(ndevs, pop.flags, strict=True)]
    big_events = 3 * (spec.big_cluster - 1) if spec.big_cluster else 0
    extra = spec.events - big_events - sum(minima)
    if extra < 0:
        raise ValueError(
            f"{spec.events:,} events are too few for {spec.ids:,} ids: "
            f"this population needs at least {spec.events - extra:,}"
        )
    scale = extra / sum(weights)
    counts = array("I", (m + int(w * scale) for m, w in zip(minima, weights, strict=True)))
    for p in range(spec.events - big_events - sum(counts)):
        counts[p] += 1

    for p in range(people):
        total, ndev = counts[p], ndevs[p]
        first_day = first_days[p]
        available = spec.days - first_day
        wanted = round(total / (2.0 + 6.0 * rnd()))  # sessions of 2-8 events on average
        nsess = max(ndev, min(wanted, available, total))
        if nsess == 1:
            sizes = [total]
        else:
            cuts = sorted(rng.sample(range(1, total), nsess - 1))
            sizes = [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]
        stay = round(nsess * (1.0 + 3.0 * rnd())) if first_day else available
        span = min(available, max(nsess, stay))
        days = sorted(rng.sample(range(first_day, first_day + span), nsess))
        login = _NEVER
        if pop.flags[p] & _IDENTIFIED:
            start = rng.randrange(min(nsess, 3))  # a visit or two before signing up
            found = _first_at_least(sizes, start, 3)
            found = _first_at_least(sizes, start, 2) if found is None else found
            login = start if found is None else found
        pop.first_device.append(pop.first_device[-1] + ndev)
        pop.sessions.append(nsess)
        pop.login.append(login)
        for day, size in zip(days, sizes, strict=True):
            pop.day_people[day].append(p)
            pop.day_sizes[day].append(size)

    if spec.big_cluster:  # the last person: a few devices a day, 3 events each
        devices = spec.big_cluster - 1
        nsess = min(spec.days, devices)
        pop.flags.append(_BIG | _IDENTIFIED)
        pop.plans.append(2)
        pop.first_device.append(pop.first_device[-1] + devices)
        pop.sessions.append(nsess)
        pop.login.append(0)
        for s in range(nsess):
            day = s * spec.days // nsess
            pop.day_people[day].append(people)
            pop.day_sizes[day].append(3 * ((s + 1) * devices // nsess - s * devices // nsess))

    pop.done = array("H", bytes(2 * len(pop.flags)))
    pop.devices = rng.randbytes(16 * pop.first_device[-1])
    pop.linked = bytearray(pop.first_device[-1])
    return pop


class _Story:
    """Renders the population's sessions as events, day by day, in time order."""

    def __init__(self, spec: DatasetSpec, rng: Random) -> None:
        self.spec = spec
        self.rng = rng
        self.pop = _populate(spec, rng)
        self.mode = Mode(spec.mode)
        self.count = 0  # events rendered: a sort tie-breaker, and part of $insert_id
        self.duplicates = 0
        self._out: list[tuple[int, int, Event]] = []

    def events(self) -> Iterator[Event]:
        """Every event, in time order; one day's events are held at a time."""
        start = self.spec.start_ms
        for day in range(self.spec.days):
            out: list[tuple[int, int, Event]] = []
            self._out = out
            day_ms = start + day * DAY_MS
            for p, n in zip(self.pop.day_people[day], self.pop.day_sizes[day], strict=True):
                if self.pop.flags[p] & _BIG:
                    self._big_session(p, n, day_ms)
                else:
                    self._session(p, n, day_ms)
            out.sort()  # (time, count): count is unique, so events are never compared
            for item in out:
                yield item[2]
        self._out = []

    # -- pieces ------------------------------------------------------------------

    def _device(self, g: int) -> tuple[str, dict[str, Any]]:
        raw = self.pop.devices[16 * g : 16 * g + 16]
        h = raw.hex()
        os_name, browser = _PLATFORM_BY_BYTE[raw[0]]
        attrs = {"$os": os_name, "$browser": browser, "$city": _CITY_BY_BYTE[raw[1]]}
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}", attrs

    def _user(self, p: int) -> str:
        if self.pop.flags[p] & _BIG:
            return f"user-big-{self.spec.big_cluster}"
        return f"user-{p:07d}"

    def _start(self, day_ms: int, n: int) -> tuple[int, int]:
        """A session's start time and its largest gap, keeping it inside its day."""
        rnd = self.rng.random
        gap = min(MAX_GAP_MS, (DAY_MS * 3 // 4) // n)
        t = day_ms + _HOURS[int(rnd() * len(_HOURS))] * HOUR_MS + int(rnd() * HOUR_MS)
        return min(t, day_ms + DAY_MS - 1 - n * gap), gap

    def _emit(self, name: str, base: dict[str, Any], t: int) -> Event:
        """Render one event (it runs once an event: kept lean)."""
        self.count = count = self.count + 1
        insert_id = f"{self.rng.getrandbits(40):010x}{count:010x}"  # unique by count
        props = {**base, "time": t, "$insert_id": insert_id}
        if name in _PRICED:
            props["price"] = int(self.rng.random() * 29_900 + 100) / 100
        event = _new_event(Event, (name, props, t, insert_id, False))
        self._out.append((t, count, event))
        return event

    def _login(
        self, first: bool, anon: dict[str, Any], logged: dict[str, Any], t: int
    ) -> tuple[Event, bool]:
        """Emit a login; and whether the mode owes a "Sign Up"/"Log In" after it."""
        if self.mode is Mode.ORIGINAL:
            identify = {**logged, "$anon_distinct_id": anon["distinct_id"]}
            return self._emit("$identify", identify, t), True
        if self.mode is Mode.LEGACY and first:
            alias = {**anon, "alias": logged["distinct_id"]}
            return self._emit("$create_alias", alias, t), True
        # simplified and cdp (and legacy on a further device): one event, both ids
        return self._emit(SIGN_UP if first else LOG_IN, logged, t), False

    def _bases(self, p: int, g: int) -> tuple[dict[str, Any], dict[str, Any]]:
        """The properties of an anonymous and of a logged-in event on device ``g``."""
        device, attrs = self._device(g)
        plan = _PLANS[self.pop.plans[p]]
        anon_id = device if self.mode is Mode.LEGACY else "$device:" + device
        user = self._user(p)
        anon = {"distinct_id": anon_id, "$device_id": device, **attrs, "plan": plan}
        logged = {
            "distinct_id": user,
            "$device_id": device,
            "$user_id": user,
            **attrs,
            "plan": plan,
        }
        return anon, logged

    # -- sessions ----------------------------------------------------------------

    def _session(self, p: int, n: int, day_ms: int) -> None:
        """Person ``p``'s next session, ``n`` events on one of their devices.

        Anonymous until the person's login session, where they sign up; after it, a
        session on a device not logged in on yet logs in (a second "Log In"), and one
        on a device logged in on already is logged in throughout.
        """
        pop, rnd = self.pop, self.rng.random
        s = pop.done[p]
        pop.done[p] = s + 1
        first_device = pop.first_device[p]
        ndev, nsess = pop.first_device[p + 1] - first_device, pop.sessions[p]
        k = s * ndev // nsess  # device k is first used in this session or earlier
        if s and (s - 1) * ndev // nsess == k and rnd() < 0.3:
            k = int(rnd() * (k + 1))  # back on an older device
        g = first_device + k
        anon, logged = self._bases(p, g)
        flags, login = pop.flags[p], pop.login[p]
        signed_in = bool(pop.linked[g])
        login_at = -1
        if flags & _IDENTIFIED and not signed_in and (s == login or (s > login and n >= 2)):
            login_at = 0 if n == 1 else 1 if n == 2 or rnd() < 0.7 else 2
        pending: str | None = None  # the "Sign Up"/"Log In" owed after a login event
        t, gap = self._start(day_ms, n)
        low = min(1_000, gap)
        previous: Event | None = None
        for i in range(n):
            if i:
                t += low + int(rnd() * (gap - low))
            if i == login_at:
                previous, owed = self._login(s == login, anon, logged, t)
                pending = (SIGN_UP if s == login else LOG_IN) if owed else None
                pop.linked[g] = signed_in = True
            elif pending is not None:
                previous = self._emit(pending, logged, t)
                pending = None
            elif signed_in and i == n - 1 and flags & _ALIAS and not flags & _ALIAS_DONE:
                crm = {"distinct_id": logged["distinct_id"], "alias": f"crm-{p:07d}"}
                self._emit("$create_alias", crm, t)  # from the back office: no device
                pop.flags[p] = flags = flags | _ALIAS_DONE
            elif previous is not None and rnd() < DUPLICATE_RATE:  # a retry
                self.count += 1
                self.duplicates += 1
                self._out.append((previous.time, self.count, previous))
            else:
                prev_name = previous.name if previous is not None else ""
                previous = self._emit(self._name(i, prev_name), logged if signed_in else anon, t)

    def _name(self, i: int, previous: str) -> str:
        if i == 0:
            return APP_OPEN
        r = self.rng.random()
        if previous == VIEW and r < 0.25:
            return CART
        if previous == CART and r < 0.4:
            return PURCHASE
        if r < 0.5:
            return VIEW
        return _TAIL[int((r - 0.5) * 2 * len(_TAIL))]

    def _big_session(self, p: int, n: int, day_ms: int) -> None:
        """Log in on the next ``n // 3`` devices: "App Open", the login, one more."""
        pop, rnd = self.pop, self.rng.random
        s = pop.done[p]
        pop.done[p] = s + 1
        devices, nsess = pop.first_device[p + 1] - pop.first_device[p], pop.sessions[p]
        t, gap = self._start(day_ms, n)
        for k in range(s * devices // nsess, (s + 1) * devices // nsess):
            anon, logged = self._bases(p, pop.first_device[p] + k)
            self._emit(APP_OPEN, anon, t)
            t += 1_000 + int(rnd() * (gap - 1_000))
            if self.mode is Mode.LEGACY and k:  # a back office folds the device in
                alias = {"distinct_id": logged["distinct_id"], "alias": anon["distinct_id"]}
                self._emit("$create_alias", alias, t)
                followed = True
            else:
                followed = self._login(k == 0, anon, logged, t)[1]
            t += 1_000 + int(rnd() * (gap - 1_000))
            after = (SIGN_UP if k == 0 else LOG_IN) if followed else VIEW
            self._emit(after, logged, t)
            t += 1_000 + int(rnd() * (gap - 1_000))


# -- building --------------------------------------------------------------------------


def _credential(spec: DatasetSpec, label: str) -> str:
    return hashlib.sha256(f"{spec.digest()}:{label}".encode()).hexdigest()[:32]


def _batches(events: Iterator[Event], size: int) -> Iterator[list[Event]]:
    batch: list[Event] = []
    for event in events:
        batch.append(event)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _write(spec: DatasetSpec, directory: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Generate and ingest into ``directory``; answer the manifest."""
    started = clock.perf_counter()
    story = _Story(spec, Random(spec.seed))
    planned = clock.perf_counter() - started
    store = open_store(directory)
    try:
        project = create_project(
            store,
            PROJECT_NAME,
            mode=spec.mode,
            now=spec.start_ms,
            token=_credential(spec, "token"),
            secret=_credential(spec, "secret"),
        )
        writer = ProjectWriter(store, project)
        outcomes: Counter[str] = Counter()
        ingesting = 0.0
        done, reported = 0, 0
        for batch in _batches(story.events(), BATCH_EVENTS):
            began = clock.perf_counter()
            applied = writer.ingest(batch, received_at=batch[-1].time + RECEIVE_DELAY_MS)
            ingesting += clock.perf_counter() - began
            # What lives now (the engine's millions of objects, the population) stays:
            # frozen, the collector's passes walk only what the next batch allocates.
            gc.freeze()
            outcomes.update(entry.outcome.value for entry in applied.entries)
            done += len(batch)
            if done - reported >= 1_000_000:
                reported = done
                elapsed = clock.perf_counter() - started
                log(f"{done:,} events in {elapsed:.0f} s ({done / elapsed:,.0f} events/s)")
        if done != spec.events:
            raise RuntimeError(f"generated {done:,} events, not {spec.events:,}")
        big: dict[str, Any] | None = None
        if spec.big_user is not None:
            ids = writer.engine.cluster(spec.big_user)
            if len(ids) != spec.big_cluster:
                raise RuntimeError(
                    f"{spec.big_user} ended in a cluster of {len(ids)} ids, not "
                    f"{spec.big_cluster} (a {spec.mode} limit?)"
                )
            big = {"user_id": spec.big_user, "resolved_id": ids[0], "size": len(ids), "ids": ids}
        stored_ids = sum(1 for _ in store.distinct_ids(project.id))
        mapping = list(store.read_mapping(project.id))
    finally:
        gc.unfreeze()
        store.close()
    seconds = clock.perf_counter() - started
    pop = story.pop
    merges = outcomes[Outcome.MERGED.value] + outcomes[Outcome.LINKED.value]
    return {
        "generator_version": GENERATOR_VERSION,
        "digest": spec.digest(),
        "spec": asdict(spec),
        "project": {
            "id": project.id,
            "name": project.name,
            "token": project.token,
            "secret": project.secret,
            "mode": project.mode.value,
        },
        "big_cluster": big,
        "counts": {
            "events": done,
            "duplicate_events": story.duplicates,
            "people": len(pop.flags),
            "identified_people": sum(1 for f in pop.flags if f & _IDENTIFIED),
            "devices": pop.first_device[-1],
            "distinct_stored_ids": stored_ids,
            "mapped_ids": len(mapping),
            "clusters": len({resolved for _, resolved in mapping}),
            "log_entries": sum(outcomes.values()),
            "merges": merges,
            "log_outcomes": dict(sorted(outcomes.items())),
        },
        "build_seconds": round(seconds, 2),
        "plan_seconds": round(planned, 2),
        "ingest_seconds": round(ingesting, 2),
        "events_per_second": round(done / seconds),
    }


def load_manifest(directory: str | Path) -> dict[str, Any]:
    """The manifest of a built data directory."""
    manifest: dict[str, Any] = json.loads((Path(directory) / MANIFEST).read_text())
    return manifest


def _remove_dead_partials(target: Path) -> None:
    """Remove what builds of ``target`` killed outright (their process is gone) left."""
    for partial in target.parent.glob(f"{target.name}.partial-*"):
        pid = partial.name.rpartition("-")[2]
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)  # signal 0: only asks whether the process exists
        except ProcessLookupError:
            shutil.rmtree(partial, ignore_errors=True)
        except PermissionError:  # alive, someone else's
            pass


def build(
    spec: DatasetSpec,
    directory: str | Path | None = None,
    *,
    log: Callable[[str], None] | None = None,
) -> Path:
    """The data directory of ``spec``, built unless a complete build is there.

    ``directory`` defaults to ``benchmarks/.data/<digest>/``. The build goes into a
    sibling temporary directory, its manifest and then the marker are written last,
    and only then is it renamed into place: an interrupted build is never mistaken for
    a complete one, and two processes building the same spec do not share a file.
    """
    target = Path(directory) if directory is not None else DATA_ROOT / spec.digest()
    if (target / MARKER).exists():
        found = load_manifest(target)["digest"]
        if found != spec.digest():
            raise FileExistsError(f"{target} holds another data set (digest {found})")
        return target
    if target.exists() and any(target.iterdir()):  # never delete what we did not build
        raise FileExistsError(f"{target} exists and is not a complete data set: remove it")
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_dead_partials(target)
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        manifest = _write(spec, partial, log or (lambda _: None))
        (partial / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
        (partial / MARKER).write_text(f"{manifest['digest']}\n")
        try:
            partial.rename(target)
        except OSError:  # another process finished the same spec first
            if not (target / MARKER).exists():
                raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    defaults = DatasetSpec()
    parser.add_argument("--events", type=int, default=defaults.events)
    parser.add_argument("--ids", type=int, default=defaults.ids)
    parser.add_argument("--mode", choices=MODES, default=defaults.mode)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--start-day", default=defaults.start_day)
    parser.add_argument("--days", type=int, default=defaults.days)
    parser.add_argument("--big-cluster", type=int, default=defaults.big_cluster)
    parser.add_argument("--out", type=Path, help="data directory (default: the cache entry)")
    args = parser.parse_args(argv)
    spec = DatasetSpec(
        events=args.events,
        ids=args.ids,
        mode=args.mode,
        seed=args.seed,
        start_day=args.start_day,
        days=args.days,
        big_cluster=args.big_cluster,
    )
    directory = build(spec, args.out, log=lambda line: print(line, file=sys.stderr))
    manifest = load_manifest(directory)
    big = manifest["big_cluster"]
    print(f"data directory: {directory}")
    print(f"project {manifest['project']['name']!r}, token {manifest['project']['token']}")
    print(json.dumps(manifest["counts"], indent=1))
    if big:
        print(f"big cluster: {big['user_id']} -> {big['resolved_id']}, {big['size']} ids "
              f"(listed in {directory / MANIFEST})")  # fmt: skip
    print(
        f"built in {manifest['build_seconds']:.1f} s ({manifest['events_per_second']:,} "
        f"events/s; ingest calls {manifest['ingest_seconds']:.1f} s)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
