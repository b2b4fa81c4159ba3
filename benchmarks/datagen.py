"""A fixed-seed, streaming generator of a realistic product-analytics event stream.

One **story** (who did what, on which device, when) is drawn from a single
``random.Random(seed)``; it is then **rendered** in the wire shapes of an identity
mode. Rendering is a pure function of the story, so every mode gets the same events
in the same order with the same ``time`` and ``$insert_id``: only the shapes differ.
Same seed and sizes -> byte-identical output, whatever the chunk size.

The story
---------
``users`` people visit over ``days`` days; ``events`` events in all. Sessions (a
geometric number of events, mean ``session_mean``) of many people interleave, as on
a real site. A session is one person on one device:

* about ``identified_share`` of people ever log in (the rest stay anonymous);
* a person who is not logged in on the device logs in during a session with
  probability ``login_rate`` (their first login ever is a sign-up);
* a returning person comes back on a new device with ``new_device_rate``, on a
  device another person already uses (a shared, household device) with
  ``shared_device_rate``; first visits use a shared device with the same rate;
* when someone else was logged in on the device, they log out first; at a session's
  end the person logs out with ``logout_rate``; a logout resets the SDK's device id
  with ``reset_rate`` (otherwise the next person's login pairs the old device id
  with a second user, which the engine must refuse);
* ``alias_share`` of identified people get a second id (a CRM id) through an alias,
  and later server-side events use it;
* ``dup_account_share`` of identified people sign up a second account at a later
  login (they forgot the first); later a back office unifies the two (a merge);
* ``server_rate`` of a logged-in person's events come from a backend (no device);
* ``junk_device_rate`` of devices send a placeholder device id (``"undefined"``,
  ``"null"``, ``"0"``...) for ever, and ``junk_login_rate`` of logins send a
  placeholder user id (a buggy ``identify(undefined)``).

Rendering per mode
------------------

============ ====================== ======================== ========================
story        simplified / cdp        original                 legacy
============ ====================== ======================== ========================
anonymous    ``$device_id`` D,       ``distinct_id`` A (A is  ``distinct_id`` D
event        ``distinct_id``         ``$device:D`` or the raw
             ``$device:D``           GUID D, per device)
logged-in    ``$device_id`` D,       ``distinct_id`` U        ``distinct_id`` U
event        ``$user_id`` U
login        an ordinary event       ``$identify`` (SDK form  sign-up:
             ("Sign Up"/"Log In")    ``$anon_distinct_id``    ``$create_alias``
             with D and U            for ``$device:`` ids,    (alias U, distinct_id
                                     API form ``$identified_  D); later logins: an
                                     id``/``$anon_id`` else)  ordinary "Log In"
server event ``$user_id`` U           ``distinct_id`` U        ``distinct_id`` U
alias        ``$create_alias`` (alias new id, ``distinct_id`` U) in every mode;
             simplified ignores it, cdp folds U into the new id
merge        ``$merge`` [U1, U2]     ``$merge`` [U1, U2],     ``$create_alias``
             (ignored); cdp:         ``trusted``              (alias U2,
             ``$create_alias``                                distinct_id U1)
             (alias U1, distinct_id
             U2)
============ ====================== ======================== ========================

Every record carries ``time`` (ms, strictly increasing), ``distinct_id`` and a
unique ``$insert_id``, plus a few ordinary properties (``$os``, ``$browser``,
``$current_url``, ``price``, ``plan``) so that later report benchmarks (funnels:
"Page View" -> "View Item" -> "Add To Cart" -> "Checkout" -> "Purchase"; retention;
export) can use the same data.

Memory is bounded by the population (a few arrays indexed by person and device,
about 110 bytes per device and 10 per person), not by ``events``: the stream is
produced in chunks.

Use::

    from benchmarks.datagen import Config, event_chunks, record_chunks
    for chunk in event_chunks(Config(events=10_000_000, users=2_000_000), "original"):
        ...  # lists of idmerge.identity.Event

    python -m benchmarks.datagen --events N --users U --mode M --out FILE.jsonl[.gz]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sys
import time as _time
from array import array
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from random import Random
from typing import IO, Any, NamedTuple, cast

from idmerge.identity import Event

MODES = ("simplified", "original", "legacy", "cdp")

#: Placeholder ids buggy clients really send; the engine's junk list refuses them all.
JUNK_IDS = ("undefined", "null", "0", "", "[object Object]", "None", "anonymous", "-1", "'null'")

DEVICE = "$device:"

# story beat kinds
TRACK, LOGIN, ALIAS, MERGE, SERVER = range(5)
KIND_NAMES = ("track", "login", "alias", "merge", "server")

# person flags
_IDENTIFIED, _ALIASER, _DUP, _SIGNED_UP, _SIGNED_UP2, _ALIAS_DONE, _MERGE_DONE = (
    1,
    2,
    4,
    8,
    16,
    32,
    64,
)

_OS = ("Windows", "Mac OS X", "iOS", "Android", "Linux")
_BROWSER = ("Chrome", "Safari", "Mobile Safari", "Firefox", "Edge", "Chrome Mobile")
_PATHS = tuple(
    f"https://shop.example.com/{p}"
    for p in (
        "",
        "pricing",
        "blog/launch",
        "blog/how-to",
        "docs",
        "docs/start",
        "search",
        "cart",
        "account",
        "items/1",
        "items/2",
        "items/3",
        "help",
        "about",
    )
)
_PLANS = ("free", "pro", "team", "enterprise")
#: every device's ($os, $browser) pair, shared rather than built per device
_DEVICE_PROPS = tuple(
    tuple((("$os", os_name), ("$browser", browser)) for browser in _BROWSER) for os_name in _OS
)

# (name, weight) of client events; a funnel's steps thin out towards "Purchase"
_TRACK_EVENTS = (
    ("Page View", 46),
    ("Search", 14),
    ("View Item", 18),
    ("Add To Cart", 10),
    ("Checkout", 6),
    ("Purchase", 4),
    ("Share", 2),
)
_SERVER_EVENTS = (("Invoice Paid", 40), ("Email Sent", 50), ("Subscription Renewed", 10))


def _table(weights: tuple[tuple[str, int], ...]) -> tuple[str, ...]:
    return tuple(name for name, weight in weights for _ in range(weight))


_TRACK_TABLE = _table(_TRACK_EVENTS)
_SERVER_TABLE = _table(_SERVER_EVENTS)


@dataclass(frozen=True, slots=True)
class Config:
    """What to generate. Every rate is a probability; see the module docstring."""

    events: int = 5_000_000
    users: int = 1_000_000
    seed: int = 7
    days: int = 30
    start_ms: int = 1_704_067_200_000  # 2024-01-01T00:00:00Z
    session_mean: float = 4.0
    concurrency: int = 256  # sessions in flight at once (interleaving)
    identified_share: float = 0.55
    login_rate: float = 0.5
    logout_rate: float = 0.1
    reset_rate: float = 0.6
    new_device_rate: float = 0.2
    shared_device_rate: float = 0.02
    alias_share: float = 0.03
    dup_account_share: float = 0.04
    server_rate: float = 0.05
    junk_device_rate: float = 0.003
    junk_login_rate: float = 0.002


class Beat(NamedTuple):
    """One event of the story, before it is given a mode's wire shape."""

    kind: int  # TRACK, LOGIN, ALIAS, MERGE or SERVER
    name: str  # event name of TRACK, LOGIN and SERVER beats
    time: int  # ms since the epoch, strictly increasing
    insert_id: str
    device: str | None  # the device id the SDK holds (a raw GUID, or a junk value)
    user: str | None  # the user id sent (logged in / logging in / surviving side)
    other: str | None  # ALIAS: the new id; MERGE: the id unified into ``user``
    signup: bool  # LOGIN: the first login of this user id
    extra: tuple[tuple[str, Any], ...]  # ordinary properties


