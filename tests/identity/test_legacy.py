"""Mode ``legacy``: Mixpanel Legacy ID Management.

Spec: identity.md; sources: mixpanel.md §1.3 and acceptance scenarios 23-24.
"""

from __future__ import annotations

import pytest

from idmerge.identity import Mode, Op, Outcome, Policy, Reason

BEFORE = "$distinct_id_before_identity"


def test_alias_maps_new_id_onto_original_id(legacy):
    """``$create_alias`` adds ``alias -> distinct_id`` to the alias table (merged)."""
    step = legacy.alias("U", "D1")
    assert step.entry.op is Op.ALIAS
    assert step.entry.outcome is Outcome.MERGED
    assert step.entry.ids == ("D1", "U")
    assert step.distinct_id == "D1"
    assert legacy.resolve("U") == "D1"
    assert legacy.resolve("D1") == "D1"


def test_resolution_happens_at_ingestion(legacy):
    """Scenario 23: an event sent as U after the alias is stored under D1, U kept aside."""
    legacy.alias("U", "D1")
    step = legacy.track(distinct_id="U")
    assert step.distinct_id == "D1"
    assert dict(step.annotations) == {BEFORE: "U"}


def test_events_before_the_alias_are_not_reattributed(legacy):
    """Scenario 23 (non-retroactive): an event stored as U before the alias keeps U."""
    early = legacy.track(distinct_id="U")
    legacy.alias("U", "D1")
    late = legacy.track(distinct_id="U")
    assert early.distinct_id == "U"
    assert dict(early.annotations) == {}
    assert late.distinct_id == "D1"
    assert legacy.steps[0] == early


def test_unaliased_events_are_stored_as_sent(legacy):
    """An event whose id is no alias is stored as sent, with nothing written back."""
    legacy.alias("U", "D1")
    for sent in ("D1", "other", "$device:x"):
        step = legacy.track(distinct_id=sent)
        assert step.distinct_id == sent
        assert dict(step.annotations) == {}
        assert step.entry is None


def test_user_and_device_properties_have_no_meaning(legacy):
    """``$user_id``/``$device_id`` do not link anything in legacy."""
    step = legacy.track("U1", "D1", distinct_id="x")
    assert step.distinct_id == "x"
    assert step.entry is None
    assert legacy.cluster("U1") == {"U1"}


def test_alias_to_another_id_is_refused(legacy):
    """Scenario 24: aliasing U again to a different id fails; D2's events stay orphaned."""
    legacy.alias("U", "D1")
    step = legacy.alias("U", "D2")
    assert step.entry.outcome is Outcome.REFUSED
    assert step.entry.reason is Reason.ALIAS_ALREADY_EXISTS
    assert dict(step.annotations) == {
        "$failure_reason": "errAliasAlreadyExists",
        "$failure_description": Reason.ALIAS_ALREADY_EXISTS.description,
    }
    assert legacy.track(distinct_id="D2").distinct_id == "D2"
    assert legacy.cluster("D2") == {"D2"}
    assert legacy.resolve("U") == "D1"


def test_refused_alias_stored_under_resolved_sender(legacy):
    """A refused alias event is itself stored like any event: its distinct_id resolved."""
    legacy.alias("U", "D1")
    legacy.alias("V", "D2")
    step = legacy.alias("U", "V")
    assert step.entry.reason is Reason.ALIAS_ALREADY_EXISTS
    assert step.distinct_id == "D2"
    assert dict(step.annotations)[BEFORE] == "V"


@pytest.mark.parametrize(
    ("name", "props", "trusted"),
    [
        ("$identify", {"$identified_id": "U", "$anon_id": "D1"}, False),
        ("$identify", {"distinct_id": "U", "$anon_distinct_id": "D1"}, False),
        ("$merge", {"$distinct_ids": ["U", "D1"]}, True),
        ("$merge", {"$distinct_ids": ["U", "D1"]}, False),
    ],
)
def test_identify_and_merge_are_ignored(legacy, name, props, trusted):
    """Scenario 24: ``$identify`` and ``$merge`` are ignored (mode_legacy_ignores_event)."""
    step = legacy.send(name, props, trusted=trusted)
    assert step.entry.outcome is Outcome.IGNORED
    assert step.entry.reason is Reason.LEGACY_IGNORES_EVENT
    assert "$failure_reason" not in step.annotations
    assert legacy.cluster("U") == {"U"}
    assert legacy.cluster("D1") == {"D1"}


