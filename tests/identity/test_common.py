"""Rules for every mode: junk ids, order, idempotence, malformed events, explain, split, replay."""

from __future__ import annotations

from types import MappingProxyType

import pytest

from idmerge.identity import (
    DEFAULT_JUNK_IDS,
    Event,
    IdentityEngine,
    LogEntry,
    Mode,
    Op,
    Outcome,
    Policy,
    Reason,
    split_entry,
)
from idmerge.identity.reading import IDENTITY_PROPERTIES, named_ids

GUID = "0b9a6a7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
GUID2 = "1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9"
FAILURE_PROPERTY = {
    Mode.SIMPLIFIED: "$identity_failure_reason",
    Mode.ORIGINAL: "$failure_reason",
    Mode.LEGACY: "$failure_reason",
    Mode.CDP: "$identity_failure_reason",
}
ALL_MODES = list(Mode)

#: The default junk list as the spec writes it (identity.md, "Rules for every mode").
SPEC_JUNK_IDS = {
    "anon",
    "anonymous",
    "guest",
    "nil",
    "none",
    "null",
    "n/a",
    "na",
    "undefined",
    "unknown",
    "distinctid",
    "distinct_id",
    "id",
    "not_authenticated",
    "email",
    "true",
    "false",
    "nan",
    "<nil>",
    "[object object]",
    "0",
    "-1",
    "[]",
    "{}",
    "00000000-0000-0000-0000-000000000000",
}


def junk_variants(values=SPEC_JUNK_IDS):
    """Every junk value as sent in the wild: cases, padding and quotes."""
    out = ["", " ", "   ", "\t\n"]
    for v in sorted(values):
        out += [v, v.upper(), v.title(), f" {v} ", f"\t{v}\n", f"'{v}'", f'"{v}"']
        out += [f"'{v.upper()}'", f' "{v.title()}" ']
    return out


def link_attempts(h, junk):
    """Every way ``h``'s mode could link ``junk``: ``(step, id the event was sent with)``."""
    mode = h.mode
    if mode is Mode.SIMPLIFIED:
        return [
            (h.track(junk, "D1"), junk or "$device:D1"),
            (h.track("U1", junk), "U1"),
        ]
    if mode is Mode.ORIGINAL:
        return [
            (h.identify(junk, GUID), junk),
            (h.identify("U1", junk), "U1"),
            (h.send("$identify", {"distinct_id": "U1", "$anon_distinct_id": junk}), "U1"),
            (h.alias(junk, "X"), "X"),
            (h.alias("A", junk), junk),
            (
                h.send("$merge", {"distinct_id": "X", "$distinct_ids": [junk, "X"]}, trusted=True),
                "X",
            ),
            (
                h.send("$merge", {"distinct_id": "X", "$distinct_ids": ["X", junk]}, trusted=True),
                "X",
            ),
        ]
    if mode is Mode.LEGACY:
        return [(h.alias(junk, "X"), "X"), (h.alias("A", junk), junk)]
    return [
        (h.track(junk, "D1"), junk or "$device:D1"),
        (h.track("U1", junk), "U1"),
        (h.alias(junk, "P"), junk),
        (h.alias("U1", junk), "U1"),
    ]


# -- junk ids -------------------------------------------------------------------------


def test_default_junk_list_is_the_specified_union():
    """The default junk list is exactly the spec's union (Mixpanel, PostHog, Amplitude)."""
    assert {v.lower() for v in DEFAULT_JUNK_IDS} == SPEC_JUNK_IDS


@pytest.mark.parametrize("mode", ALL_MODES)
def test_junk_ids_never_link(project, mode):
    """Junk ids (every default value, any case, padded, quoted) are refused with errJunkId."""
    for junk in junk_variants():
        h = project(mode)
        for step, sent_as in link_attempts(h, junk):
            assert step.entry is not None, junk
            assert (step.entry.outcome, step.entry.reason) == (Outcome.REFUSED, Reason.JUNK_ID), (
                junk,
                step.entry,
            )
            assert step.annotations[FAILURE_PROPERTY[mode]] == "errJunkId"
            assert step.distinct_id == sent_as, junk
        assert list(h.engine.mapping()) == [], junk


