"""Mode ``cdp``: Segment spec / Customer.io Data Pipelines (spec: identity.md, peers.md §1.3).

Messages reach the engine translated: ``userId`` as ``$user_id``, ``anonymousId`` as
``$device_id``, and ``alias(userId=U, previousId=P)`` as ``$create_alias`` with
``alias = U`` and ``distinct_id = P`` (``Harness.alias(U, P)``).
"""

from __future__ import annotations

import pytest

from idmerge.identity import Event, IdentityEngine, Mode, Op, Outcome, Policy, Reason

FAILURE = "$identity_failure_reason"


def folded(step):
    return step.entry is not None and step.entry.outcome is Outcome.MERGED


def refused(step, reason):
    return step.entry is not None and (step.entry.outcome, step.entry.reason) == (
        Outcome.REFUSED,
        reason,
    )


# -- stored distinct_id ---------------------------------------------------------------


def test_stored_under_user_id(cdp):
    """Stored distinct_id: ``userId`` when present (over anonymousId and distinct_id)."""
    assert cdp.track("U1", "A1", distinct_id="x").distinct_id == "U1"
    assert cdp.track("U1").distinct_id == "U1"


def test_stored_under_prefixed_anonymous_id(cdp):
    """Stored distinct_id: else ``"$device:" + anonymousId``."""
    step = cdp.track(device="A1", distinct_id="x")
    assert step.distinct_id == "$device:A1"
    assert step.entry is None


def test_stored_under_distinct_id_sent_otherwise(cdp):
    """Stored distinct_id: with neither, the distinct_id sent, nothing written back."""
    step = cdp.track(distinct_id="x")
    assert step.distinct_id == "x"
    assert dict(step.annotations) == {}


def test_alias_stored_under_user_id(cdp):
    """An alias message is stored under its ``userId``."""
    assert cdp.alias("U1", "P").distinct_id == "U1"


# -- links ----------------------------------------------------------------------------


def test_user_and_anonymous_id_link(cdp):
    """A message with ``userId`` U and ``anonymousId`` A links ``$device:A`` into U's cluster."""
    before = cdp.track(device="A1")
    step = cdp.track("U1", "A1")
    assert step.entry.op is Op.LINK
    assert step.entry.outcome is Outcome.LINKED
    assert step.entry.ids == ("U1", "$device:A1")
    assert cdp.cluster("U1") == {"U1", "$device:A1"}
    assert cdp.resolve(before.distinct_id) == "U1"


def test_identify_message_links_like_any_message(cdp):
    """Mixpanel-style events are read the same way: an ``$identify`` with both ids links."""
    step = cdp.send("$identify", {"$user_id": "U1", "$device_id": "A1"})
    assert step.entry.outcome is Outcome.LINKED
    assert cdp.resolve("$device:A1") == "U1"


def test_first_link_wins(cdp):
    """A later conflicting pair is refused with errAnonDistinctIdAssignedAlready."""
    cdp.track("U1", "A1")
    step = cdp.track("U2", "A1")
    assert step.distinct_id == "U2"
    assert refused(step, Reason.ANON_ASSIGNED_ALREADY)
    assert dict(step.annotations) == {FAILURE: "errAnonDistinctIdAssignedAlready"}
    assert cdp.resolve("$device:A1") == "U1"
    assert cdp.cluster("U2") == {"U2"}


def test_repeated_link_is_a_noop(cdp):
    """Re-sending a pair already linked is ``noop``."""
    cdp.track("U1", "A1")
    assert cdp.track("U1", "A1").outcome is Outcome.NOOP


def test_link_through_a_folded_user_id(cdp):
    """A link to a user id folded into another cluster joins that cluster."""
    cdp.track("U1")
    cdp.alias("U2", "U1")
    cdp.track("U1", "A1")
    assert cdp.cluster("U2") == {"U2", "U1", "$device:A1"}
    assert cdp.resolve("$device:A1") == "U2"


# -- alias ----------------------------------------------------------------------------


def test_alias_folds_previous_user_id(cdp):
    """Alias folding P: a previousId used as a user id brings its cluster into U's."""
    activity = cdp.track("P", "A1")
    step = cdp.alias("U", "P")
    assert folded(step)
    assert step.entry.op is Op.FOLD
    assert step.entry.ids == ("U", "P")
    assert cdp.cluster("U") == {"U", "P", "$device:A1"}
    assert cdp.resolve(activity.distinct_id) == "U"
    assert cdp.resolve("$device:A1") == "U"


def test_alias_folds_previous_anonymous_id(cdp):
    """Alias folding ``$device:P``: a previousId used only as anonymousId folds ``$device:P``."""
    activity = cdp.track(device="P")
    step = cdp.alias("U", "P")
    assert folded(step)
    assert step.entry.ids == ("U", "$device:P")
    assert cdp.cluster("U") == {"U", "$device:P"}
    assert cdp.resolve(activity.distinct_id) == "U"


