"""Mode ``simplified``: Mixpanel Simplified ID Merge.

Spec: identity.md; sources: mixpanel.md §1.1 and acceptance scenarios 1-11.
"""

from __future__ import annotations

import pytest

from idmerge.identity import Mode, Op, Outcome, Policy, Reason

FAILURE = "$identity_failure_reason"


# -- deriving the stored distinct_id --------------------------------------------------


def test_user_id_overrides_any_distinct_id_sent(simplified):
    """Rule 1: ``$user_id`` present sets the stored distinct_id, whatever distinct_id said."""
    step = simplified.track("charlie", "anonymous111", distinct_id="something-else")
    assert step.distinct_id == "charlie"


def test_user_id_alone_is_stored_under_the_user_id(simplified):
    """Rule 1: ``$user_id`` without ``$device_id`` is stored under it and links nothing."""
    step = simplified.track("charlie", distinct_id="something-else")
    assert step.distinct_id == "charlie"
    assert step.entry is None


def test_device_id_alone_is_stored_with_the_device_prefix(simplified):
    """Rule 2: only ``$device_id`` D gives ``distinct_id = "$device:" + D``."""
    step = simplified.track(device="anonymous111", distinct_id="something-else")
    assert step.distinct_id == "$device:anonymous111"
    assert step.entry is None
    assert dict(step.annotations) == {}


def test_plain_distinct_id_sets_user_id(simplified):
    """Rule 3: only a plain distinct_id is kept and written back as ``$user_id``."""
    step = simplified.track(distinct_id="charlie")
    assert step.distinct_id == "charlie"
    assert dict(step.annotations) == {"$user_id": "charlie"}
    assert step.entry is None


def test_device_prefixed_distinct_id_sets_device_id(simplified):
    """Rule 3: only ``distinct_id = "$device:X"`` is kept and written back as ``$device_id = X``."""
    step = simplified.track(distinct_id="$device:anonymous111")
    assert step.distinct_id == "$device:anonymous111"
    assert dict(step.annotations) == {"$device_id": "anonymous111"}
    assert step.entry is None


def test_rule_three_event_links_nothing(simplified):
    """Rule 3 writes properties back but a lone distinct_id never links ids."""
    simplified.track(distinct_id="$device:anonymous111")
    simplified.track(distinct_id="charlie")
    assert simplified.cluster("charlie") == {"charlie"}
    assert simplified.cluster("$device:anonymous111") == {"$device:anonymous111"}
    assert simplified.log == []


def test_rules_one_and_two_write_no_annotations(simplified):
    """Rules 1 and 2 need no property written back onto the stored event."""
    assert dict(simplified.track("U1").annotations) == {}
    assert dict(simplified.track(device="D1").annotations) == {}
    assert dict(simplified.track("U1", "D1").annotations) == {}


# -- linking -------------------------------------------------------------------------


def test_first_event_with_both_ids_links_device_into_user_cluster(simplified):
    """Linking: the first ``$device_id`` D + ``$user_id`` U event links ``$device:D`` (linked)."""
    step = simplified.track("U1", "D1")
    assert step.distinct_id == "U1"
    assert step.entry is not None
    assert step.entry.op is Op.LINK
    assert step.entry.outcome is Outcome.LINKED
    assert step.entry.reason is None
    assert step.entry.ids == ("U1", "$device:D1")
    assert simplified.cluster("U1") == {"U1", "$device:D1"}


def test_cluster_stores_device_ids_with_prefix(simplified):
    """Inside a cluster every device id carries the ``$device:`` prefix, never the bare id."""
    simplified.track("charlie", "anonymous111")
    simplified.track("charlie", "anonymous222")
    assert simplified.engine.cluster("charlie") == [
        "charlie",
        "$device:anonymous111",
        "$device:anonymous222",
    ]
    assert simplified.resolve("anonymous111") == "anonymous111"


def test_new_user_signup(simplified):
    """Flow A / scenario 1 (new user signup): anonymous events become U1's, retroactively."""
    e1 = simplified.track(device="D1")
    e2 = simplified.track(device="D1")
    e3 = simplified.track("U1", "D1")
    assert [e1.distinct_id, e2.distinct_id, e3.distinct_id] == ["$device:D1", "$device:D1", "U1"]
    # Events keep the id they were stored with; reading resolves them to U1.
    assert {simplified.resolve(s.distinct_id) for s in (e1, e2, e3)} == {"U1"}
    assert simplified.cluster("U1") == {"U1", "$device:D1"}