LINKED_OR_MERGED = (Outcome.LINKED, Outcome.MERGED)
#: Per mode, steps that put every non-junk id ``link_attempts`` names into a cluster.
PARTNERS_CLUSTERED = {
    Mode.SIMPLIFIED: lambda h: [h.track("U1", "D7"), h.track("U7", "D1")],
    Mode.ORIGINAL: lambda h: [
        h.identify("U7", GUID),
        h.identify("U1", GUID2),
        h.alias("X8", "X"),
        h.alias("A8", "A"),
    ],
    Mode.LEGACY: lambda h: [h.alias("X8", "X"), h.alias("A8", "A")],
    Mode.CDP: lambda h: [h.track("U1", "D7"), h.track("U7", "D1"), h.alias("P8", "P")],
}


@pytest.mark.parametrize("mode", ALL_MODES)
def test_junk_ids_never_join_a_cluster(project, mode):
    """A junk id is refused when the id it would join is in a cluster already, as when
    it is alone: only ids already in a cluster skip the junk check."""
    for junk in ["undefined", " NULL ", "'guest'", ""]:
        h = project(mode)
        for step in PARTNERS_CLUSTERED[mode](h):
            assert step.entry is not None and step.entry.outcome in LINKED_OR_MERGED, step
        for step, _ in link_attempts(h, junk):
            assert (step.entry.outcome, step.entry.reason) == (Outcome.REFUSED, Reason.JUNK_ID), (
                junk,
                step.entry,
            )
        clustered = {x for pair in h.engine.mapping() for x in pair}
        assert not {junk, "$device:" + junk} & clustered, junk


@pytest.mark.parametrize("mode", [Mode.SIMPLIFIED, Mode.CDP])
def test_junk_device_id_is_junk_after_the_prefix(project, mode):
    """A junk ``$device_id`` stays junk once prefixed (``$device:null``)."""
    h = project(mode)
    step = h.track("U1", "null")
    assert step.entry.reason is Reason.JUNK_ID
    assert h.cluster("$device:null") == {"$device:null"}


@pytest.mark.parametrize("mode", [Mode.SIMPLIFIED, Mode.CDP])
def test_a_user_id_that_is_the_devices_own_id_links_nothing(project, mode):
    """``$user_id`` ``$device:x`` with ``$device_id`` ``x`` names one id twice: nothing
    to link (it was a cluster holding one id twice, of size 2)."""
    h = project(mode)
    step = h.track("$device:x", "x")
    assert step.outcome is Outcome.NOOP
    assert step.entry is None
    assert h.engine.cluster("$device:x") == ["$device:x"]
    assert h.engine.clusters.size("$device:x") == 1
    assert h.track("U1", "x").outcome is Outcome.LINKED  # the device is still free


def test_junk_checked_before_every_original_criterion(original):
    """Decision: in original, junk ids are refused before any other check."""
    assert original.identify("null", "null").entry.reason is Reason.JUNK_ID
    assert original.identify("U1", "undefined").entry.reason is Reason.JUNK_ID
    assert (
        original.identify("U1", "00000000-0000-0000-0000-000000000000").entry.reason
        is Reason.JUNK_ID
    )
    original.alias("guest", "X")
    assert original.alias("guest", "Y").entry.reason is Reason.JUNK_ID


@pytest.mark.parametrize("mode", ALL_MODES)
def test_junk_event_is_still_stored_and_explained(project, mode):
    """The refused junk event is stored under its id and appears in explain with errJunkId."""
    h = project(mode)
    [(step, sent_as), *_] = link_attempts(h, "undefined")
    assert step.distinct_id == sent_as
    assert (Outcome.REFUSED, Reason.JUNK_ID, step.entry.event) in h.history(sent_as)


@pytest.mark.parametrize("mode", ALL_MODES)
def test_junk_list_is_configurable(project, mode):
    """The junk list is configurable per project: listed values (any case, quoted) are junk."""
    h = project(mode, junk_ids=["Tester"])
    for junk in ("tester", "TESTER", " tester ", "'tester'", '"Tester"', ""):
        for step, _ in link_attempts(h, junk):
            assert step.entry.reason is Reason.JUNK_ID, junk
    assert list(h.engine.mapping()) == []


@pytest.mark.parametrize("mode", ALL_MODES)
def test_default_values_are_ordinary_ids_when_not_configured(project, mode):
    """With a configured list, the default values are ordinary ids again."""
    h = project(mode, junk_ids=["tester"])
    for step, _ in link_attempts(h, "guest"):
        assert step.entry is None or step.entry.reason is not Reason.JUNK_ID
    assert list(h.engine.mapping()) != []


