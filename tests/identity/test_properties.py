"""Properties of the identity engine over generated event streams (Hypothesis).

Streams come from small id alphabets so that ids collide often: user ids, raw device
ids, GUID-shaped anonymous ids (plain, upper case, ``$device:``-prefixed), junk ids
and a few values that are no id at all, in the identity events of every mode.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.identity.support import upsert

from idmerge.identity import (
    DEFAULT_JUNK_IDS,
    DEVICE_PREFIX,
    Event,
    IdentityEngine,
    LogEntry,
    Mode,
    Op,
    Outcome,
    Policy,
    Step,
    split_entry,
)
from idmerge.identity.original import is_guid
from idmerge.identity.reading import IDENTITY_PROPERTIES

ALL_MODES = list(Mode)
SETTINGS = settings(max_examples=60, deadline=None)

G1 = "0b9a6a7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
G2 = "DEADBEEFDEADBEEFDEADBEEFDEADBEEF"
G3 = DEVICE_PREFIX + "2c9d2a4e-3b1f-4c5d-9e8f-7a6b5c4d3e2f"
USERS = ["u1", "u2", "u3"]
RAW_DEVICES = ["d1", "d2", G1, G2]
ANON = [G1, G2, G3, DEVICE_PREFIX + "d1", "bob"]
JUNK = ["null", " ", "", "'Undefined'", "00000000-0000-0000-0000-000000000000"]
NOT_IDS: list[Any] = [None, 0, ["u1"], "x" * 256]
ABSENT = object()
GOOD_IDS = [*USERS, G1, G2, G3, "d1", "bob"]
ODD_IDS: list[Any] = [*JUNK, *NOT_IDS]


def _props(**values: Any) -> dict[str, Any]:
    return {k.replace("_S_", "$"): v for k, v in values.items() if v is not ABSENT}


def _menu(ids: list[Any], others: list[Any]) -> dict[str, list[tuple[str, dict[str, Any], bool]]]:
    """The identity events of every kind naming ``ids`` (each paired with ``others``)."""
    pairs = [(a, b) for a in ids for b in others] + [(b, a) for a in ids for b in others]
    return {
        "identify": [
            ("$identify", {"distinct_id": a, "$anon_distinct_id": b}, False)
            if sdk
            else ("$identify", {"$identified_id": a, "$anon_id": b}, False)
            for a, b in pairs
            for sdk in (False, True)
        ],
        "alias": [("$create_alias", _props(alias=a, distinct_id=b), False) for a, b in pairs],
        "merge": [
            ("$merge", {"$distinct_ids": [a, b]}, trusted)
            for a, b in pairs
            for trusted in (True, True, True, False)
        ],
    }


#: Every event a stream may hold, by kind. Most name valid ids from small alphabets;
#: the ``odd`` kinds carry junk, missing, non-string or over-long ids.
MENU = {
    "track": [
        ("Page", _props(_S_user_id=u, _S_device_id=d, distinct_id=i), False)
        for u in [ABSENT, *USERS]
        for d in [ABSENT, *RAW_DEVICES]
        for i in [ABSENT, "u1", DEVICE_PREFIX + "d1"]
    ],
    "odd track": [
        ("Login", _props(_S_user_id=u, _S_device_id=d, distinct_id=i), False)
        for u in [ABSENT, "u1", *ODD_IDS]
        for d in [ABSENT, "d1", *ODD_IDS]
        for i in [ABSENT, *ODD_IDS]
    ],
    **_menu(GOOD_IDS, GOOD_IDS),
    **{f"odd {kind}": events for kind, events in _menu([ABSENT, *ODD_IDS], GOOD_IDS).items()},
}
MENU["odd merge"] += [
    ("$merge", {"$distinct_ids": ids}, True) for ids in ([], ["u1"], ["u1", "u2", "u3"], "u1")
]
MODE_MIX = {
    Mode.SIMPLIFIED: ["track"] * 6 + ["odd track", "identify", "alias", "merge"],
    Mode.ORIGINAL: [
        *["track", "identify", "identify", "alias", "alias", "merge", "merge"],
        *["odd identify", "odd alias", "odd merge"],
    ],
    Mode.LEGACY: ["track"] * 2 + ["alias"] * 4 + ["odd alias", "identify", "merge"],
    Mode.CDP: ["track"] * 5 + ["alias", "alias", "odd track", "odd alias", "merge"],
}


@st.composite
def streams(draw: st.DrawFn, mode: Mode, resends: bool = True, max_size: int = 25) -> list[Event]:
    """A stream of events of ``mode``, with redeliveries of earlier events mixed in."""
    kinds = st.sampled_from(MODE_MIX[mode] + (["resend"] if resends else []))
    events: list[Event] = []
    deliverable: list[Event] = []
    for n in range(draw(st.integers(0, max_size))):
        kind = draw(kinds)
        if kind == "resend":
            if deliverable:
                events.append(draw(st.sampled_from(deliverable)))
            continue
        name, props, trusted = draw(st.sampled_from(MENU[kind]))
        insert_id = f"i{n}" if draw(st.integers(0, 3)) else None
        event = Event(name, dict(props), time=n, insert_id=insert_id, trusted=trusted)
        events.append(event)
        if insert_id is not None:
            deliverable.append(event)
    return events


class Run:
    """One ingestion of a stream: the engine, its log and its answers."""

    def __init__(
        self, policy: Policy, events: Sequence[Event], seqs: Sequence[int] | None = None
    ) -> None:
        self.policy = policy
        self.engine = IdentityEngine(policy)
        self.log: list[LogEntry] = []
        self.steps: list[Step] = []
        for n, event in enumerate(events):
            step = self.engine.apply(event, n + 1 if seqs is None else seqs[n])
            self.steps.append(step)
            if step.entry is not None:
                self.log.append(step.entry)

    def replay(self, log: Sequence[LogEntry] | None = None) -> IdentityEngine:
        return IdentityEngine.replay(
            self.policy, self.log if log is None else log, seen_ids=self.engine.seen_ids
        )


def ids_of(events: Sequence[Event], *runs: Run) -> set[str]:
    """Every id the stream could have put into a cluster, and every id stored."""
    ids: set[str] = set()
    for event in events:
        for key, value in event.properties.items():
            values = value if isinstance(value, list) else [value]
            for v in values:
                if type(v) is str:
                    ids.update((v, DEVICE_PREFIX + v) if key == "$device_id" else (v,))
    for run in runs:
        ids.update(step.distinct_id for step in run.steps)
        for entry in run.log:
            ids.update(entry.ids)
        for pair in run.engine.mapping():
            ids.update(pair)
    return ids


def clusters(engine: IdentityEngine, ids: set[str]) -> dict[str, list[str]]:
    return {x: engine.cluster(x) for x in sorted(ids)}


def assert_partition(engine: IdentityEngine, ids: set[str]) -> None:
    """Every id is in exactly one cluster, which holds its resolved id (listed first)."""
    for x in ids:
        members = engine.cluster(x)
        resolved = engine.resolve(x)
        assert members[0] == resolved
        assert x in members
        assert len(set(members)) == len(members)
        for y in members:
            assert engine.resolve(y) == resolved
            assert engine.cluster(y) == members
    assert dict(engine.mapping()) == {x: engine.resolve(x) for x in ids if engine.resolve(x) != x}


# -- every mode -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", ALL_MODES)
@SETTINGS
@given(data=st.data())
def test_every_id_in_exactly_one_cluster(mode, data):
    """Every id belongs to one cluster, whose resolved id is a member, at every point of a run."""
    events = data.draw(streams(mode))
    policy = Policy.for_mode(mode)
    engine = IdentityEngine(policy)
    ids = ids_of(events)
    for n, event in enumerate(events):
        step = engine.apply(event, n + 1)
        if step.entry is not None:
            ids.update(step.entry.ids)
        ids.add(step.distinct_id)
        assert_partition(engine, ids)


@pytest.mark.parametrize("mode", ALL_MODES)
@SETTINGS
@given(data=st.data())
def test_outcomes_are_well_formed_and_clusters_only_grow(mode, data):
    """Outcomes carry a reason iff refused or ignored; clusters never shrink through ingestion."""
    events = data.draw(streams(mode))
    engine = IdentityEngine(Policy.for_mode(mode))
    ids = ids_of(events)
    before = clusters(engine, ids)
    for n, event in enumerate(events):
        survivor = None
        step = engine.apply(event, n + 1)
        entry = step.entry
        if entry is not None:
            assert entry.seq == n + 1
            assert (entry.event, entry.insert_id, entry.time) == (
                event.name,
                event.insert_id,
                event.time,
            )
            assert (entry.reason is not None) == (
                entry.outcome in (Outcome.REFUSED, Outcome.IGNORED)
            )
            assert entry.outcome not in (Outcome.SPLIT, Outcome.UNDONE)
            if entry.outcome in (Outcome.LINKED, Outcome.MERGED):
                survivor = before[entry.ids[0]][0] if entry.ids[0] in before else entry.ids[0]
        after = clusters(engine, ids)
        for x in ids:
            assert set(before[x]) <= set(after[x])
        if survivor is not None:
            # the side naming the known user keeps its resolved id
            assert engine.resolve(entry.ids[0]) == survivor
        before = after


@pytest.mark.parametrize("mode", ALL_MODES)
@SETTINGS
@given(data=st.data())
def test_replay_gives_same_clusters_and_histories(mode, data):
    """Replaying the same log gives the same clusters, resolved ids and explain histories."""
    events = data.draw(streams(mode))
    run = Run(Policy.for_mode(mode), events)
    rebuilt = run.replay()
    again = run.replay()
    ids = ids_of(events, run)
    for x in ids:
        assert rebuilt.explain(x) == run.engine.explain(x)
        assert again.explain(x) == rebuilt.explain(x)
    assert sorted(rebuilt.mapping()) == sorted(run.engine.mapping())


@pytest.mark.parametrize("mode", ALL_MODES)
@SETTINGS
@given(data=st.data())
def test_rebuild_mid_stream_then_continue(mode, data):
    """Rebuilding from the log (with the seen ids) mid-stream and continuing changes nothing."""
    events = data.draw(streams(mode))
    cut = data.draw(st.integers(0, len(events)))
    whole = Run(Policy.for_mode(mode), events)
    first = Run(whole.policy, events[:cut])
    engine = first.replay()
    steps = [engine.apply(event, n + 1) for n, event in enumerate(events) if n >= cut]
    assert first.steps + steps == whole.steps
    ids = ids_of(events, whole)
    assert clusters(engine, ids) == clusters(whole.engine, ids)


@pytest.mark.parametrize("mode", ALL_MODES)
@SETTINGS
@given(data=st.data())
def test_split_equals_log_without_the_event(mode, data):
    """Split of event E gives the clusters of a replay of the log that never had E."""
    events = data.draw(streams(mode))
    run = Run(Policy.for_mode(mode), events)
    candidates = [e for e in run.log if e.op is not Op.NONE]
    if not candidates:
        return
    target = data.draw(st.sampled_from(candidates))
    seq = len(events) + 1
    if target.insert_id is not None and data.draw(st.booleans()):
        split = split_entry(run.log, run.engine, seq=seq, time=0, insert_id=target.insert_id)
    else:
        split = split_entry(run.log, run.engine, seq=seq, time=0, event_seq=target.seq)
    assert isinstance(split, LogEntry)
    assert split.undoes == (target.seq,)
    after = run.replay([*run.log, split])
    without = run.replay([e for e in run.log if e.seq != target.seq])
    ids = ids_of(events, run)
    assert clusters(after, ids) == clusters(without, ids)
    for x in target.ids:
        history = after.explain(x).history
        assert (target.seq, Outcome.UNDONE) in [(e.seq, e.outcome) for e in history]
        assert split in history


@pytest.mark.parametrize("mode", ALL_MODES)
@SETTINGS
@given(data=st.data())
def test_detach_equals_log_without_events_naming_the_id(mode, data):
    """Detaching an id gives a replay of the log without every event that named it; it is alone."""
    events = data.draw(streams(mode))
    run = Run(Policy.for_mode(mode), events)
    linked = sorted(x for x, _ in run.engine.mapping())
    if not linked:
        return
    target = data.draw(st.sampled_from(linked))
    split = split_entry(run.log, run.engine, seq=len(events) + 1, time=0, detach=target)
    assert isinstance(split, LogEntry)
    after = run.replay([*run.log, split])
    without = run.replay([e for e in run.log if target not in e.ids])
    ids = ids_of(events, run)
    assert clusters(after, ids) == clusters(without, ids)
    assert after.cluster(target) == [target]


@pytest.mark.parametrize("mode", ALL_MODES)
@SETTINGS
@given(data=st.data())
def test_duplicate_delivery_changes_nothing(mode, data):
    """An event re-sent with its insert_id anywhere later in the stream changes nothing."""
    events = data.draw(streams(mode, resends=False))
    events = [e._replace(insert_id=f"i{n}") for n, e in enumerate(events)]
    if not events:
        return
    i = data.draw(st.integers(0, len(events) - 1))
    j = data.draw(st.integers(i + 1, len(events)))
    seqs = [10 * (n + 1) for n in range(len(events))]
    base = Run(Policy.for_mode(mode), events, seqs)
    with_dup = Run(
        base.policy, [*events[:j], events[i], *events[j:]], [*seqs[:j], 10 * j + 5, *seqs[j:]]
    )
    dup_step = with_dup.steps[j]
    assert dup_step.entry is None
    assert with_dup.steps[:j] + with_dup.steps[j + 1 :] == base.steps
    assert with_dup.log == base.log
    ids = ids_of(events, base)
    assert clusters(with_dup.engine, ids) == clusters(base.engine, ids)


@pytest.mark.parametrize("mode", ALL_MODES)
@SETTINGS
@given(data=st.data())
def test_drained_changes_build_the_mapping(mode, data):
    """``drain_changes`` applied as upserts (self-maps delete) always equals ``mapping()``,
    and names each id once (a store inserts its rows as they come)."""
    events = data.draw(streams(mode))
    engine = IdentityEngine(Policy.for_mode(mode))
    table: dict[str, str] = {}

    for n, event in enumerate(events):
        engine.apply(event, n + 1)
        if data.draw(st.booleans()):
            upsert(table, engine.drain_changes())
            assert table == dict(engine.mapping())
    upsert(table, engine.drain_changes())
    assert table == dict(engine.mapping())


@pytest.mark.parametrize("mode", [Mode.ORIGINAL, Mode.CDP])
@SETTINGS
@given(data=st.data())
def test_size_limits_hold(mode, data):
    """No cluster ever exceeds the configured size limit (original and cdp)."""
    events = data.draw(streams(mode, max_size=40))
    run = Run(Policy.for_mode(mode, max_cluster_ids=3, max_merges=2), events)
    for x in ids_of(events, run):
        assert len(run.engine.cluster(x)) <= 3


# -- per mode -------------------------------------------------------------------------


@SETTINGS
@given(events=streams(Mode.SIMPLIFIED))
def test_simplified_clusters_hold_one_user_id(events):
    """Simplified: a cluster never holds two ``$user_id``s, and resolves to its user id."""
    run = Run(Policy.for_mode(Mode.SIMPLIFIED), events)
    for x in ids_of(events, run):
        members = run.engine.cluster(x)
        users = [m for m in members if not m.startswith(DEVICE_PREFIX)]
        assert len(users) <= 1
        if len(members) > 1:
            assert members[0] == users[0]


@SETTINGS
@given(events=streams(Mode.SIMPLIFIED))
def test_simplified_stored_id_follows_the_three_rules(events):
    """Simplified: the stored distinct_id is ``$user_id``, else ``$device:`` + device, else sent."""
    run = Run(Policy.for_mode(Mode.SIMPLIFIED), events)
    for event, step in zip(events, run.steps, strict=True):
        user = event.properties.get("$user_id")
        device = event.properties.get("$device_id")
        sent = event.properties.get("distinct_id")
        if type(user) is str and user:
            assert step.distinct_id == user
        elif type(device) is str and device:
            assert step.distinct_id == DEVICE_PREFIX + device
        else:
            assert step.distinct_id == (sent if type(sent) is str else "")


@SETTINGS
@given(events=streams(Mode.LEGACY))
def test_legacy_never_reattributes_earlier_events(events):
    """Legacy: an event is stored under its id as resolved when it arrived, never later."""
    engine = IdentityEngine(Policy.for_mode(Mode.LEGACY))
    stored: list[str] = []
    for n, event in enumerate(events):
        sent = event.properties.get("distinct_id")
        sent = sent if type(sent) is str else ""
        resolved_then = engine.resolve(sent) if sent else ""
        alone_then = len(engine.cluster(sent)) == 1
        step = engine.apply(event, n + 1)
        assert step.distinct_id == resolved_then
        if alone_then:
            assert step.distinct_id == sent
        before = step.annotations.get("$distinct_id_before_identity")
        assert before == (sent if step.distinct_id != sent else None)
        stored.append(step.distinct_id)
    # Ingesting any prefix again stores its events under the same ids.
    cut = len(events) // 2
    prefix = Run(Policy.for_mode(Mode.LEGACY), events[:cut])
    assert [s.distinct_id for s in prefix.steps] == stored[:cut]


@pytest.mark.parametrize("mode", ALL_MODES)
@settings(max_examples=60, deadline=None)
@given(
    name=st.sampled_from(["$identify", "$create_alias", "$merge", "Login"]),
    props=st.dictionaries(
        st.sampled_from(IDENTITY_PROPERTIES),
        st.recursive(
            st.none()
            | st.booleans()
            | st.integers()
            | st.floats()
            | st.text(max_size=3)
            | st.sampled_from(JUNK + USERS + ANON + ["x" * 300]),
            lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=2), inner),
            max_leaves=4,
        ),
    ),
    trusted=st.booleans(),
)
def test_malformed_events_never_raise(mode, name, props, trusted):
    """Whatever the identity properties hold, the engine answers an outcome, never raises."""
    engine = IdentityEngine(Policy.for_mode(mode))
    for seq in (1, 2):
        step = engine.apply(Event(name, props, insert_id=None, trusted=trusted), seq)
        assert isinstance(step.distinct_id, str)
        assert all(type(v) is str for v in step.annotations.values())
    IdentityEngine.replay(engine.policy, [s for s in [step.entry] if s is not None])


# -- the fast id checks against their plain definitions -------------------------------

#: The GUID rule (identity.md, Original ID Merge) as a regular expression: what
#: ``is_guid``'s character loop must agree with.
#: The prefix is the SDKs' own, in lower case, as everywhere else (``DEVICE_PREFIX``);
#: the hex digits may be in any case.
GUID_RULE = re.compile(r"(?:\$device:)?(?i:[0-9a-f]{32}|[0-9a-f]+(?:-[0-9a-f]+){4})")
#: Text built mostly from the characters the two checks look at, so that near-misses
#: (a group too many, an empty group, 31 digits, a stray letter) are common.
#: The code points either side of the hex ranges, one per id at most.
HEX_NEIGHBOURS = "/:@G`g"
id_like = st.one_of(
    st.text(alphabet="0123456789abcdefABCDEF-", max_size=40),
    st.lists(st.text(alphabet="0123456789abcdefABCDEFg", max_size=9), min_size=1, max_size=7).map(
        "-".join
    ),
    st.tuples(
        st.sampled_from(["0" * 32, "0" * 8 + "-0000" * 3 + "-" + "0" * 12]),
        st.integers(0, 35),
        st.sampled_from(HEX_NEIGHBOURS),
    ).map(lambda t: t[0][: t[1]] + t[2] + t[0][t[1] + 1 :]),
    st.builds(
        "".join,
        st.lists(
            st.sampled_from(
                ["$device:", "$DEVICE:", "-", "0", "a", "F", "g", " ", "deadbeef", "-x"]
            )
        ),
    ),
    st.text(max_size=12),
    # lone surrogates: Python strings may hold them, UTF-8 cannot (no error, no match)
    st.text(alphabet=st.characters(categories=["Cs"]) | st.sampled_from("0a-"), max_size=6),
).flatmap(lambda body: st.sampled_from([body, "$device:" + body]))


@given(id_like)
@settings(max_examples=3000, deadline=None)
def test_is_guid_is_the_documented_rule(distinct_id: str) -> None:
    assert is_guid(distinct_id) is (GUID_RULE.fullmatch(distinct_id) is not None)


junk_like = st.one_of(
    st.sampled_from(DEFAULT_JUNK_IDS).flatmap(
        lambda v: st.sampled_from([v, v.upper(), f" {v} ", f"'{v}'", f'"{v.title()}"', v + "x"])
    ),
    # a junk id the fast path must not wave through: whitespace at one end only
    # (Unicode's too), or a Kelvin sign, which lower-cases to "k"
    st.sampled_from(DEFAULT_JUNK_IDS).flatmap(
        lambda v: st.sampled_from(
            [v + "\t", "\u00a0" + v, "\u3000" + v.upper(), v.replace("k", "\u212a")]
        )
    ),
    st.text(max_size=40),
    # characters whose lower case is ASCII, or longer: "\u0130" is a dotted capital I,
    # "\u212a" the Kelvin sign, "\u017f" a long s
    st.text(alphabet="\u0130\u212a\u017fidkKstop0-", max_size=6),
).flatmap(lambda v: st.sampled_from([v, "$device:" + v]))


@given(
    junk_like,
    st.sampled_from([DEFAULT_JUNK_IDS, ("\u0130d", "\u017ftop", "\u212a", "\u00dfx"), ()]),
)
@settings(max_examples=3000, deadline=None)
def test_is_junk_is_the_documented_rule(distinct_id: str, junk: tuple[str, ...]) -> None:
    """Blank, or in the junk list once stripped and lower-cased (the ``$device:`` prefix
    aside); the list holds each value bare and in single and double quotes."""
    policy = Policy.for_mode(Mode.ORIGINAL, junk_ids=junk)
    body = distinct_id.removeprefix("$device:").strip()
    plain = body.lower()
    listed = {form for v in junk for form in (v.lower(), f"'{v.lower()}'", f'"{v.lower()}"')}
    assert policy.is_junk(distinct_id) is (not body or plain in listed)
