"""Mode ``original``: Mixpanel Original ID Merge (spec: identity.md, mixpanel.md §1.2, §8 12-21).

Mixpanel does not promise which member a cluster resolves to; these tests assert it
only where the project's Decision fixes it (the side naming the known user keeps its
resolved id), and otherwise only that all members resolve to one member.
"""

from __future__ import annotations

from itertools import permutations

import pytest

from idmerge.identity import Mode, Op, Outcome, Policy, Reason

D1 = "0b9a6a7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"
D2 = "1f2e3d4c-5b6a-4978-8695-a4b3c2d1e0f9"
D3 = "$device:2c9d2a4e-3b1f-4c5d-9e8f-7a6b5c4d3e2f"
D4 = "deadbeefdeadbeefdeadbeefdeadbeef"


def refused(step, reason):
    """The step refused its identity event for ``reason``."""
    return step.entry is not None and (step.entry.outcome, step.entry.reason) == (
        Outcome.REFUSED,
        reason,
    )


def merged(step):
    return step.entry is not None and step.entry.outcome is Outcome.MERGED


def one_user(h, *ids):
    """All ``ids`` form one cluster whose resolved id is one of its members."""
    cluster = h.cluster(ids[0])
    resolved = {h.resolve(x) for x in ids}
    return set(ids) <= cluster and len(resolved) == 1 and resolved <= cluster


# -- $identify ------------------------------------------------------------------------


def test_new_user_signup(original):
    """Scenario 12 (new user signup): ``$identify`` merges the anonymous id into U1's cluster."""
    before = original.track(distinct_id=D1)
    step = original.identify("U1", D1)
    after = original.track(distinct_id=D1)
    assert merged(step)
    assert step.entry.op is Op.IDENTIFY
    assert step.entry.ids == ("U1", D1)
    assert original.cluster("U1") == {"U1", D1}
    assert before.distinct_id == after.distinct_id == D1
    assert original.resolve(D1) == original.resolve("U1") in {"U1", D1}


def test_identify_sdk_form_means_the_same(original):
    """The SDK form (``distinct_id``, ``$anon_distinct_id``) means the same as the server form."""
    step = original.send("$identify", {"distinct_id": "U1", "$anon_distinct_id": D1})
    assert merged(step)
    assert step.entry.ids == ("U1", D1)
    assert step.distinct_id == "U1"
    assert original.cluster(D1) == {"U1", D1}


def test_server_form_anon_id_wins_over_the_sdk_form(original):
    """``$anon_id`` is read first; the SDK's ``$anon_distinct_id`` only when it is absent,
    so an explicit null ``$anon_id`` is a missing id, not a cue to read the other."""
    both = {"$identified_id": "U1", "$anon_id": D1, "$anon_distinct_id": D2}
    assert original.send("$identify", both).entry.ids == ("U1", D1)
    null = {"$identified_id": "U2", "$anon_id": None, "$anon_distinct_id": D3}
    step = original.send("$identify", null)
    assert (step.entry.outcome, step.entry.reason) == (Outcome.REFUSED, Reason.MISSING_ID)
    assert original.cluster(D3) == {D3}


def test_identify_without_distinct_id_is_stored_under_identified_id(original):
    """``distinct_id`` is optional on ``$identify``: it is inferred from ``$identified_id``."""
    assert original.identify("U1", D1).distinct_id == "U1"


def test_returning_user_on_a_new_device(original):
    """Scenario 13 (returning user): a second anonymous id joins U1's cluster."""
    original.identify("U1", D1)
    original.track(distinct_id=D2)
    assert merged(original.identify("U1", D2))
    assert original.cluster("U1") == {"U1", D1, D2}
    assert one_user(original, "U1", D1, D2)


def test_several_users_on_one_device_with_reset(original):
    """Example flow (several users, one device, reset): {D1, U1} and {D2, U2} stay separate."""
    original.identify("U1", D1)
    original.identify("U2", D2)
    assert original.cluster("U1") == {"U1", D1}
    assert original.cluster("U2") == {"U2", D2}