def test_policy_junk_check():
    """``Policy.is_junk`` knows every default variant and nothing else."""
    policy = Policy.for_mode(Mode.SIMPLIFIED)
    assert all(policy.is_junk(v) for v in junk_variants())
    assert all(policy.is_junk("$device:" + v) for v in junk_variants())
    for fine in ("U1", "nullify", "anonymous1", "0000", "'null", "identity", GUID):
        assert not policy.is_junk(fine), fine


# -- order ----------------------------------------------------------------------------


def conflicting(h, first):
    """An identity event of ``h``'s mode tying one shared id to ``first``."""
    mode = h.mode
    if mode in (Mode.SIMPLIFIED, Mode.CDP):
        return h.track(first, "D1")
    if mode is Mode.ORIGINAL:
        return h.identify(first, GUID)
    return h.alias("A", first)


@pytest.mark.parametrize("mode", ALL_MODES)
def test_identity_events_take_effect_in_ingestion_order(project, mode):
    """Order: the first of two conflicting identity events wins, whichever it is."""
    for first, second in (("U1", "U2"), ("U2", "U1")):
        h = project(mode)
        conflicting(h, first)
        conflicting(h, second)
        anon = {Mode.ORIGINAL: GUID, Mode.LEGACY: "A"}.get(mode, "$device:D1")
        assert h.resolve(anon) == h.resolve(first)
        assert h.resolve(second) == second
        assert len(h.cluster(second)) == 1


@pytest.mark.parametrize("mode", ALL_MODES)
def test_replay_follows_sequence_numbers(project, mode):
    """Order: replay applies log entries by sequence number, whatever order they are given in."""
    h = project(mode)
    conflicting(h, "U1")
    conflicting(h, "U2")
    forward = h.replayed()
    backward = h.replayed(list(reversed(h.log)))
    assert sorted(forward.mapping()) == sorted(backward.mapping()) == sorted(h.engine.mapping())


# -- idempotence ----------------------------------------------------------------------


def identity_event(mode, user="U1", device="D1"):
    """One linking identity event of ``mode``."""
    if mode in (Mode.SIMPLIFIED, Mode.CDP):
        return "Login", {"$user_id": user, "$device_id": device}
    if mode is Mode.ORIGINAL:
        return "$identify", {"$identified_id": user, "$anon_id": device}
    return "$create_alias", {"alias": device, "distinct_id": user}


@pytest.mark.parametrize("mode", ALL_MODES)
def test_duplicate_identity_event_changes_nothing(project, mode):
    """Idempotence: the same identity event (same insert_id) ingested again changes nothing."""
    h = project(mode)
    name, props = identity_event(mode, device=GUID)
    first = h.send(name, props, insert_id="ins-1")
    assert first.entry.outcome in (Outcome.LINKED, Outcome.MERGED)
    h.engine.drain_changes()
    log, mapping = list(h.log), sorted(h.engine.mapping())
    again = h.send(name, props, insert_id="ins-1")
    assert again.entry is None
    assert again.distinct_id == first.distinct_id
    assert h.log == log
    assert sorted(h.engine.mapping()) == mapping
    assert list(h.engine.drain_changes()) == []


@pytest.mark.parametrize("mode", ALL_MODES)
def test_late_duplicate_with_other_properties_is_dropped(project, mode):
    """Idempotence: a redelivery (same name and insert_id) later in the stream does nothing."""
    h = project(mode)
    name, props = identity_event(mode, device=GUID)
    h.send(name, props, insert_id="ins-1")
    h.track(distinct_id="someone")
    other_name, other = identity_event(mode, user="U2", device=GUID2)
    assert other_name == name
    assert h.send(name, other, insert_id="ins-1").entry is None
    assert h.cluster("U2") == {"U2"}
    assert h.cluster(GUID2) == {GUID2}


@pytest.mark.parametrize("mode", [Mode.SIMPLIFIED, Mode.CDP])
def test_same_insert_id_is_a_duplicate_whatever_the_event_name(project, mode):
    """Idempotence keys on the insert_id alone, as the spec says (and as split does)."""
    h = project(mode)
    h.track("U1", "D1", name="Login", insert_id="ins-1")
    again = h.track("U1", "D2", name="Sign Up", insert_id="ins-1")
    assert again.outcome is Outcome.NOOP
    assert again.entry is None
    assert h.resolve("$device:D2") == "$device:D2"