_Plan = tuple[int, str, str | None, str | None, str | None, bool, tuple[tuple[str, Any], ...]]


def _guid(rng: Random) -> str:
    """A version-4 UUID, drawn from ``rng``."""
    n = rng.getrandbits(128)
    h = f"{n:032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[n & 3]}{h[17:20]}-{h[20:32]}"


def user_id(person: int, account: int = 0) -> str:
    """The user id of ``person`` (``account`` 1: their duplicate second account)."""
    if account:
        return f"user{person}.alt@example.org"
    return f"user{person}@example.com" if person % 4 == 0 else str(10_000_000 + person)


def crm_id(person: int) -> str:
    """The second id an alias gives ``person``."""
    return f"crm-{person:08d}"


class Story:
    """The story's state: people, devices, who is logged in where. Iterate :meth:`beats`."""

    def __init__(self, config: Config) -> None:
        if config.events < 0 or config.users < 1:
            raise ValueError("need events >= 0 and users >= 1")
        self.config = config
        self.rng = Random(config.seed)
        self.flags = bytearray()  # per person
        self.first_device = array("q")  # per person
        self.more_devices: dict[int, list[int]] = {}  # person -> their other devices
        self.anon: list[str] = []  # per device: the id its SDK currently holds
        self.props: list[tuple[tuple[str, Any], ...]] = []  # per device: $os, $browser
        self.login = array("q")  # per device: person * 2 + account logged in, or -1
        self.planned = 0
        self.emitted = 0
        self.resets = 0
        self.kinds: Counter[str] = Counter()
        self.refusable = Counter[str]()  # story facts that a mode may refuse

    # -- population ----------------------------------------------------------------

    def _new_person(self) -> int:
        cfg, rng = self.config, self.rng
        flags = 0
        if rng.random() < cfg.identified_share:
            flags = _IDENTIFIED
            r = rng.random()
            if r < cfg.alias_share:
                flags |= _ALIASER
            elif r < cfg.alias_share + cfg.dup_account_share:
                flags |= _DUP
        self.flags.append(flags)
        self.first_device.append(-1)
        return len(self.flags) - 1

    def _new_device(self) -> int:
        rng = self.rng
        d = len(self.anon)
        if rng.random() < self.config.junk_device_rate:
            self.anon.append(JUNK_IDS[rng.randrange(len(JUNK_IDS))])
            self.refusable["junk device"] += 1
        else:
            self.anon.append(_guid(rng))
        mix = (d * 2654435761) >> 7
        self.props.append(_DEVICE_PROPS[mix % len(_OS)][(mix >> 5) % len(_BROWSER)])
        self.login.append(-1)
        return d

    def _reset(self, d: int) -> None:
        """Logout with ``reset()``: the SDK draws a new device id."""
        if self.anon[d] not in JUNK_IDS:  # a broken build stays broken
            self.anon[d] = _guid(self.rng)
            self.resets += 1

    def _give(self, person: int, d: int) -> None:
        first = self.first_device[person]
        if first < 0:
            self.first_device[person] = d
        elif first != d:
            more = self.more_devices.setdefault(person, [])
            if d not in more:
                more.append(d)

    # -- sessions ------------------------------------------------------------------

    def _pick(self) -> tuple[int, int]:
        """The person and device of a new session."""
        cfg, rng = self.config, self.rng
        n_people = len(self.flags)
        remaining = max(cfg.events - self.planned, 1)
        if n_people == 0 or rng.random() < (cfg.users - n_people) * cfg.session_mean / remaining:
            person = self._new_person()
            if self.anon and rng.random() < cfg.shared_device_rate:
                d = int(rng.random() * len(self.anon))
            else:
                d = self._new_device()
            self._give(person, d)
            return person, d
        person = int(n_people * rng.random() ** 1.5)  # long-standing users return more
        r = rng.random()
        first = self.first_device[person]
        if r < cfg.new_device_rate:
            d = self._new_device()
        elif r < cfg.new_device_rate + cfg.shared_device_rate:
            d = int(rng.random() * len(self.anon))
        else:
            more = self.more_devices.get(person)
            if not more:
                d = first
            elif rng.random() < 0.6:
                d = more[-1]
            else:
                d = more[int(rng.random() * len(more))] if rng.random() < 0.5 else first
        self._give(person, d)
        return person, d

    def _plan(self) -> list[_Plan]:
        """The beats of one new session, last first (popped from the end)."""
        cfg, rng = self.config, self.rng
        q = 1.0 - 1.0 / cfg.session_mean
        n = 1
        while rng.random() < q:
            n += 1
        self.planned += n
        person, d = self._pick()
        flags = self.flags[person]
        state = self.login[d]
        if state >= 0 and state >> 1 != person:  # another person was logged in here
            self.login[d] = state = -1
            if rng.random() < cfg.reset_rate:
                self._reset(d)
            else:
                self.refusable["device kept across users"] += 1
        device = self.anon[d]
        device_props = self.props[d]
        user = user_id(person, state & 1) if state >= 0 else None
        login_at = -1
        if flags & _IDENTIFIED and user is None and rng.random() < cfg.login_rate:
            login_at = int(rng.random() * n)
        beats: list[_Plan] = []
        for i in range(n):
            if i == login_at:
                account = 0
                if (
                    flags & _DUP
                    and flags & _SIGNED_UP
                    and not flags & _SIGNED_UP2
                    and rng.random() < 0.5
                ):
                    account = 1  # signs up a second account
                signup = not flags & (_SIGNED_UP2 if account else _SIGNED_UP)
                if rng.random() < cfg.junk_login_rate:  # identify(undefined): stays anonymous
                    junk = JUNK_IDS[rng.randrange(len(JUNK_IDS))]
                    beats.append((LOGIN, "Log In", device, junk, None, signup, device_props))
                    self.refusable["junk login"] += 1
                    continue
                flags |= _SIGNED_UP2 if account else _SIGNED_UP
                self.login[d] = person * 2 + account
                user = user_id(person, account)
                name = "Sign Up" if signup else "Log In"
                beats.append((LOGIN, name, device, user, None, signup, device_props))
                continue
            if user is not None:
                if flags & _ALIASER and not flags & _ALIAS_DONE and rng.random() < 0.25:
                    flags |= _ALIAS_DONE
                    beats.append((ALIAS, "", None, user, crm_id(person), False, ()))
                    continue
                if (
                    flags & _DUP
                    and flags & _SIGNED_UP2
                    and not flags & _MERGE_DONE
                    and rng.random() < 0.25
                ):
                    flags |= _MERGE_DONE
                    pair = user_id(person), user_id(person, 1)
                    beats.append((MERGE, "", None, *pair, False, ()))
                    continue
                if rng.random() < cfg.server_rate:
                    server_user = crm_id(person) if flags & _ALIAS_DONE else user
                    name = _SERVER_TABLE[int(rng.random() * len(_SERVER_TABLE))]
                    plan = (("plan", _PLANS[person % len(_PLANS)]),)
                    beats.append((SERVER, name, None, server_user, None, False, plan))
                    continue
            name = _TRACK_TABLE[int(rng.random() * len(_TRACK_TABLE))]
            extra = device_props
            if name == "Page View":
                extra = (*extra, ("$current_url", _PATHS[int(rng.random() * len(_PATHS))]))
            elif name == "Purchase":
                extra = (*extra, ("price", rng.randrange(199, 25_000) / 100))
            beats.append((TRACK, name, device, user, None, False, extra))
        self.flags[person] = flags
        if self.login[d] >= 0 and self.login[d] >> 1 == person and rng.random() < cfg.logout_rate:
            self.login[d] = -1
            if rng.random() < cfg.reset_rate:
                self._reset(d)
        beats.reverse()
        return beats

    def beats(self) -> Iterator[Beat]:
        """The whole story, one beat at a time."""
        cfg = self.config
        random, getrandbits = self.rng.random, self.rng.getrandbits
        total = cfg.events
        gap = max(1, cfg.days * 86_400_000 // max(total, 1))
        spread = 2 * gap - 1  # gaps are uniform in 1 .. 2 * gap - 1 ms
        now = cfg.start_ms
        active: list[list[_Plan]] = []
        while len(active) < cfg.concurrency and self.planned < total:
            active.append(self._plan())
        kinds = [0] * len(KIND_NAMES)
        emitted = self.emitted
        while emitted < total:
            j = int(random() * len(active))
            session = active[j]
            kind, name, device, user, other, signup, extra = session.pop()
            if not session:
                if self.planned < total:
                    active[j] = self._plan()
                else:
                    active[j] = active[-1]
                    active.pop()
            now += 1 + int(random() * spread)
            emitted += 1
            self.emitted = emitted
            kinds[kind] += 1
            insert_id = f"{emitted:010x}{getrandbits(56):014x}"
            yield Beat(kind, name, now, insert_id, device, user, other, signup, extra)
        self.kinds.update(dict(zip(KIND_NAMES, kinds, strict=True)))

    def stats(self) -> dict[str, int]:
        """What the story held (complete once :meth:`beats` is exhausted)."""
        linked = sum(1 for f in self.flags if f & _SIGNED_UP)
        return {
            "events": self.emitted,
            "people": len(self.flags),
            "people_who_logged_in": linked,
            "devices": len(self.anon),
            "device_id_resets": self.resets,
            **{f"beats_{k}": v for k, v in self.kinds.items()},
            **{k.replace(" ", "_"): v for k, v in self.refusable.items()},
        }


# -- rendering ---------------------------------------------------------------------


def _original_anon(device: str) -> str:
    """The anonymous distinct_id an Original ID Merge SDK uses for ``device``.

    Newer SDKs prefix ``$device:``, older ones send the bare GUID; which one is a
    fixed property of the device (its first hex digit).
    """
    return DEVICE + device if device[:1] in "01234567" else device


def _props(b: Beat, distinct_id: str | None) -> dict[str, Any]:
    """The properties every record starts with."""
    return {"time": b.time, "distinct_id": distinct_id, "$insert_id": b.insert_id}


def _render_alias_or_merge(b: Beat) -> tuple[str, dict[str, Any]]:
    """An alias or a merge beat, as the Mixpanel modes send it."""
    props = _props(b, b.user)
    if b.kind == ALIAS:
        props["alias"] = b.other
        return "$create_alias", props
    props["$distinct_ids"] = [b.user, b.other]
    return "$merge", props


def render_simplified(b: Beat) -> tuple[str, dict[str, Any]]:
    kind, user, device = b.kind, b.user, b.device
    if kind <= LOGIN:  # TRACK or LOGIN
        assert device is not None
        props = _props(b, DEVICE + device if user is None else user)
        props["$device_id"] = device
        if user is not None:
            props["$user_id"] = user
        props.update(b.extra)
        return b.name, props
    if kind == SERVER:
        props = _props(b, user)
        props["$user_id"] = user
        props.update(b.extra)
        return b.name, props
    return _render_alias_or_merge(b)


def render_cdp(b: Beat) -> tuple[str, dict[str, Any]]:
    if b.kind == MERGE:  # Segment unifies two user ids with alias(userId, previousId)
        props = _props(b, b.other)
        props["alias"] = b.user
        return "$create_alias", props
    return render_simplified(b)


def render_original(b: Beat) -> tuple[str, dict[str, Any]]:
    kind, user = b.kind, b.user
    if kind == TRACK:
        assert b.device is not None
        props = _props(b, user if user is not None else _original_anon(b.device))
        props.update(b.extra)
        return b.name, props
    if kind == LOGIN:
        assert b.device is not None
        anon = _original_anon(b.device)
        props = _props(b, user)
        if anon.startswith(DEVICE):  # the JS SDK's form
            props["$anon_distinct_id"] = anon
        else:  # the HTTP API's form
            props["$identified_id"] = user
            props["$anon_id"] = anon
        return "$identify", props
    if kind == SERVER:
        props = _props(b, user)
        props.update(b.extra)
        return b.name, props
    return _render_alias_or_merge(b)


def render_legacy(b: Beat) -> tuple[str, dict[str, Any]]:
    kind, user = b.kind, b.user
    if kind == TRACK or (kind == LOGIN and not b.signup):
        assert b.device is not None
        props = _props(b, user if user is not None else b.device)
        props.update(b.extra)
        return b.name, props
    if kind == LOGIN:  # sign-up: alias(new user id) from the anonymous id
        props = _props(b, b.device)
        props["alias"] = user
        return "$create_alias", props
    if kind == SERVER:
        props = _props(b, user)
        props.update(b.extra)
        return b.name, props
    # ALIAS and MERGE: legacy projects have only alias
    props = _props(b, user)
    props["alias"] = b.other
    return "$create_alias", props


RENDERERS: dict[str, Callable[[Beat], tuple[str, dict[str, Any]]]] = {
    "simplified": render_simplified,
    "original": render_original,
    "legacy": render_legacy,
    "cdp": render_cdp,
}


def _renderer(mode: str) -> Callable[[Beat], tuple[str, dict[str, Any]]]:
    try:
        return RENDERERS[str(mode)]
    except KeyError:
        raise ValueError(f"unknown mode {mode!r}; one of {', '.join(MODES)}") from None


# -- chunked streams ---------------------------------------------------------------


def beat_chunks(
    config: Config, chunk_size: int = 10_000, story: Story | None = None
) -> Iterator[list[Beat]]:
    """The story in lists of at most ``chunk_size`` beats."""
    story = story or Story(config)
    chunk: list[Beat] = []
    for beat in story.beats():
        chunk.append(beat)
        if len(chunk) >= chunk_size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def record_chunks(
    config: Config, mode: str, chunk_size: int = 10_000, story: Story | None = None
) -> Iterator[list[dict[str, Any]]]:
    """Mixpanel-shaped records ``{"event": ..., "properties": {...}}`` in chunks."""
    render = _renderer(mode)
    for beats in beat_chunks(config, chunk_size, story):
        out = []
        for beat in beats:
            name, props = render(beat)
            out.append({"event": name, "properties": props})
        yield out


def to_event(record: dict[str, Any]) -> Event:
    """The engine's :class:`~idmerge.identity.Event` for a record.

    ``$merge`` is marked ``trusted``: such events come through the authenticated
    ``/import``; everything else as if through ``/track``.
    """
    name, props = record["event"], record["properties"]
    return Event(name, props, props["time"], props.get("$insert_id"), name == "$merge")


def event_chunks(
    config: Config, mode: str, chunk_size: int = 10_000, story: Story | None = None
) -> Iterator[list[Event]]:
    """The engine's events in chunks (same content as :func:`record_chunks`)."""
    render = _renderer(mode)
    for beats in beat_chunks(config, chunk_size, story):
        out = []
        for beat in beats:
            name, props = render(beat)
            out.append(Event(name, props, beat.time, beat.insert_id, name == "$merge"))
        yield out


def _open_out(path: str) -> IO[bytes]:
    if path == "-":
        return sys.stdout.buffer
    raw = open(path, "wb")  # noqa: SIM115 - closed by the caller
    if path.endswith(".gz"):
        # no file name and mtime 0 in the header: same input -> same bytes
        gz = gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=6)
        return cast(IO[bytes], gz)  # a binary file; typeshed does not say so
    return raw