def test_shared_device_without_reset_does_not_merge_users(original):
    """The GUID check protects shared devices: identify(U2) carrying U1 as anon id is refused."""
    original.identify("U1", D1)
    step = original.identify("U2", "U1")
    assert refused(step, Reason.ANON_NOT_GUID)
    assert original.cluster("U2") == {"U2"}


def test_same_ids_are_refused(original):
    """$identify criterion 1: ``$anon_id == $identified_id`` gives ``errSameIDs``."""
    step = original.identify("X", "X")
    assert refused(step, Reason.SAME_IDS)
    assert original.cluster("X") == {"X"}


def test_same_ids_checked_before_guid_form(original):
    """Criterion order: a same-id pair that is also non-GUID reports errSameIDs first."""
    assert refused(original.identify("bob", "bob"), Reason.SAME_IDS)
    assert refused(original.identify(D1, D1), Reason.SAME_IDS)


def test_non_guid_anon_id_is_refused(original):
    """Scenario 15: a non-GUID ``$anon_id`` gives ``errAnonDistinctIdNonGUIDForm``, no merge."""
    step = original.identify("U1", "bob")
    assert refused(step, Reason.ANON_NOT_GUID)
    assert original.cluster("U1") == {"U1"}
    assert original.cluster("bob") == {"bob"}


@pytest.mark.parametrize(
    "anon",
    [
        "0b9a6a7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b",  # UUID v4
        "0B9A6A7E-1C2D-4E5F-8A9B-0C1D2E3F4A5B",  # upper case
        "0b9a6a7e-1c2d-1e5f-8a9b-0c1d2e3f4a5b",  # UUID v1: every version counts
        "0b9a6a7e-1c2d-7e5f-8a9b-0c1d2e3f4a5b",  # UUID v7
        "deadbeefdeadbeefdeadbeefdeadbeef",  # 32 hex digits
        "DEADBEEFdeadbeefDEADBEEFdeadbeef",  # 32 hex digits, mixed case
        "18a0c8a8c3e1d4-0b0c4d8e9c1f5a-26021051-1fa400-18a0c8a8c3e1d4",  # old Mixpanel JS
        "a-b-c-d-e",  # five groups of hex digits of any length
        "$device:0b9a6a7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b",  # $device: prefix
        "$device:deadbeefdeadbeefdeadbeefdeadbeef",
        "$device:0B9A6A7E-1C2D-4E5F-8A9B-0C1D2E3F4A5B",
    ],
)
def test_guid_shaped_anon_ids_are_accepted(original, anon):
    """GUID rule (Decision): optional ``$device:``, then 32 hex or 5 hex groups, any case."""
    assert merged(original.identify("U1", anon))


@pytest.mark.parametrize(
    "anon",
    [
        "bob",
        "bob@example.com",
        "deadbeefdeadbeefdeadbeefdeadbee",  # 31 hex digits
        "deadbeefdeadbeefdeadbeefdeadbeef0",  # 33 hex digits
        "0b9a6a7e-1c2d-4e5f-8a9b",  # four groups
        "0b9a6a7e-1c2d-4e5f-8a9b-0c1d-2e3f4a5b",  # six groups
        "0b9a6a7e-1c2d-4e5f-8a9b-0c1d2e3f4a5g",  # not hex
        "0b9a6a7e-1c2d--4e5f-8a9b0c1d2e3f4a5b",  # an empty group
        "{0b9a6a7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b}",  # braces
        " 0b9a6a7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b",  # padded
        "$device:bob",
        "device:deadbeefdeadbeefdeadbeefdeadbeef",
        "deadbeef deadbeef deadbeef deadbeef",
        "+6512345678",
    ],
)
def test_non_guid_anon_ids_are_refused(original, anon):
    """GUID rule (Decision): anything else is ``errAnonDistinctIdNonGUIDForm``."""
    assert refused(original.identify("U1", anon), Reason.ANON_NOT_GUID)


def test_identified_id_need_not_be_a_guid_shape(original):
    """Only ``$anon_id`` must be GUID-shaped; the identified side may be any id."""
    assert merged(original.identify("bob@example.com", D1))