def test_returning_user_on_a_new_device(simplified):
    """Example flow B / scenario 2 (returning user on a new device): D2 joins U1's cluster."""
    steps = [simplified.track(device="D1"), simplified.track(device="D1")]
    steps.append(simplified.track("U1", "D1"))
    steps += [simplified.track(device="D2"), simplified.track(device="D2")]
    steps.append(simplified.track("U1", "D2"))
    assert [s.distinct_id for s in steps[3:5]] == ["$device:D2", "$device:D2"]
    assert {simplified.resolve(s.distinct_id) for s in steps} == {"U1"}
    assert simplified.cluster("U1") == {"U1", "$device:D1", "$device:D2"}


def test_several_users_on_one_device_with_reset(simplified):
    """Example flow C / scenario 3 (several users, one device, reset): two separate clusters."""
    first = [simplified.track(device="D1"), simplified.track("U1", "D1")]
    second = [simplified.track(device="D2"), simplified.track(device="D2")]
    second.append(simplified.track("U2", "D2"))
    assert {simplified.resolve(s.distinct_id) for s in first} == {"U1"}
    assert {simplified.resolve(s.distinct_id) for s in second} == {"U2"}
    assert simplified.cluster("U1") == {"U1", "$device:D1"}
    assert simplified.cluster("U2") == {"U2", "$device:D2"}


def test_server_side_example_two_devices_one_user(simplified):
    """Example flow D (charlie, anonymous111/222): the device ids join one cluster."""
    assert simplified.track(device="anonymous111").distinct_id == "$device:anonymous111"
    assert simplified.track("charlie", "anonymous111").distinct_id == "charlie"
    simplified.track("charlie", "anonymous222")
    assert simplified.cluster("charlie") == {
        "charlie",
        "$device:anonymous111",
        "$device:anonymous222",
    }


def test_server_side_example_other_user_takes_a_fresh_device(simplified):
    """Example flow D: a different user (taylor) signing in on anonymous222 gets that device."""
    simplified.track("charlie", "anonymous111")
    simplified.track("taylor", "anonymous222")
    assert simplified.resolve("$device:anonymous222") == "taylor"
    assert simplified.cluster("charlie") == {"charlie", "$device:anonymous111"}


def test_device_assigned_already_is_refused_and_attributed_to_the_new_user(simplified):
    """Scenario 4: a device linked to U1, paired with U2: errAnonDistinctIdAssignedAlready."""
    simplified.track("U1", "D1")
    step = simplified.track("U2", "D1")
    assert step.distinct_id == "U2"
    assert step.annotations[FAILURE] == "errAnonDistinctIdAssignedAlready"
    assert step.entry is not None
    assert step.entry.outcome is Outcome.REFUSED
    assert step.entry.reason is Reason.ANON_ASSIGNED_ALREADY
    assert simplified.cluster("U1") == {"U1", "$device:D1"}
    assert simplified.cluster("U2") == {"U2"}
    assert simplified.resolve(simplified.track(device="D1").distinct_id) == "U1"


def test_device_link_is_for_ever(simplified):
    """A device links to at most one user for ever: every later conflicting pair is refused."""
    simplified.track("U1", "D1")
    for other in ("U2", "U3", "U2"):
        assert simplified.track(other, "D1").entry.reason is Reason.ANON_ASSIGNED_ALREADY
    assert simplified.resolve("$device:D1") == "U1"


def test_repeating_an_existing_link_is_a_noop(simplified):
    """An event re-pairing a device with its own user is ``noop``, not a failure."""
    simplified.track("U1", "D1")
    step = simplified.track("U1", "D1")
    assert step.outcome is Outcome.NOOP
    assert step.entry is None  # nothing changed, so nothing is logged
    assert FAILURE not in step.annotations


def test_charlie_and_the_phone_number(simplified):
    """Scenario 5 (``+6512345678``/charlie): a device id reused as ``$user_id`` is a new user."""
    simplified.track("charlie", "+6512345678")
    assert simplified.cluster("charlie") == {"charlie", "$device:+6512345678"}
    step = simplified.track("+6512345678")
    assert step.distinct_id == "+6512345678"
    assert simplified.resolve("+6512345678") == "+6512345678"
    assert simplified.cluster("+6512345678") == {"+6512345678"}
    assert simplified.resolve("$device:+6512345678") == "charlie"