@pytest.mark.parametrize("mode", ALL_MODES)
def test_events_without_insert_id_are_never_duplicates(project, mode):
    """Without an insert_id every delivery is decided afresh (here: together already,
    so a noop that changes nothing and is not logged)."""
    h = project(mode)
    name, props = identity_event(mode, device=GUID)
    first = h.send(name, props)
    assert first.entry is not None
    again = h.send(name, props)
    assert again.outcome is Outcome.NOOP
    assert again.entry is None
    assert len(h.log) == 1


@pytest.mark.parametrize("mode", ALL_MODES)
def test_duplicate_of_refused_or_ignored_event_is_dropped(project, mode):
    """Idempotence covers every logged identity event, refused and ignored ones too."""
    h = project(mode)
    h.merge("A", "B", trusted=False, insert_id="m-1")
    assert len(h.log) == 1
    assert h.merge("A", "B", trusted=False, insert_id="m-1").entry is None
    assert len(h.log) == 1


@pytest.mark.parametrize("mode", ALL_MODES)
def test_replayed_engine_remembers_deliveries(project, mode):
    """Idempotence survives a rebuild: a replayed engine still drops the redelivery."""
    h = project(mode)
    name, props = identity_event(mode, device=GUID)
    h.send(name, props, insert_id="ins-1")
    h.engine = h.replayed()
    assert h.send(name, props, insert_id="ins-1").entry is None


@pytest.mark.parametrize("mode", ALL_MODES)
def test_non_identity_events_have_no_entry(project, mode):
    """``Step.entry`` is None for events with no identity meaning."""
    h = project(mode)
    assert h.track(distinct_id="someone", insert_id="x").entry is None
    assert h.track(distinct_id="someone", insert_id="x").entry is None
    assert h.log == []


# -- malformed identity events --------------------------------------------------------

ODD_VALUES = [None, "", " ", 0, -1.5, True, [], ["a"], ["a", "b", "c"], {}, {"a": "b"}, "x" * 300]
IDENTITY_KEYS = IDENTITY_PROPERTIES


@pytest.mark.parametrize("mode", ALL_MODES)
@pytest.mark.parametrize("name", ["$identify", "$create_alias", "$merge", "Login"])
def test_malformed_identity_events_never_raise(project, mode, name):
    """Malformed identity properties are answered with an outcome, never an exception."""
    h = project(mode)
    base = {"$user_id": "U1", "$device_id": "D1", "distinct_id": "X", "alias": "A"}
    base |= {"$identified_id": "U1", "$anon_id": GUID, "$distinct_ids": ["A", "B"]}
    for key in IDENTITY_KEYS:
        for value in ODD_VALUES:
            for trusted in (False, True):
                step = h.send(name, {**base, key: value}, trusted=trusted)
                assert isinstance(step.distinct_id, str)
                if step.entry is not None:
                    assert step.entry.outcome in set(Outcome)
                    if step.entry.outcome is Outcome.REFUSED:
                        assert step.entry.reason in set(Reason)
    h.split(detach="U1")
    h.engine = h.replayed()


@pytest.mark.parametrize("mode", ALL_MODES)
def test_properties_in_any_mapping_read_as_in_a_dict(mode):
    """The engine reads a dict fastest, yet an event's properties may be any mapping: a
    read-only one gives the very answers a dict does, and is not written to. (Only a
    compiled engine, as CI builds it, would fail on a mapping that is no dict: in plain
    Python one passed through as it is reads the same.)"""
    stream = [
        ("Page View", {"$device_id": "D1", "distinct_id": "$device:D1"}),
        ("$identify", {"distinct_id": "U1", "$identified_id": "U1", "$anon_id": GUID}),
        ("Sign Up", {"$device_id": "D1", "$user_id": "U1", "distinct_id": "U1"}),
        ("$create_alias", {"distinct_id": "U1", "alias": "A1"}),
        ("$merge", {"$distinct_ids": ["U1", "U2"]}),
        ("Page View", {"$device_id": GUID2, "$user_id": "null", "distinct_id": GUID2}),
    ]

    def run(wrap):
        engine = IdentityEngine(Policy.for_mode(mode))
        events = [
            Event(name, wrap(props), time=i, insert_id=f"i{i}", trusted=True)
            for i, (name, props) in enumerate(stream)
        ]
        return engine.apply_many(events, 0), sorted(engine.mapping())

    assert run(MappingProxyType) == run(dict)