def test_alias_folds_whichever_exist_but_only_those(cdp):
    """Whichever of P and ``$device:P`` exist are folded: here only ``$device:P``, not P."""
    cdp.track(device="P")
    cdp.alias("U", "P")
    assert cdp.resolve("P") == "P"
    assert cdp.track("P").distinct_id == "P"
    assert cdp.resolve("P") == "P"


def test_alias_folds_both_previous_ids(cdp):
    """When both P (as userId) and ``$device:P`` (as anonymousId) exist, both clusters fold."""
    cdp.track("P", "A1")
    cdp.track("V", "P")  # $device:P belongs to V
    step = cdp.alias("U", "P")
    assert step.entry.ids == ("U", "P", "$device:P")
    assert cdp.cluster("U") == {"U", "P", "$device:A1", "V", "$device:P"}
    assert {cdp.resolve(x) for x in cdp.cluster("U")} == {"U"}


def test_alias_with_unknown_previous_id_joins_it(cdp):
    """If neither P nor ``$device:P`` exists, P joins U's cluster; later P messages resolve to U."""
    step = cdp.alias("U", "P")
    assert folded(step)
    assert step.entry.ids == ("U", "P")
    later = cdp.track("P")
    assert later.distinct_id == "P"
    assert cdp.resolve(later.distinct_id) == "U"
    assert cdp.resolve("$device:P") == "$device:P"


def test_existing_means_in_a_cluster_too(cdp):
    """Decision: an id exists when it belongs to a cluster, even if nothing was stored under it."""
    cdp.track("V", "P")  # stored under V; $device:P is only a cluster member
    step = cdp.alias("U", "P")
    assert step.entry.ids == ("U", "$device:P")
    assert cdp.cluster("U") == {"U", "V", "$device:P"}
    assert cdp.resolve("P") == "P"


def test_existing_ids_can_be_given_to_the_engine():
    """Decision: ids events were already stored under (``seen_ids``) count as existing."""
    engine = IdentityEngine(Policy.for_mode(Mode.CDP), seen_ids=["$device:P"])
    step = engine.apply(Event("$create_alias", {"alias": "U", "distinct_id": "P"}), 1)
    assert step.entry.ids == ("U", "$device:P")
    assert engine.resolve("$device:P") == "U"
    assert engine.resolve("P") == "P"
    assert {"U", "$device:P"} <= engine.seen_ids


def test_user_survives_as_resolved_id(cdp):
    """U survives and is the resolved id, even when P's cluster is larger."""
    for i in range(5):
        cdp.track("P", f"A{i}")
    cdp.alias("U", "P")
    assert {cdp.resolve(x) for x in cdp.cluster("U")} == {"U"}
    assert cdp.engine.cluster("P")[0] == "U"


def test_two_known_user_ids_are_unified(cdp):
    """Both may be known user ids: alias unifies a person who had two user ids."""
    cdp.track("U1", "A1")
    cdp.track("U2", "A2")
    assert folded(cdp.alias("U2", "U1"))
    assert cdp.cluster("U1") == {"U1", "U2", "$device:A1", "$device:A2"}
    assert cdp.resolve("$device:A1") == "U2"


def test_alias_of_ids_already_together_is_a_noop(cdp):
    """An alias whose previous id is already in U's cluster is ``noop``."""
    cdp.track("U", "P")
    assert cdp.alias("U", "P").outcome is Outcome.NOOP
    assert cdp.alias("U", "U").outcome is Outcome.NOOP


def test_fold_recorded_in_log_is_replayed_without_seen_ids(cdp):
    """Decision: which ids existed is kept in the log entry, so a replay folds the same ids."""
    cdp.track(device="P")
    cdp.alias("U", "P")
    rebuilt = IdentityEngine.replay(cdp.policy, cdp.log)  # no seen_ids at all
    assert set(rebuilt.cluster("U")) == {"U", "$device:P"}
    assert rebuilt.resolve("P") == "P"


@pytest.mark.parametrize(
    "props",
    [{"distinct_id": "P"}, {"alias": "U"}, {"alias": "U", "distinct_id": None}, {}],
)
def test_alias_missing_an_id_is_refused(cdp, props):
    """An alias without userId or previousId is refused with ``missing_id``."""
    step = cdp.send("$create_alias", props)
    assert refused(step, Reason.MISSING_ID)
    assert step.annotations[FAILURE] == "missing_id"
    assert list(cdp.engine.mapping()) == []