def test_anon_already_assigned_is_refused(original):
    """Scenario 16: an anon id already merged with an identified id is refused; U2 stays apart."""
    original.identify("U1", D1)
    step = original.identify("U2", D1)
    assert refused(step, Reason.ANON_ASSIGNED_ALREADY)
    assert original.cluster("U2") == {"U2"}
    assert original.cluster("U1") == {"U1", D1}


def test_assigned_already_follows_the_whole_cluster(original):
    """Criterion 3 looks at the anon id's cluster: any member used as $identified_id counts."""
    original.identify("U1", D1)
    original.alias(D2, "U1")  # D2 joins U1's (identified) cluster without being identified
    assert refused(original.identify("U2", D2), Reason.ANON_ASSIGNED_ALREADY)


def test_anon_in_an_unidentified_cluster_may_be_identified(original):
    """Criterion 3 needs an id used as $identified_id: an alias-only cluster is not one."""
    original.alias(D2, "X")
    assert merged(original.identify("U1", D2))
    assert original.cluster("U1") == {"U1", "X", D2}


def test_identified_flag_survives_merge_of_clusters(original):
    """A cluster built by $merge from an identified cluster still counts as identified."""
    original.identify("U1", D1)
    original.merge(D2, "U1")
    assert refused(original.identify("U2", D2), Reason.ANON_ASSIGNED_ALREADY)


def test_repeated_identify_is_a_noop(original):
    """Decision: re-sending a link already made is ``noop``, not a failure."""
    original.identify("U1", D1)
    step = original.identify("U1", D1)
    assert step.outcome is Outcome.NOOP
    assert "$failure_reason" not in step.annotations


def test_noop_identify_marks_the_cluster_identified(original):
    """Decision: a ``noop`` $identify still marks the cluster as identified."""
    original.alias(D1, "U1")  # {U1, D1}, nobody identified yet
    assert original.identify("U1", D1).outcome is Outcome.NOOP
    assert refused(original.identify("U2", D1), Reason.ANON_ASSIGNED_ALREADY)


def test_non_guid_checked_before_assigned_already(original):
    """Criterion order: a non-GUID anon in an identified cluster reports NonGUIDForm."""
    original.identify("U1", D1)
    original.alias("bob", "U1")
    assert refused(original.identify("U2", "bob"), Reason.ANON_NOT_GUID)


def test_same_ids_and_guid_checked_before_noop(original):
    """Decision: ``noop`` is checked after the first two criteria."""
    original.identify("U1", D1)
    original.alias("bob", "U1")
    assert refused(original.identify("U1", "bob"), Reason.ANON_NOT_GUID)


def test_identify_size_limit(project):
    """Criterion 4: an $identify growing a cluster past the limit gives ``errManyIDs``."""
    h = project(Mode.ORIGINAL, max_cluster_ids=3)
    assert merged(h.identify("U1", D1))
    assert merged(h.identify("U1", D2))
    step = h.identify("U1", D4)
    assert refused(step, Reason.MANY_IDS)
    assert h.cluster(D4) == {D4}
    assert h.cluster("U1") == {"U1", D1, D2}


def test_assigned_already_checked_before_size(project):
    """Criterion order: assigned-already is reported before the size limit."""
    h = project(Mode.ORIGINAL, max_cluster_ids=2)
    h.identify("U1", D1)
    assert refused(h.identify("U2", D1), Reason.ANON_ASSIGNED_ALREADY)


@pytest.mark.parametrize(
    "props",
    [
        {"$identified_id": "U1"},
        {"$anon_id": D1},
        {"$identified_id": "U1", "$anon_id": None},
        {"distinct_id": "U1"},
        {},
    ],
)
def test_identify_missing_an_id_is_refused(original, props):
    """A ``$identify`` lacking one of its ids is refused with ``missing_id`` and never raises."""
    step = original.send("$identify", props)
    assert refused(step, Reason.MISSING_ID)
    assert step.annotations["$failure_reason"] == "missing_id"
    assert list(original.engine.mapping()) == []


@pytest.mark.parametrize("bad", [7, 2.5, True, [D1], {"id": D1}, "f" * 256])
def test_identify_invalid_ids_are_refused(original, bad):
    """Non-string ids and ids over 255 characters are refused with ``invalid_id``."""
    assert refused(original.identify("U1", bad), Reason.INVALID_ID)
    assert refused(original.identify(bad, D1), Reason.INVALID_ID)
    assert list(original.engine.mapping()) == []