@pytest.mark.parametrize("mode", [Mode.ORIGINAL, Mode.LEGACY, Mode.CDP])
def test_missing_alias_is_refused(project, mode):
    """A ``$create_alias`` without ``alias`` is refused (``missing_id``), written on the event."""
    h = project(mode)
    step = h.send("$create_alias", {"distinct_id": "X"})
    assert (step.entry.outcome, step.entry.reason) == (Outcome.REFUSED, Reason.MISSING_ID)
    assert step.annotations[FAILURE_PROPERTY[mode]] == "missing_id"


@pytest.mark.parametrize("mode", [Mode.ORIGINAL, Mode.LEGACY, Mode.CDP])
def test_empty_id_is_junk_and_absent_id_is_missing(project, mode):
    """An empty id is a junk id (errJunkId); only an absent or null id is ``missing_id``."""
    h = project(mode)
    assert h.alias("", "X").entry.reason is Reason.JUNK_ID
    assert h.alias("A", "").entry.reason is Reason.JUNK_ID
    assert h.alias(None, "X").entry.reason is Reason.MISSING_ID
    assert h.send("$create_alias", {"alias": "A"}).entry.reason is Reason.MISSING_ID
    assert list(h.engine.mapping()) == []


@pytest.mark.parametrize("mode", ALL_MODES)
def test_over_long_ids_are_refused(project, mode):
    """Ids over 255 characters are refused with ``invalid_id`` in every mode that links."""
    h = project(mode)
    for user, device in (("u" * 256, GUID), ("U1", "f" * 256)):
        name, props = identity_event(mode, user=user, device=device)
        step = h.send(name, props)
        assert (step.entry.outcome, step.entry.reason) == (Outcome.REFUSED, Reason.INVALID_ID)
    assert list(h.engine.mapping()) == []


# -- explain --------------------------------------------------------------------------


def test_explain_lists_links_with_their_causing_event(simplified):
    """Explain: every linked outcome with event name, insert_id, time and sequence number."""
    simplified.track(device="D1")
    simplified.send("Login", {"$user_id": "U1", "$device_id": "D1"}, insert_id="i-7", time=42)
    explanation = simplified.engine.explain("$device:D1")
    assert explanation.distinct_id == "$device:D1"
    assert explanation.resolved_distinct_id == "U1"
    assert explanation.cluster == ["U1", "$device:D1"]
    assert explanation.history == [
        LogEntry(2, Op.LINK, ("U1", "$device:D1"), Outcome.LINKED, None, "Login", "i-7", 42)
    ]


def test_explain_history_is_in_sequence_order(original):
    """Explain: the history is ordered by ingestion sequence, not by event time."""
    original.send("$merge", {"$distinct_ids": ["A", "B"]}, trusted=True, time=900)
    original.send("$merge", {"$distinct_ids": ["C", "D"]}, trusted=True, time=500)
    original.send("$merge", {"$distinct_ids": ["E", "F"]}, trusted=True, time=100)
    original.send("$merge", {"$distinct_ids": ["E", "C"]}, trusted=True, time=50)
    original.send("$merge", {"$distinct_ids": ["A", "E"]}, trusted=True, time=0)
    for member in "ABCDEF":
        history = original.engine.explain(member).history
        assert [e.seq for e in history] == [1, 2, 3, 4, 5]
        assert [e.time for e in history] == [900, 500, 100, 50, 0]


def test_explain_includes_refusals_and_leaves_out_noops(simplified):
    """Explain: refused and ignored events touching any cluster id are listed; noops are not."""
    simplified.track("U1", "D1")  # 1 linked
    simplified.track("U1", "D1")  # 2 noop
    simplified.track("U2", "D1")  # 3 refused, names $device:D1
    simplified.send("$identify", {"distinct_id": "U1"})  # 4 ignored, names U1
    simplified.track("U3", "D3")  # 5 another cluster
    simplified.track("U1", "null")  # 6 junk, names U1
    history = simplified.engine.explain("U1").history
    assert [(e.seq, e.outcome, e.reason) for e in history] == [
        (1, Outcome.LINKED, None),
        (3, Outcome.REFUSED, Reason.ANON_ASSIGNED_ALREADY),
        (4, Outcome.IGNORED, Reason.SIMPLIFIED_IGNORES_EVENT),
        (6, Outcome.REFUSED, Reason.JUNK_ID),
    ]
    assert [e.seq for e in simplified.engine.explain("U2").history] == [3]
    assert [e.seq for e in simplified.engine.explain("U3").history] == [5]