@pytest.mark.parametrize("bad", [4, 4.5, True, ["P"], {"P": 1}, "p" * 256])
def test_alias_invalid_ids_are_refused(cdp, bad):
    """Non-string or over-long alias ids are refused with ``invalid_id``, never raising."""
    assert refused(cdp.alias("U", bad), Reason.INVALID_ID)
    assert refused(cdp.alias(bad, "P"), Reason.INVALID_ID)
    assert list(cdp.engine.mapping()) == []


@pytest.mark.parametrize("bad", [4, ["A"], "a" * 256])
def test_link_invalid_ids_are_refused(cdp, bad):
    """A link with a non-string or over-long id is refused with ``invalid_id``."""
    assert refused(cdp.send("Page", {"$user_id": "U", "$device_id": bad}), Reason.INVALID_ID)
    assert refused(cdp.send("Page", {"$user_id": bad, "$device_id": "A"}), Reason.INVALID_ID)
    assert list(cdp.engine.mapping()) == []


# -- $merge ---------------------------------------------------------------------------


@pytest.mark.parametrize("trusted", [True, False])
def test_merge_is_ignored(cdp, trusted):
    """``$merge`` has no meaning in cdp (ignored, mode_cdp_ignores_event)."""
    step = cdp.merge("U1", "U2", trusted=trusted)
    assert step.entry.outcome is Outcome.IGNORED
    assert step.entry.reason is Reason.CDP_IGNORES_EVENT
    assert FAILURE not in step.annotations
    assert cdp.cluster("U1") == {"U1"}
    assert cdp.history("U2") == [(Outcome.IGNORED, Reason.CDP_IGNORES_EVENT, "$merge")]


# -- limits ---------------------------------------------------------------------------


def test_default_limits():
    """Decision: 1,000 ids and 100 merges per cluster by default."""
    policy = Policy.for_mode(Mode.CDP)
    assert (policy.max_cluster_ids, policy.max_merges) == (1000, 100)


def test_default_id_limit_boundary(cdp):
    """Limits: a cluster reaches exactly 1,000 ids; the next link is refused (errManyIDs)."""
    outcomes = {cdp.track("U", f"A{i}").entry.outcome for i in range(999)}
    assert outcomes == {Outcome.LINKED}
    assert len(cdp.cluster("U")) == 1000
    step = cdp.track("U", "A999")
    assert refused(step, Reason.MANY_IDS)
    assert step.annotations[FAILURE] == "errManyIDs"
    assert cdp.cluster("$device:A999") == {"$device:A999"}


def test_default_merge_limit_boundary(cdp):
    """Limits: a cluster goes through exactly 100 merges; the 101st is refused (errManyIDs)."""
    outcomes = {cdp.alias("U", f"P{i}").entry.outcome for i in range(100)}
    assert outcomes == {Outcome.MERGED}
    assert refused(cdp.alias("U", "P100"), Reason.MANY_IDS)
    assert len(cdp.cluster("U")) == 101


def test_configurable_id_limit_on_links(project):
    """Configurable id limit: links count toward the ids."""
    h = project(Mode.CDP, max_cluster_ids=3)
    assert h.track("U", "A1").entry.outcome is Outcome.LINKED
    assert h.track("U", "A2").entry.outcome is Outcome.LINKED
    assert refused(h.track("U", "A3"), Reason.MANY_IDS)
    assert h.cluster("U") == {"U", "$device:A1", "$device:A2"}


def test_configurable_id_limit_on_alias(project):
    """Configurable id limit: an alias whose merged cluster would exceed it is refused."""
    h = project(Mode.CDP, max_cluster_ids=3)
    h.track("U", "A1")
    h.track("P", "B1")
    assert refused(h.alias("U", "P"), Reason.MANY_IDS)
    assert h.cluster("U") == {"U", "$device:A1"}
    assert h.cluster("P") == {"P", "$device:B1"}
    assert h.resolve("P") == "P"


def test_configurable_merge_limit(project):
    """Configurable merge limit: aliases count toward merges; past the limit errManyIDs."""
    h = project(Mode.CDP, max_merges=2)
    assert folded(h.alias("U", "P1"))
    assert folded(h.alias("U", "P2"))
    assert refused(h.alias("U", "P3"), Reason.MANY_IDS)
    assert h.cluster("P3") == {"P3"}


def test_merges_of_both_sides_count(project):
    """The merge count of a cluster adds up the merges of both sides plus this one."""
    h = project(Mode.CDP, max_merges=2)
    h.alias("U", "P")
    h.alias("V", "Q")
    assert refused(h.alias("U", "V"), Reason.MANY_IDS)


def test_links_do_not_count_as_merges(project):
    """Links count toward ids only, not toward the merge limit."""
    h = project(Mode.CDP, max_merges=1)
    for i in range(5):
        h.track("U", f"A{i}")
    assert folded(h.alias("U", "P"))