# -- $create_alias --------------------------------------------------------------------


def test_alias_merges_and_cannot_be_reused(original):
    """Scenario 17: alias A onto X merges {X, A}; A onto Y then fails errAliasAlreadyExists."""
    first = original.alias("A", "X")
    assert merged(first)
    assert first.entry.op is Op.ALIAS
    assert first.entry.ids == ("X", "A")
    assert first.distinct_id == "X"
    second = original.alias("A", "Y")
    assert refused(second, Reason.ALIAS_ALREADY_EXISTS)
    assert original.cluster("X") == {"X", "A"}
    assert original.cluster("Y") == {"Y"}


def test_alias_chains(original):
    """Scenario 18 (alias chains): alias(new, existing) then alias(newer, new) is one cluster."""
    assert merged(original.alias("new", "existing"))
    assert merged(original.alias("newer", "new"))
    assert merged(original.alias("a2", "existing"))
    assert original.cluster("newer") == {"existing", "new", "newer", "a2"}
    assert one_user(original, "existing", "new", "newer", "a2")


def test_alias_chain_from_the_spec(original):
    """alias(b, a) then alias(c, b) gives {a, b, c}."""
    original.alias("b", "a")
    original.alias("c", "b")
    assert original.cluster("a") == {"a", "b", "c"}


def test_many_aliases_may_point_at_one_id(original):
    """Many aliases may point at one id."""
    for i in range(10):
        assert merged(original.alias(f"a{i}", "X"))
    assert len(original.cluster("X")) == 11


def test_alias_joins_two_identified_ids(original):
    """Both sides of ``$create_alias`` may be identified ids (no GUID or identified check)."""
    original.identify("U1", D1)
    original.identify("U2", D2)
    assert merged(original.alias("U2", "U1"))
    assert original.cluster("U1") == {"U1", "U2", D1, D2}


def test_alias_already_exists_even_after_chain(original):
    """An id used once as an alias can never be an alias again, even onto a chained id."""
    original.alias("A", "X")
    original.alias("B", "A")
    assert refused(original.alias("A", "Z"), Reason.ALIAS_ALREADY_EXISTS)
    assert refused(original.alias("B", "Z"), Reason.ALIAS_ALREADY_EXISTS)
    assert original.cluster("Z") == {"Z"}


def test_realias_within_one_cluster_is_a_noop(original):
    """Decision: aliasing ids already together is ``noop``, not a failure."""
    original.alias("A", "X")
    assert original.alias("A", "X").outcome is Outcome.NOOP


def test_noop_alias_spends_the_alias(original):
    """Decision: a ``noop`` $create_alias still marks its alias as used."""
    original.identify("X", D1)
    assert original.alias(D1, "X").outcome is Outcome.NOOP
    assert refused(original.alias(D1, "Y"), Reason.ALIAS_ALREADY_EXISTS)


def test_refused_alias_does_not_spend_the_alias(project):
    """Only an alias that was recorded is spent: a size-refused alias may be retried elsewhere."""
    h = project(Mode.ORIGINAL, max_cluster_ids=2)
    h.alias("A", "X")
    assert refused(h.alias("B", "X"), Reason.MANY_IDS)
    assert merged(h.alias("B", "Y"))


def test_alias_size_limit(project):
    """$create_alias criterion 2: growing a cluster past the limit gives ``errManyIDs``."""
    h = project(Mode.ORIGINAL, max_cluster_ids=3)
    h.alias("a1", "X")
    h.alias("a2", "X")
    assert refused(h.alias("a3", "X"), Reason.MANY_IDS)
    assert h.cluster("a3") == {"a3"}


def test_alias_exists_checked_before_size(project):
    """$create_alias criteria order: errAliasAlreadyExists is reported before errManyIDs."""
    h = project(Mode.ORIGINAL, max_cluster_ids=2)
    h.alias("A", "X")
    h.alias("b", "Y")
    assert refused(h.alias("A", "Y"), Reason.ALIAS_ALREADY_EXISTS)