def test_ignored_event_is_explained(legacy):
    """Explain shows the ignored ``$identify`` on the ids it named."""
    legacy.identify("U", "D1")
    expected = [(Outcome.IGNORED, Reason.LEGACY_IGNORES_EVENT, "$identify")]
    assert legacy.history("U") == expected
    assert legacy.history("D1") == expected


def test_ignored_event_is_stored_under_resolved_id(legacy):
    """An ignored identity event is stored like any event: resolved at ingestion."""
    legacy.alias("U", "D1")
    assert legacy.send("$identify", {"distinct_id": "U", "$anon_distinct_id": "x"}).distinct_id == (
        "D1"
    )


def test_alias_chain_collapses(legacy):
    """Legacy chain collapse (Decision): alias(b, a) then alias(c, b) maps c to a."""
    legacy.alias("b", "a")
    step = legacy.alias("c", "b")
    assert step.entry.outcome is Outcome.MERGED
    assert step.distinct_id == "a"
    assert legacy.resolve("c") == "a"
    event = legacy.track(distinct_id="c")
    assert event.distinct_id == "a"
    assert dict(event.annotations) == {BEFORE: "c"}
    assert legacy.engine.cluster("c") == ["a", "b", "c"]


def test_many_aliases_point_at_one_id(legacy):
    """Many aliases may point at one id; each resolves to it at ingestion."""
    for i in range(5):
        legacy.alias(f"a{i}", "D1")
    assert {legacy.track(distinct_id=f"a{i}").distinct_id for i in range(5)} == {"D1"}


def test_alias_onto_id_it_already_resolves_to_is_a_noop(legacy):
    """Decision: aliasing an id to one it already resolves to is ``noop``."""
    legacy.alias("b", "a")
    legacy.alias("c", "b")
    assert legacy.alias("c", "a").outcome is Outcome.NOOP
    assert legacy.alias("b", "a").outcome is Outcome.NOOP


def test_target_may_later_be_aliased_and_its_aliases_follow(legacy):
    """Decision: an id that is a target (never an alias) may be aliased; its aliases follow."""
    legacy.alias("U", "D1")
    assert legacy.alias("D1", "X").entry.outcome is Outcome.MERGED
    assert legacy.resolve("U") == "X"
    assert legacy.track(distinct_id="U").distinct_id == "X"


def test_no_size_limit(legacy):
    """Legacy has no cluster size limit: 600 aliases onto one id all succeed."""
    assert Policy.for_mode(Mode.LEGACY).max_cluster_ids is None
    outcomes = {legacy.alias(f"a{i}", "D1").entry.outcome for i in range(600)}
    assert outcomes == {Outcome.MERGED}


@pytest.mark.parametrize("props", [{"distinct_id": "D1"}, {"alias": "U"}, {"alias": None}])
def test_alias_missing_an_id_is_refused(legacy, props):
    """A ``$create_alias`` without ``alias`` or ``distinct_id`` is refused (missing_id)."""
    step = legacy.send("$create_alias", props)
    assert step.entry.outcome is Outcome.REFUSED
    assert step.entry.reason is Reason.MISSING_ID
    assert step.annotations["$failure_reason"] == "missing_id"


@pytest.mark.parametrize("bad", [1, 2.0, True, ["U"], {"U": 1}, "u" * 256])
def test_alias_invalid_ids_are_refused(legacy, bad):
    """Non-string or over-long alias ids are refused (invalid_id), never raising."""
    for step in (legacy.alias(bad, "D1"), legacy.alias("U", bad)):
        assert step.entry.outcome is Outcome.REFUSED
        assert step.entry.reason is Reason.INVALID_ID
    assert list(legacy.engine.mapping()) == []


def test_refused_alias_does_not_spend_the_alias(legacy):
    """An alias refused as junk leaves the alias free for a later valid alias."""
    legacy.alias("U", "null")
    assert legacy.alias("U", "D1").entry.outcome is Outcome.MERGED