def test_explain_of_an_unknown_id(simplified):
    """Explain: a fresh id is a cluster of one, resolves to itself, and has no history."""
    explanation = simplified.engine.explain("nobody")
    assert explanation.cluster == ["nobody"]
    assert explanation.resolved_distinct_id == "nobody"
    assert explanation.history == []


@pytest.mark.parametrize("mode", ALL_MODES)
def test_explain_history_gathers_the_whole_cluster(project, mode):
    """Explain: the history of one id includes what joined every other id of its cluster."""
    h = project(mode)
    name, props = identity_event(mode, user="U1", device=GUID)
    h.send(name, props, insert_id="a")
    name, props = identity_event(mode, user="U1", device=GUID2)
    h.send(name, props, insert_id="b")
    for member in h.cluster("U1"):
        history = h.engine.explain(member).history
        assert [e.insert_id for e in history] == ["a", "b"]
        assert {e.outcome for e in history} <= {Outcome.LINKED, Outcome.MERGED}


@pytest.mark.parametrize("mode", ALL_MODES)
def test_explain_of_replay_equals_incremental(project, mode):
    """Explain: a replayed engine explains every id exactly as the incremental one did."""
    h = project(mode)
    scripted_stream(h)
    rebuilt = h.replayed()
    for x in every_id(h):
        assert rebuilt.explain(x) == h.engine.explain(x), x


# -- split ----------------------------------------------------------------------------


def test_split_by_insert_id(simplified):
    """Split by insert_id: a wrong link is undone and the device is a cluster of one again."""
    simplified.track("U1", "D1", insert_id="good")
    simplified.track("U1", "D2", insert_id="wrong")
    entry = simplified.split(insert_id="wrong")
    assert isinstance(entry, LogEntry)
    assert (entry.op, entry.outcome, entry.reason) == (Op.UNDO, Outcome.SPLIT, Reason.UNDO_EVENT)
    assert entry.undoes == (2,)
    assert entry.event == "$split"
    assert simplified.cluster("U1") == {"U1", "$device:D1"}
    assert simplified.cluster("$device:D2") == {"$device:D2"}


def test_split_by_sequence_number(original):
    """Split by sequence number: the named identity event is undone."""
    original.merge("A", "B")
    original.merge("C", "D")
    original.merge("A", "C")
    entry = original.split(event_seq=3)
    assert entry.undoes == (3,)
    assert original.cluster("A") == {"A", "B"}
    assert original.cluster("C") == {"C", "D"}


def test_split_is_recorded_in_explain(simplified):
    """The split itself is recorded in the explain history, and the undone event shows as undone."""
    simplified.track("U1", "D1", insert_id="wrong")
    simplified.split(insert_id="wrong")
    for member in ("U1", "$device:D1"):
        history = simplified.engine.explain(member).history
        assert [(e.seq, e.outcome) for e in history] == [(1, Outcome.UNDONE), (2, Outcome.SPLIT)]
        assert history[1].reason is Reason.UNDO_EVENT


def test_split_re_decides_later_events(simplified):
    """Split rebuilds without the event: a later pair refused because of it now links."""
    simplified.track("U1", "D1", insert_id="wrong")
    assert simplified.track("U2", "D1").entry.reason is Reason.ANON_ASSIGNED_ALREADY
    simplified.split(insert_id="wrong")
    assert simplified.resolve("$device:D1") == "U2"
    history = simplified.engine.explain("U2").history
    assert [(e.seq, e.outcome) for e in history] == [
        (1, Outcome.UNDONE),
        (2, Outcome.LINKED),
        (3, Outcome.SPLIT),
    ]