@pytest.mark.parametrize(
    "props", [{"distinct_id": "X"}, {"alias": "A"}, {"alias": None, "distinct_id": "X"}, {}]
)
def test_alias_missing_an_id_is_refused(original, props):
    """A ``$create_alias`` lacking ``alias`` or ``distinct_id`` is refused with ``missing_id``."""
    assert refused(original.send("$create_alias", props), Reason.MISSING_ID)


@pytest.mark.parametrize("bad", [3, 0.0, False, ["A"], {"a": 1}, "a" * 256])
def test_alias_invalid_ids_are_refused(original, bad):
    """Non-string or over-long alias ids are refused with ``invalid_id``, never raising."""
    assert refused(original.alias(bad, "X"), Reason.INVALID_ID)
    assert refused(original.alias("A", bad), Reason.INVALID_ID)
    assert list(original.engine.mapping()) == []


# -- $merge ---------------------------------------------------------------------------


def test_merge_through_import(original):
    """Scenario 19: a trusted ``$merge`` joins any two clusters."""
    step = original.merge("U1", "U2", trusted=True)
    assert merged(step)
    assert step.entry.op is Op.MERGE
    assert step.entry.ids == ("U1", "U2")
    assert original.cluster("U1") == {"U1", "U2"}


def test_merge_requires_import(original):
    """Scenario 19: ``$merge`` not sent through /import is refused with merge_requires_import."""
    step = original.merge("U1", "U2", trusted=False)
    assert refused(step, Reason.MERGE_REQUIRES_IMPORT)
    assert step.annotations["$failure_reason"] == "merge_requires_import"
    assert original.cluster("U1") == {"U1"}


def test_merge_requires_import_is_explained(original):
    """Explain shows the refused untrusted ``$merge`` on both ids it named."""
    original.merge("U1", "U2", trusted=False, insert_id="m-1")
    expected = [(Outcome.REFUSED, Reason.MERGE_REQUIRES_IMPORT, "$merge")]
    assert original.history("U1") == original.history("U2") == expected


def test_merge_requires_import_before_shape(original):
    """An untrusted ``$merge`` is refused for its path before its payload is examined."""
    assert refused(original.merge("a", "b", "c", trusted=False), Reason.MERGE_REQUIRES_IMPORT)


def test_merge_joins_two_identified_clusters(original):
    """``$merge`` has only the size criterion: two identified users can merge."""
    original.identify("U1", D1)
    original.identify("U2", D2)
    assert merged(original.merge(D1, D2))
    assert original.cluster("U1") == {"U1", "U2", D1, D2}


def test_merge_ignores_guid_and_alias_rules(original):
    """``$merge`` merges non-GUID ids and ids already used as aliases."""
    original.alias("A", "X")
    assert merged(original.merge("A", "bob"))
    assert original.cluster("X") == {"X", "A", "bob"}


@pytest.mark.parametrize("order", list(permutations([("B", "C"), ("C", "D"), ("A", "C")])))
def test_merge_order_independence(project, order):
    """Scenario 20: merges (B,C), (C,D), (A,C) in every order give one user {A, B, C, D}."""
    h = project(Mode.ORIGINAL)
    for pair in order:
        assert merged(h.merge(*pair))
    assert h.cluster("A") == {"A", "B", "C", "D"}
    assert one_user(h, "A", "B", "C", "D")


def test_merge_of_ids_already_together_is_a_noop(original):
    """A ``$merge`` of two ids of one cluster is ``noop``."""
    original.merge("A", "B")
    assert original.merge("B", "A").outcome is Outcome.NOOP
    assert original.merge("A", "A").outcome is Outcome.NOOP


def test_merge_size_limit(project):
    """``$merge``'s only criterion: the merged cluster within the limit, else errManyIDs."""
    h = project(Mode.ORIGINAL, max_cluster_ids=3)
    h.merge("A", "B")
    h.merge("C", "D")
    assert refused(h.merge("A", "C"), Reason.MANY_IDS)
    assert h.cluster("A") == {"A", "B"}
    assert h.cluster("C") == {"C", "D"}