def write_jsonl(path: str, config: Config, mode: str, chunk_size: int = 10_000) -> dict[str, int]:
    """Write the stream as JSON lines (``.gz``: gzip). Answers the story's statistics."""
    story = Story(config)
    out = _open_out(path)
    dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
    try:
        buffer = io.BytesIO()
        for records in record_chunks(config, mode, chunk_size, story):
            buffer.seek(0)
            buffer.truncate()
            for record in records:
                buffer.write(dumps(record).encode())
                buffer.write(b"\n")
            out.write(buffer.getvalue())
    finally:
        if out is not sys.stdout.buffer:
            raw = out.fileobj if isinstance(out, gzip.GzipFile) else None
            out.close()
            if raw is not None:
                raw.close()
        else:
            out.flush()
    return story.stats()


def main(argv: list[str] | None = None) -> int:
    defaults = Config()
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.datagen",
        description="Write a fixed-seed, realistic event stream as Mixpanel-shaped JSON lines.",
    )
    parser.add_argument("--events", type=int, default=defaults.events)
    parser.add_argument("--users", type=int, default=defaults.users)
    parser.add_argument("--mode", choices=MODES, default="simplified")
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--days", type=int, default=defaults.days)
    parser.add_argument("--out", required=True, help="FILE.jsonl, FILE.jsonl.gz, or - (stdout)")
    parser.add_argument("--quiet", action="store_true", help="no statistics on stderr")
    args = parser.parse_args(argv)
    config = Config(events=args.events, users=args.users, seed=args.seed, days=args.days)
    started = _time.perf_counter()
    stats = write_jsonl(args.out, config, args.mode)
    if not args.quiet:
        took = _time.perf_counter() - started
        print(json.dumps({"mode": args.mode, "seconds": round(took, 1), **stats}), file=sys.stderr)
    return 0


__all__ = [
    "JUNK_IDS",
    "MODES",
    "RENDERERS",
    "Beat",
    "Config",
    "Story",
    "beat_chunks",
    "crm_id",
    "event_chunks",
    "main",
    "record_chunks",
    "to_event",
    "user_id",
    "write_jsonl",
]

if __name__ == "__main__":
    raise SystemExit(main())