def test_six_hundred_devices_on_one_user(simplified):
    """Scenario 8 (600 devices on one user): simplified has no cluster-size limit."""
    outcomes = {simplified.track("U1", f"D{i}").entry.outcome for i in range(600)}
    assert outcomes == {Outcome.LINKED}
    assert len(simplified.cluster("U1")) == 601


def test_size_limit_setting_does_not_apply(project):
    """No size limit in simplified, even when a limit is configured for the project."""
    h = project(Mode.SIMPLIFIED, max_cluster_ids=2)
    outcomes = [h.track("U1", f"D{i}").entry.outcome for i in range(5)]
    assert outcomes == [Outcome.LINKED] * 5


def test_two_user_ids_never_merge(simplified):
    """Two ``$user_id``s never merge, whatever distinct_id or device the events carry."""
    simplified.track("U1", "D1")
    simplified.track("U2", "D2")
    simplified.track("U2", "D1")
    simplified.track("U1", "D2")
    simplified.track("U1", distinct_id="U2")
    simplified.track("U2", distinct_id="$device:D1")
    assert simplified.cluster("U1") == {"U1", "$device:D1"}
    assert simplified.cluster("U2") == {"U2", "$device:D2"}


def test_resolved_id_is_always_the_user_id(simplified):
    """The resolved id of a cluster is its ``$user_id``, from any member, listed first."""
    for i in range(5):
        simplified.track("U1", f"D{i}")
    for i in range(5):
        assert simplified.resolve(f"$device:D{i}") == "U1"
        assert simplified.engine.cluster(f"$device:D{i}")[0] == "U1"
        assert simplified.engine.explain(f"$device:D{i}").resolved_distinct_id == "U1"


def test_merge_is_retroactive_for_events_stored_before_it(simplified):
    """Retroactive: events stored as ``$device:D`` before the link resolve to U afterwards."""
    before = simplified.track(device="D1")
    assert simplified.resolve(before.distinct_id) == "$device:D1"
    simplified.track("U1", "D1")
    assert before.distinct_id == "$device:D1"
    assert simplified.resolve(before.distinct_id) == "U1"


def test_link_is_reported_as_a_change(simplified):
    """A link changes the device's resolution, and ``drain_changes`` says so once."""
    simplified.track("U1", "D1")
    assert list(simplified.engine.drain_changes()) == [("$device:D1", "U1")]
    assert list(simplified.engine.drain_changes()) == []
    assert list(simplified.engine.mapping()) == [("$device:D1", "U1")]


# -- identity-named events ------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "props"),
    [
        ("$identify", {"$identified_id": "U9", "$anon_id": "D9", "$device_id": "D9"}),
        ("$identify", {"$device_id": "D9", "$user_id": "U9"}),
        ("$create_alias", {"alias": "U9", "distinct_id": "$device:D9"}),
        (
            "$create_alias",
            {"alias": "U9", "distinct_id": "X", "$device_id": "D9", "$user_id": "U9"},
        ),
        ("$merge", {"$distinct_ids": ["U9", "$device:D9"], "$device_id": "D9", "$user_id": "U9"}),
    ],
)
def test_identity_named_events_are_ignored(simplified, name, props):
    """Mixpanel's identity events have no meaning here (ignored, mode_simplified_ignores_event)."""
    step = simplified.send(name, props, trusted=True)
    assert step.entry is not None
    assert step.entry.outcome is Outcome.IGNORED
    assert step.entry.reason is Reason.SIMPLIFIED_IGNORES_EVENT
    assert FAILURE not in step.annotations
    assert simplified.cluster("U9") == {"U9"}
    assert simplified.cluster("$device:D9") == {"$device:D9"}
    assert list(simplified.engine.mapping()) == []


def test_identity_named_events_are_stored_as_ordinary_events(simplified):
    """An ignored identity event is still stored, under the id the rules derive."""
    assert simplified.send("$identify", {"$device_id": "D9", "$user_id": "U9"}).distinct_id == "U9"
    alias = simplified.alias("A", "B")
    assert alias.distinct_id == "B"
    assert dict(alias.annotations) == {"$user_id": "B"}