def test_detach_an_id(original):
    """Split by detach: every earlier event naming the id is undone; the rest stays."""
    original.identify("U1", GUID)
    original.identify("U1", GUID2)
    entry = original.split(detach=GUID)
    assert (entry.op, entry.ids, entry.outcome, entry.reason) == (
        Op.DETACH,
        (GUID,),
        Outcome.SPLIT,
        Reason.DETACH_ID,
    )
    assert original.cluster(GUID) == {GUID}
    assert original.cluster("U1") == {"U1", GUID2}
    assert (Outcome.SPLIT, Reason.DETACH_ID, "$split") in original.history(GUID)


def test_detached_id_may_link_again_later(original):
    """After a detach, later events naming the id take effect as usual."""
    original.identify("U1", GUID)
    original.split(detach=GUID)
    assert original.identify("U2", GUID).entry.outcome is Outcome.MERGED
    original.engine = original.replayed()
    assert original.cluster("U2") == {"U2", GUID}


@pytest.mark.parametrize("mode", ALL_MODES)
def test_split_equals_replay_without_the_event(project, mode):
    """Split of event E gives the clusters of a replay of the log that never had E."""
    h = project(mode)
    scripted_stream(h)
    for target in [e for e in h.log if e.op is not Op.NONE]:
        trial = project(mode)
        scripted_stream(trial)
        trial.split(event_seq=target.seq)
        without = IdentityEngine.replay(h.policy, [e for e in h.log if e.seq != target.seq])
        for x in every_id(h):
            assert trial.engine.cluster(x) == without.cluster(x), (target, x)


def test_legacy_split_stops_ingestion_time_resolution(legacy):
    """Split in legacy: once an alias is undone, events sent as the alias are stored as sent."""
    legacy.alias("U", "D1", insert_id="a")
    assert legacy.track(distinct_id="U").distinct_id == "D1"
    legacy.split(insert_id="a")
    assert legacy.track(distinct_id="U").distinct_id == "U"


def test_cdp_split_undoes_a_fold(cdp):
    """Split in cdp: undoing an alias separates the folded clusters again."""
    cdp.track("P", "A1")
    cdp.alias("U", "P", insert_id="a")
    cdp.split(insert_id="a")
    assert cdp.cluster("U") == {"U"}
    assert cdp.cluster("P") == {"P", "$device:A1"}


@pytest.mark.parametrize(
    ("target", "says"),
    [
        ({}, "name exactly one"),
        ({"insert_id": "a", "event_seq": 1}, "name exactly one"),
        ({"insert_id": "a", "detach": "U1"}, "name exactly one"),
        ({"insert_id": "nope"}, "no identity event"),
        ({"event_seq": 99}, "no identity event"),
        ({"event_seq": 2}, "no identity event"),  # a non-identity event
        ({"event_seq": 3}, "no identity event"),  # ignored: decided without state
        ({"detach": "lonely"}, "not linked to any other id"),
    ],
)
def test_split_refusals(simplified, target, says):
    """Split refuses, with a sentence, what it cannot split, and leaves the log alone."""
    simplified.track("U1", "D1", insert_id="a")
    simplified.track(distinct_id="x")
    simplified.send("$merge", {"$distinct_ids": ["U1", "x"]}, trusted=True)
    log = list(simplified.log)
    answer = simplified.split(**target)
    assert isinstance(answer, str)
    assert says in answer
    assert simplified.log == log
    assert simplified.cluster("U1") == {"U1", "$device:D1"}


def test_split_refuses_an_event_undone_already(simplified):
    """Split refuses to undo an identity event twice."""
    simplified.track("U1", "D1", insert_id="a")
    simplified.split(insert_id="a")
    answer = simplified.split(insert_id="a")
    assert isinstance(answer, str)
    assert "undone already" in answer
    again = split_entry(simplified.log, simplified.engine, seq=99, time=0, event_seq=1)
    assert isinstance(again, str)
    assert "undone already" in again


def test_split_cannot_target_a_split(simplified):
    """A split entry is not an identity event that can itself be split."""
    simplified.track("U1", "D1", insert_id="a")
    entry = simplified.split(insert_id="a")
    assert isinstance(simplified.split(event_seq=entry.seq), str)


# -- replay ---------------------------------------------------------------------------