@pytest.mark.parametrize(
    ("ids", "reason"),
    [
        (["A"], Reason.MERGE_NEEDS_TWO_IDS),
        (["A", "B", "C"], Reason.MERGE_NEEDS_TWO_IDS),
        ([], Reason.MERGE_NEEDS_TWO_IDS),
        ("AB", Reason.MERGE_NEEDS_TWO_IDS),
        ({"A": 1, "B": 2}, Reason.MERGE_NEEDS_TWO_IDS),
        (None, Reason.MERGE_NEEDS_TWO_IDS),
        (["A", None], Reason.MISSING_ID),
        (["A", 2], Reason.INVALID_ID),
        ([["A"], "B"], Reason.INVALID_ID),
        (["A", "b" * 256], Reason.INVALID_ID),
    ],
)
def test_merge_needs_exactly_two_string_ids(original, ids, reason):
    """``$distinct_ids`` must be exactly two valid string ids; otherwise refused, never raising."""
    step = original.send("$merge", {"$distinct_ids": ids}, trusted=True)
    assert refused(step, reason)
    assert list(original.engine.mapping()) == []


def test_merge_accepts_a_tuple_of_two(original):
    """Two ids given as a tuple (any sequence) are a valid ``$distinct_ids``."""
    assert merged(original.send("$merge", {"$distinct_ids": ("A", "B")}, trusted=True))


def test_merge_missing_distinct_ids(original):
    """A ``$merge`` with no ``$distinct_ids`` at all is refused, not raised."""
    assert refused(original.send("$merge", {}, trusted=True), Reason.MERGE_NEEDS_TWO_IDS)


# -- size limit boundary --------------------------------------------------------------


def test_default_size_limit_is_500():
    """Decision: a cluster may hold at most 500 ids by default in original."""
    assert Policy.for_mode(Mode.ORIGINAL).max_cluster_ids == 500


def test_merge_reaching_exactly_500_is_fine_and_501_is_refused(original):
    """Size limit boundary: reaching exactly 500 ids merges, 501 gives errManyIDs."""
    for i in range(498):
        assert merged(original.alias(f"a{i}", "U"))
    assert len(original.cluster("U")) == 499
    assert merged(original.alias("a498", "U"))
    assert len(original.cluster("U")) == 500
    step = original.alias("a499", "U")
    assert refused(step, Reason.MANY_IDS)
    assert step.annotations["$failure_reason"] == "errManyIDs"
    assert original.cluster("a499") == {"a499"}
    assert len(original.cluster("U")) == 500


@pytest.mark.parametrize("kind", ["identify", "alias", "merge"])
def test_configurable_limit_boundary_for_every_event(project, kind):
    """Configurable limit: two clusters summing to exactly the limit merge, one more is refused."""
    h = project(Mode.ORIGINAL, max_cluster_ids=4)
    h.merge("U", "u2")
    h.merge("U", "u3")  # {U, u2, u3}
    join = {
        "identify": lambda anon: h.identify("U", anon),
        "alias": lambda anon: h.alias(anon, "U"),
        "merge": lambda anon: h.merge("U", anon),
    }[kind]
    assert merged(join(D1))
    assert len(h.cluster("U")) == 4
    assert refused(join(D2), Reason.MANY_IDS)
    assert h.cluster(D2) == {D2}


def test_limit_counts_both_sides(project):
    """The limit applies to the merged cluster: 2 + 2 ids within 4 merge, 2 + 4 do not."""
    h = project(Mode.ORIGINAL, max_cluster_ids=4)
    h.merge("A", "B")
    h.merge("C", "D")
    assert merged(h.merge("A", "C"))
    h.merge("E", "F")
    assert refused(h.merge("E", "A"), Reason.MANY_IDS)


# -- resolved id ----------------------------------------------------------------------


def test_identify_keeps_resolved_id_of_identified_side(original):
    """Decision: after $identify the cluster resolves to the $identified_id side's resolved id."""
    original.identify("U1", D1)
    assert original.resolve(D1) == "U1"
    assert original.engine.cluster(D1)[0] == "U1"