def test_alias_and_merge_do_nothing(simplified):
    """Scenario 9: ``$create_alias`` on /track and ``$merge`` on /import leave A and B apart."""
    simplified.alias("A", "B")
    simplified.merge("A", "B", trusted=True)
    assert simplified.cluster("A") == {"A"}
    assert simplified.cluster("B") == {"B"}


def test_identify_does_not_link_but_a_following_event_does(simplified):
    """Scenario 10: ``$identify`` carrying D9 and U9 links nothing; a following Login does."""
    simplified.send("$identify", {"$device_id": "D9", "$user_id": "U9"})
    assert simplified.cluster("U9") == {"U9"}
    step = simplified.track("U9", "D9", name="Login")
    assert step.entry.outcome is Outcome.LINKED
    assert simplified.cluster("U9") == {"U9", "$device:D9"}


def test_ignored_event_is_explained(simplified):
    """Explain answers "why did my alias do nothing" with the ignored outcome and reason."""
    simplified.alias("A", "B", insert_id="alias-1")
    history = simplified.engine.explain("A").history
    assert [(e.outcome, e.reason, e.event, e.insert_id) for e in history] == [
        (Outcome.IGNORED, Reason.SIMPLIFIED_IGNORES_EVENT, "$create_alias", "alias-1")
    ]
    assert simplified.history("B") == [
        (Outcome.IGNORED, Reason.SIMPLIFIED_IGNORES_EVENT, "$create_alias")
    ]


# -- annotations and malformed ids ----------------------------------------------------


def test_failure_reason_property_is_identity_failure_reason(simplified):
    """Refusals are written as ``$identity_failure_reason`` only (no ``$failure_reason``)."""
    simplified.track("U1", "D1")
    step = simplified.track("U2", "D1", distinct_id="$device:D1")
    assert dict(step.annotations) == {FAILURE: "errAnonDistinctIdAssignedAlready"}


def test_rule_three_applies_to_ignored_identity_events(simplified):
    """An ignored identity event is stored like any event: rule 3 writes ``$user_id`` back."""
    step = simplified.send("$identify", {"distinct_id": "U7"})
    assert step.distinct_id == "U7"
    assert dict(step.annotations) == {"$user_id": "U7"}
    assert step.entry.outcome is Outcome.IGNORED


@pytest.mark.parametrize("bad", [5, 1.5, True, ["U1"], {"id": "U1"}, "u" * 256])
def test_invalid_user_id_is_refused(simplified, bad):
    """A ``$user_id`` that is not a string, or over 255 characters, is refused (invalid_id)."""
    step = simplified.send("Page View", {"$user_id": bad, "$device_id": "D1"})
    assert step.entry.outcome is Outcome.REFUSED
    assert step.entry.reason is Reason.INVALID_ID
    assert step.annotations[FAILURE] == "invalid_id"
    assert len(simplified.cluster("$device:D1")) == 1


@pytest.mark.parametrize("bad", [5, 1.5, False, ["D1"], {"id": "D1"}, "d" * 256])
def test_invalid_device_id_is_refused(simplified, bad):
    """A ``$device_id`` that is not a string, or over 255 characters, is refused (invalid_id)."""
    step = simplified.send("Page View", {"$user_id": "U1", "$device_id": bad})
    assert step.distinct_id == "U1"
    assert step.entry.reason is Reason.INVALID_ID
    assert simplified.cluster("U1") == {"U1"}


def test_invalid_id_refusal_is_explained_on_the_stored_id(simplified):
    """Explain finds an invalid_id refusal from the ids it names (devices with their prefix)."""
    simplified.send("Page View", {"$user_id": 5, "$device_id": "D1"})
    simplified.send("Page View", {"$user_id": "U1", "$device_id": 5})
    assert simplified.history("$device:D1") == [(Outcome.REFUSED, Reason.INVALID_ID, "Page View")]
    assert simplified.history("U1") == [(Outcome.REFUSED, Reason.INVALID_ID, "Page View")]


def test_longest_allowed_ids_link(simplified):
    """Ids of exactly 255 characters are valid and link."""
    user, device = "u" * 255, "d" * 255
    assert simplified.track(user, device).entry.outcome is Outcome.LINKED
    assert simplified.resolve("$device:" + device) == user


def test_policy_defaults():
    """Simplified has no size or merge limit by default."""
    policy = Policy.for_mode(Mode.SIMPLIFIED)
    assert policy.max_cluster_ids is None
    assert policy.max_merges is None