def scripted_stream(h):
    """A stream exercising every outcome of ``h``'s mode."""
    mode = h.mode
    if mode in (Mode.SIMPLIFIED, Mode.CDP):
        h.track(device="D1")
        h.track("U1", "D1", insert_id="s1")
        h.track("U1", "D2", insert_id="s2")
        h.track("U2", "D1", insert_id="s3")
        h.track("U2", "D3", insert_id="s4")
        h.track("U1", "null", insert_id="s5")
        h.merge("U1", "U2", insert_id="s6")
        if mode is Mode.CDP:
            h.track("P")
            h.alias("U2", "P", insert_id="s7")
            h.alias("U1", "D3", insert_id="s8")
            h.alias("U1", "U2", insert_id="s9")
    elif mode is Mode.ORIGINAL:
        h.identify("U1", GUID, insert_id="s1")
        h.identify("U2", GUID, insert_id="s2")
        h.alias("A", "U2", insert_id="s3")
        h.alias("A", "U1", insert_id="s4")
        h.merge("U3", "U4", insert_id="s5")
        h.merge("U3", "U2", trusted=False, insert_id="s6")
        h.merge("U4", "A", insert_id="s7")
        h.identify("U5", GUID2, insert_id="s8")
        h.identify("U5", "bob", insert_id="s9")
    else:
        h.track(distinct_id="U")
        h.alias("U", "D1", insert_id="s1")
        h.alias("V", "U", insert_id="s2")
        h.alias("U", "D2", insert_id="s3")
        h.alias("D1", "X", insert_id="s4")
        h.identify("U", "D2", insert_id="s5")
        h.alias("W", "undefined", insert_id="s6")


def every_id(h):
    ids = set()
    for entry in h.log:
        ids.update(entry.ids)
    for step in h.steps:
        ids.add(step.distinct_id)
    return sorted(ids)


@pytest.mark.parametrize("mode", ALL_MODES)
def test_replay_equals_incremental(project, mode):
    """Replaying the same ingested stream gives the same clusters and resolved ids."""
    h = project(mode)
    scripted_stream(h)
    rebuilt = h.replayed()
    assert sorted(rebuilt.mapping()) == sorted(h.engine.mapping())
    for x in every_id(h):
        assert rebuilt.cluster(x) == h.engine.cluster(x)
        assert rebuilt.resolve(x) == h.engine.resolve(x)


@pytest.mark.parametrize("mode", ALL_MODES)
def test_replay_has_no_pending_changes(project, mode):
    """A replayed engine starts with nothing to drain: the caller takes ``mapping()`` whole."""
    h = project(mode)
    scripted_stream(h)
    assert list(h.replayed().drain_changes()) == []


@pytest.mark.parametrize("mode", ALL_MODES)
def test_rebuilding_after_every_event_changes_nothing(project, mode):
    """Rebuilding by replay (with the seen ids) after every event gives what one run gives."""
    whole = project(mode)
    scripted_stream(whole)
    stepwise = project(mode)
    send = stepwise.send

    def send_and_rebuild(*args, **kwargs):
        step = send(*args, **kwargs)
        stepwise.engine = stepwise.replayed()
        return step

    stepwise.send = send_and_rebuild
    scripted_stream(stepwise)
    assert stepwise.steps == whole.steps
    assert stepwise.log == whole.log
    for x in every_id(whole):
        assert stepwise.engine.cluster(x) == whole.engine.cluster(x)


def test_engine_runs_without_a_harness():
    """The public API alone: apply, resolve, cluster, replay."""
    policy = Policy.for_mode(Mode.SIMPLIFIED)
    engine = IdentityEngine(policy)
    step = engine.apply(Event("Login", {"$user_id": "U1", "$device_id": "D1"}, 5, "i"), 1)
    assert step.entry is not None
    rebuilt = IdentityEngine.replay(policy, [step.entry])
    assert rebuilt.cluster("$device:D1") == engine.cluster("$device:D1") == ["U1", "$device:D1"]


def test_the_ids_an_event_names_are_each_named_once() -> None:
    """The ids an ignored identity event is filed under, for explain: each once, even
    where ``$distinct_ids`` repeats one (compiled, a generator passed to ``extend``
    could not see the ids it had added, and logged ``('u2', 'u2')``)."""
    assert named_ids({"$distinct_ids": ["u2", "u2"]}, "") == ("u2",)
    props = {"$anon_id": "a", "alias": "u1", "$distinct_ids": ["u1", "b", "a", "b"]}
    assert named_ids(props, "u1") == ("u1", "a", "b")
    assert named_ids({"$device_id": "d", "$distinct_ids": ["$device:d"]}, "") == ("$device:d",)