def test_identify_keeps_identified_side_even_when_anon_side_is_larger(original):
    """Decision: the identified side keeps its resolved id whatever the sizes of the sides."""
    for i in range(5):
        original.alias(f"x{i}", D1)  # D1's cluster: 6 ids, resolves to D1
    original.identify("U1", D1)
    assert {original.resolve(x) for x in original.cluster("U1")} == {"U1"}


def test_alias_keeps_resolved_id_of_distinct_id_side(original):
    """Decision: after $create_alias the cluster resolves as ``distinct_id``'s side did."""
    original.identify("U1", D1)
    original.alias("A", D1)
    assert original.resolve("A") == "U1"


def test_merge_keeps_resolved_id_of_first_id(original):
    """Decision: a $merge keeps the resolved id of the first of ``$distinct_ids``, small or not."""
    original.identify("U1", D1)
    original.identify("U1", D2)
    original.merge("V", D1)
    assert {original.resolve(x) for x in ("U1", D1, D2, "V")} == {"V"}
    original.identify("W", D4)
    original.merge(D4, "U1")
    assert {original.resolve(x) for x in ("U1", D1, D2, "V", "W", D4)} == {"W"}


def test_merge_resolution_change_is_reported(original):
    """When the resolved id of a cluster changes, every member is reported by drain_changes."""
    original.alias("a", "X")
    original.engine.drain_changes()
    original.merge("V", "X")
    changes = original.engine.drain_changes()
    assert {x: r for x, r in changes if x != r} == {"X": "V", "a": "V"}
    assert dict(original.engine.mapping()) == {"X": "V", "a": "V"}


def test_an_id_changed_twice_before_a_drain_is_drained_once(original):
    """``a`` joins X's cluster, then V's cluster absorbs it: one row for ``a``, with its
    resolution now, in the order the ids first changed (V's own row, a self-map,
    deletes any row V had)."""
    original.engine.drain_changes()
    original.alias("a", "X")
    original.merge("V", "X")
    changes = original.engine.drain_changes()
    assert list(changes) == [("a", "V"), ("V", "V"), ("X", "V")]


# -- what the other events do ---------------------------------------------------------


def test_other_events_are_stored_under_distinct_id_as_sent(original):
    """Every non-identity event is attributed to its ``distinct_id`` as sent."""
    step = original.track("U1", "D1", distinct_id="someone")
    assert step.distinct_id == "someone"
    assert step.entry is None
    assert dict(step.annotations) == {}


def test_device_and_user_properties_have_no_meaning(original):
    """``$device_id``/``$user_id`` are plain properties in original: nothing links."""
    original.track("U1", D1, distinct_id=D1)
    assert original.cluster("U1") == {"U1"}
    assert original.cluster("$device:" + D1) == {"$device:" + D1}


def test_merge_is_retroactive(original):
    """Retroactive: events stored under D1 before the merge resolve with the cluster after it."""
    before = original.track(distinct_id=D1)
    original.identify("U1", D1)
    assert before.distinct_id == D1
    assert original.resolve(before.distinct_id) == original.resolve("U1")


def test_failure_reason_and_description_are_written(original):
    """Refusals write ``$failure_reason`` and ``$failure_description`` on the stored event."""
    step = original.identify("U1", "bob")
    assert dict(step.annotations) == {
        "$failure_reason": "errAnonDistinctIdNonGUIDForm",
        "$failure_description": Reason.ANON_NOT_GUID.description,
    }
    assert "GUID" in step.annotations["$failure_description"]
    assert "$identity_failure_reason" not in step.annotations


def test_every_reason_has_plain_words():
    """Every reason code has a plain-words description for ``$failure_description``."""
    for reason in Reason:
        assert reason.description.strip()


def test_success_writes_no_failure_properties(original):
    """A merge writes no failure property on the stored identity event."""
    assert dict(original.identify("U1", D1).annotations) == {}
    assert dict(original.alias("A", "U1").annotations) == {}
    assert dict(original.merge("A", "B").annotations) == {}


def test_refused_events_are_stored_under_their_distinct_id(original):
    """A refused identity event is still stored, under the id it carried."""
    assert original.send("$create_alias", {"distinct_id": "X"}).distinct_id == "X"
    assert original.merge("A", "B", trusted=False).distinct_id == "A"
    assert original.identify("U1", "bob").distinct_id == "U1"
