"""``compare``: one history stored under two identity modes, P and NEW, told apart.

P and NEW get the same events (as a replay would write them), so every difference
below is the modes': Original ID Merge merges on ``$identify`` and ``$create_alias``,
Simplified ignores both and joins a device to a user only on an event naming both.
Each test runs on the in-memory store and on a real DuckDB file.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from idmerge.errors import BadRequest
from idmerge.identity import Event, Mode, Reason
from idmerge.ingest import ProjectWriter
from idmerge.ingest.pipeline import Submission
from idmerge.projects import Project, create_project
from idmerge.query.compare import (
    AffectedId,
    DayRange,
    FunnelSteps,
    IdentityCount,
    IgnoredExample,
    Pair,
    Part,
    Regrouped,
    StepCounts,
    Week,
    compare,
)
from idmerge.query.funnels import FunnelStep, steps_json
from idmerge.query.retention import RetentionSpec, retention
from idmerge.storage.base import Store
from idmerge.wire import Rejection
from journeys import device_id, ms

A, C, D = device_id(1), device_id(3), device_id(4)
DEVICE_A, DEVICE_C, DEVICE_D = f"$device:{A}", f"$device:{C}", f"$device:{D}"
PHONE = "+15550001"
FUNNEL = "Open to purchase"
IGNORED = Reason.SIMPLIFIED_IGNORES_EVENT


def event(when: str, name: str, insert_id: str, **properties: Any) -> Event:
    """A Mixpanel-shaped event, as /import takes it (so ``$merge`` counts too)."""
    return Event(name, properties, ms(when), insert_id, trusted=True)


def identify(when: str, insert_id: str, anon: str, user: str) -> Event:
    """An SDK's ``$identify``: the anonymous id joins ``user``."""
    return event(
        when,
        "$identify",
        insert_id,
        distinct_id=user,
        **{"$anon_distinct_id": anon, "$identified_id": user},
    )


def history() -> list[Event]:
    """Alice opens the app on device A, logs in ($identify), buys, and adds her phone
    as an alias; a week later she comes back and buys as the phone. Bob only ever
    uses his user id. Carol's device is identified and also named with her user id on
    a sign-up; she comes back a week later. Dan stays anonymous."""
    user = "$user_id"
    events = [
        event("2024-05-01 10:00", "App Open", "a1", distinct_id=DEVICE_A, **{"$device_id": A}),
        identify("2024-05-01 10:01", "a2", DEVICE_A, "alice@x"),
        event("2024-05-01 10:05", "Purchase", "a3", distinct_id="alice@x", **{user: "alice@x"}),
        event("2024-05-01 10:06", "$create_alias", "a4", distinct_id="alice@x", alias=PHONE),
        event("2024-05-09 09:00", "App Open", "a5", distinct_id=PHONE, **{user: PHONE}),
        event("2024-05-09 09:10", "Purchase", "a6", distinct_id=PHONE, **{user: PHONE}),
        event("2024-05-02 12:00", "App Open", "b1", distinct_id="bob@x", **{user: "bob@x"}),
        event("2024-05-02 12:30", "Purchase", "b2", distinct_id="bob@x", **{user: "bob@x"}),
        event("2024-05-03 08:00", "App Open", "c1", distinct_id=DEVICE_C, **{"$device_id": C}),
        identify("2024-05-03 08:01", "c2", DEVICE_C, "carol"),
        event(
            "2024-05-03 08:02",
            "Sign Up",
            "c3",
            distinct_id="carol",
            **{"$device_id": C, user: "carol"},
        ),
        event("2024-05-10 08:00", "App Open", "c4", distinct_id="carol", **{user: "carol"}),
        event("2024-05-04 08:00", "App Open", "d1", distinct_id=DEVICE_D, **{"$device_id": D}),
    ]
    return sorted(events, key=lambda e: e.time)


def stored_as(
    store: Store,
    name: str,
    mode: Mode,
    events: list[Event],
    *,
    rejected: int = 0,
    max_cluster_ids: int | None = None,
) -> Project:
    """Project ``name`` holding ``events`` under ``mode``, with the saved funnel;
    ``rejected`` records refused before them take seqs (a replay skips them, so the
    seqs of P and NEW differ and only the order aligns their events)."""
    project = create_project(store, name, mode, now=0, max_cluster_ids=max_cluster_ids)
    writer = ProjectWriter(store, project)
    received = ms("2024-06-01 00:00")
    refused = [Rejection(n, None, "event", "no event name", "missing") for n in range(rejected)]
    writer.write([Submission("/import", received, rejections=refused)])
    writer.ingest(events, received_at=received)
    store.save_funnel(project.id, FUNNEL, funnel_steps("App Open", "Purchase"), 1, "day", 0)
    return project


def funnel_steps(*names: str) -> str:
    return steps_json(tuple(FunnelStep(name) for name in names))


@pytest.fixture
def original_to_simplified(store: Store) -> tuple[Store, Project, Project]:
    events = history()
    return (
        store,
        stored_as(store, "P", Mode.ORIGINAL, events, rejected=2),
        stored_as(store, "NEW", Mode.SIMPLIFIED, events),
    )


def test_users_events_and_stored_ids(original_to_simplified: Any) -> None:
    """Alice is one person in P and three in NEW: 4 users become 6; the events and
    the ids they were stored under are the same."""
    found = compare(*original_to_simplified)
    assert (found.before.project, found.before.mode) == ("P", "original")
    assert (found.after.project, found.after.mode) == ("NEW", "simplified")
    assert found.users.persons == Pair(4, 6)
    assert found.users.events == Pair(13, 13)
    assert found.users.stored_ids == Pair(7, 7)
    assert found.range == DayRange(dt.date(2024, 5, 1), dt.date(2024, 5, 10))


def test_the_split_person_and_its_parts(original_to_simplified: Any) -> None:
    """Without $identify and $create_alias, Alice's device, user id and phone are three
    people; Carol stays whole (her sign-up names device and user), Bob and Dan too."""
    clusters = compare(*original_to_simplified).clusters
    assert (clusters.split, clusters.joined, clusters.unchanged) == (1, 0, 3)
    parts = (Part("alice@x", 3), Part(PHONE, 2), Part(DEVICE_A, 1))
    assert clusters.top_split == (Regrouped("alice@x", 6, 3, parts),)
    assert clusters.top_joined == ()


def test_affected_ids_ranked_by_events(original_to_simplified: Any) -> None:
    affected = compare(*original_to_simplified).affected_ids
    assert affected.count == 3
    assert affected.top == (
        AffectedId("alice@x", 3, "alice@x", ("alice@x",)),
        AffectedId(PHONE, 2, "alice@x", (PHONE,)),
        AffectedId(DEVICE_A, 1, "alice@x", (DEVICE_A,)),
    )


def test_identity_events_side_by_side(original_to_simplified: Any) -> None:
    """P merged on both $identify and the alias; NEW ignored them, with the reason in
    plain words, and linked Carol's device on her sign-up instead."""
    counts = compare(*original_to_simplified).identity_events.counts
    why = IGNORED.description
    assert counts == (
        IdentityCount("$identify", "ignored", IGNORED.value, 0, 2, why),
        IdentityCount("$identify", "merged", None, 2, 0, None),
        IdentityCount("$create_alias", "ignored", IGNORED.value, 0, 1, why),
        IdentityCount("$create_alias", "merged", None, 1, 0, None),
        IdentityCount("Sign Up", "linked", None, 0, 1, None),
    )


def test_newly_ignored_identity_events(original_to_simplified: Any) -> None:
    """The identity events P acted on and NEW ignored, in P's order, with both seqs."""
    store, before, after = original_to_simplified
    newly = compare(store, before, after).identity_events.newly_ignored
    assert newly.count == 3
    seqs = {e.insert_id: e.seq for e in store.read_events(before.id)}
    new_seqs = {e.insert_id: e.seq for e in store.read_events(after.id)}
    expected = [
        ("a2", "$identify", ("alice@x", DEVICE_A), "2024-05-01 10:01"),
        ("a4", "$create_alias", ("alice@x", PHONE), "2024-05-01 10:06"),
        ("c2", "$identify", ("carol", DEVICE_C), "2024-05-03 08:01"),
    ]
    assert newly.examples == tuple(
        IgnoredExample(
            seqs[x], new_seqs[x], name, ids, x, ms(when), "merged", "ignored", IGNORED.value
        )
        for x, name, ids, when in expected
    )


def test_a_saved_funnel_converts_less(original_to_simplified: Any) -> None:
    """P: Alice, Bob, Carol and Dan open the app, Alice and Bob buy (50%). NEW: Alice's
    phone opens the app a week later as a fifth user and buys; her first purchase has
    no App Open before it any more (40%)."""
    funnels = compare(*original_to_simplified).funnels
    steps = (StepCounts("App Open", 4, 5), StepCounts("Purchase", 2, 2))
    assert funnels == (FunnelSteps(FUNNEL, False, True, steps),)


def test_retention_side_by_side(original_to_simplified: Any) -> None:
    """P: 4 born; Alice, Bob and Carol do more in their first week, Alice and Carol
    come back in the second. NEW: 6 born; Alice's phone and her user id do more in
    their first week, but only Carol comes back."""
    kept = compare(*original_to_simplified).retention
    assert kept.unit == "week"
    assert kept.born == Pair(4, 6)
    assert kept.back == (Week(0, 3, 4), Week(1, 2, 1))


def test_retention_agrees_with_the_retention_report(original_to_simplified: Any) -> None:
    """In P everyone's first event is an App Open, so birth retention on App Open,
    summed over its weekly cohorts, is compare's retention of P."""
    store, before, after = original_to_simplified
    kept = compare(store, before, after).retention
    spec = RetentionSpec.from_params(
        {"from_date": "2024-05-01", "to_date": "2024-05-10", "unit": "week"}
        | {"born_event": "App Open", "interval_count": 1}
    )
    cohorts = retention(store, before, spec).values()
    assert sum(c["first"] for c in cohorts) == kept.born.before
    summed = [sum(c["counts"][k] for c in cohorts) for k in range(2)]
    assert summed == [w.before for w in kept.back]


def test_a_join(store: Store) -> None:
    """P simplified ignores the $merge and the alias; NEW original makes one person of
    u1, u2 and u3: a join of three P persons, no split, nothing unchanged. The
    $identify of a non-GUID is ignored in P and refused in NEW: not newly ignored, as P
    did not act on it either."""
    events = [
        event("2024-05-01 10:00", "App Open", "1", distinct_id="u1"),
        event("2024-05-01 11:00", "App Open", "2", distinct_id="u2"),
        event(
            "2024-05-01 12:00", "$merge", "3", distinct_id="u1", **{"$distinct_ids": ["u1", "u2"]}
        ),
        event("2024-05-02 09:00", "Purchase", "4", distinct_id="u2"),
        event("2024-05-02 09:05", "$create_alias", "5", distinct_id="u1", alias="u3"),
        event("2024-05-02 09:06", "Purchase", "6", distinct_id="u3"),
        identify("2024-05-02 10:00", "7", "not-a-guid", "u1"),
    ]
    before = stored_as(store, "P", Mode.SIMPLIFIED, events)
    after = stored_as(store, "NEW", Mode.ORIGINAL, events)
    found = compare(store, before, after)
    assert found.users.persons == Pair(3, 1)
    clusters = found.clusters
    assert (clusters.split, clusters.joined, clusters.unchanged) == (0, 1, 0)
    parts = (Part("u1", 4), Part("u2", 2), Part("u3", 1))
    assert clusters.top_joined == (Regrouped("u1", 7, 3, parts),)
    assert found.affected_ids.top == (
        AffectedId("u1", 4, "u1", ("u1",)),
        AffectedId("u2", 2, "u2", ("u1",)),
        AffectedId("u3", 1, "u3", ("u1",)),
    )
    assert found.identity_events.newly_ignored.count == 0
    counts = {(c.event, c.outcome): (c.before, c.after) for c in found.identity_events.counts}
    assert counts == {
        ("$merge", "ignored"): (1, 0),
        ("$merge", "merged"): (0, 1),
        ("$create_alias", "ignored"): (1, 0),
        ("$create_alias", "merged"): (0, 1),
        ("$identify", "ignored"): (1, 0),
        ("$identify", "refused"): (0, 1),
    }
    steps = (StepCounts("App Open", 2, 1), StepCounts("Purchase", 1, 1))
    assert found.funnels == (FunnelSteps(FUNNEL, False, True, steps),)


def test_an_id_whose_events_part_ways(store: Store) -> None:
    """Two users log in on one shared device. Original keeps every event under the
    device's id; Simplified stores each under its user (the device links to the first
    one only): the one P id lands on two NEW persons, the busier one first. The
    largest split comes first, its largest parts first (ties by id)."""
    shared = device_id(9)
    events = [
        event(
            f"2024-05-01 10:0{n}",
            "App Open",
            str(n),
            distinct_id=f"$device:{shared}",
            **{"$device_id": shared, "$user_id": user},
        )
        for n, user in enumerate(["u5", "u6", "u6"])
    ]
    other = device_id(8)  # a smaller case of the same, on another device
    events += [
        event(
            f"2024-05-01 11:0{n}",
            "App Open",
            f"o{n}",
            distinct_id=f"$device:{other}",
            **{"$device_id": other, "$user_id": user},
        )
        for n, user in enumerate(["u7", "u8"])
    ]
    before = stored_as(store, "P", Mode.ORIGINAL, events)
    after = stored_as(store, "NEW", Mode.SIMPLIFIED, events)
    device = f"$device:{shared}"
    biggest = Regrouped(device, 3, 2, (Part("u6", 2), Part("u5", 1)))
    found = compare(store, before, after)
    assert found.clusters.top_split == (
        biggest,
        Regrouped(f"$device:{other}", 2, 2, (Part("u7", 1), Part("u8", 1))),
    )
    assert found.affected_ids.top[0] == AffectedId(device, 3, device, ("u6", "u5"))
    assert compare(store, before, after, top=1).clusters.top_split == (
        Regrouped(device, 3, 2, (Part("u6", 2),)),
    )


def test_a_smaller_cluster_limit_refuses_the_alias(store: Store) -> None:
    """NEW is Original too, but holds at most two ids per person: Alice's login still
    merges, her alias is refused. Only the alias is newly refused; Carol is whole."""
    before = stored_as(store, "P", Mode.ORIGINAL, history())
    after = stored_as(store, "NEW", Mode.ORIGINAL, history(), max_cluster_ids=2)
    found = compare(store, before, after)
    assert found.users.persons == Pair(4, 5)
    assert found.clusters.top_split == (
        Regrouped("alice@x", 6, 2, (Part("alice@x", 4), Part(PHONE, 2))),
    )
    newly = found.identity_events.newly_ignored
    assert newly.count == 1
    (alias,) = newly.examples
    assert (alias.insert_id, alias.outcome_before, alias.outcome_after, alias.reason) == (
        "a4",
        "merged",
        "refused",
        Reason.MANY_IDS.value,
    )
    refused = [c for c in found.identity_events.counts if c.outcome == "refused"]
    assert refused == [
        IdentityCount("$create_alias", "refused", "errManyIDs", 0, 1, Reason.MANY_IDS.description)
    ]


def test_legacy_is_read_as_stored(store: Store) -> None:
    """Legacy resolves at ingestion: the sign-up sent before the alias stays with its
    own id, though the mapping now points it at the device. Original re-attributes
    it: a join that reading legacy through the mapping would miss."""
    events = [
        event("2024-05-01 10:00", "Sign Up", "1", distinct_id="user@x"),
        event("2024-05-01 10:01", "App Open", "2", distinct_id=A),
        event("2024-05-01 10:02", "$create_alias", "3", distinct_id=A, alias="user@x"),
        event("2024-05-01 10:03", "Purchase", "4", distinct_id="user@x"),
    ]
    before = stored_as(store, "P", Mode.LEGACY, events)
    assert dict(store.read_mapping(before.id)) == {"user@x": A}
    found = compare(store, before, stored_as(store, "NEW", Mode.ORIGINAL, events))
    assert found.users.persons == Pair(2, 1)
    assert found.clusters.top_joined == (Regrouped(A, 4, 2, (Part(A, 3), Part("user@x", 1))),)


def test_top_limits_every_example_but_not_the_counts(original_to_simplified: Any) -> None:
    found = compare(*original_to_simplified, top=1)
    assert found.clusters.top_split == (Regrouped("alice@x", 6, 3, (Part("alice@x", 3),)),)
    assert (found.affected_ids.count, len(found.affected_ids.top)) == (3, 1)
    newly = found.identity_events.newly_ignored
    assert (newly.count, [x.insert_id for x in newly.examples]) == (3, ["a2"])


def test_funnels_missing_or_redefined_in_new(store: Store) -> None:
    events = history()
    before = stored_as(store, "P", Mode.ORIGINAL, events)
    store.save_funnel(before.id, "Sign up", funnel_steps("App Open", "Sign Up"), 1, "day", 0)
    new = create_project(store, "NEW", Mode.SIMPLIFIED, now=0)
    ProjectWriter(store, new).ingest(events, received_at=0)
    store.save_funnel(new.id, FUNNEL, funnel_steps("App Open", "Purchase"), 2, "hour", 0)
    funnels = compare(store, before, new).funnels
    assert funnels == (
        FunnelSteps(
            FUNNEL, False, False, (StepCounts("App Open", 4, 5), StepCounts("Purchase", 2, 2))
        ),
        FunnelSteps(
            "Sign up",
            True,
            False,
            (StepCounts("App Open", 4, None), StepCounts("Sign Up", 1, None)),
        ),
    )


#: a step's where as an older version could have saved it: no longer valid, so the
#: funnel cannot run (saved through the store, which does not check expressions)
STALE_WHERE = '[{"event": "App Open", "where": "datetime(properties[\\"x\\"]) > 0"}, "Purchase"]'


def test_a_funnel_that_cannot_run_is_reported_and_the_rest_compared(store: Store) -> None:
    events = history()
    before = stored_as(store, "P", Mode.ORIGINAL, events)
    new = stored_as(store, "NEW", Mode.SIMPLIFIED, events)
    store.save_funnel(before.id, "Stale in P", STALE_WHERE, 1, "day", 0)
    store.save_funnel(new.id, "Stale in P", funnel_steps("App Open", "Purchase"), 1, "day", 0)
    store.save_funnel(before.id, "Stale in NEW", funnel_steps("App Open", "Purchase"), 1, "day", 0)
    store.save_funnel(new.id, "Stale in NEW", STALE_WHERE, 1, "day", 0)
    found = compare(store, before, new)
    ran, stale_p, stale_new = found.funnels
    assert ran.steps == (StepCounts("App Open", 4, 5), StepCounts("Purchase", 2, 2))
    assert (ran.problem_before, ran.problem_after) == (None, None)
    assert stale_p.steps == (StepCounts("App Open", None, 5), StepCounts("Purchase", None, 2))
    assert stale_p.problem_before is not None and stale_p.problem_after is None
    assert stale_p.problem_before.startswith("step 1's where: expected unix seconds")
    assert stale_new.steps == (StepCounts("App Open", 4, None), StepCounts("Purchase", 2, None))
    assert stale_new.problem_before is None and stale_new.problem_after is not None
    assert not stale_p.same_definition and not stale_new.same_definition
    assert found.users.persons == Pair(4, 6)  # the rest is compared as ever


def test_unreadable_saved_steps_are_reported_too(store: Store) -> None:
    events = history()
    before = stored_as(store, "P", Mode.ORIGINAL, events)
    new = stored_as(store, "NEW", Mode.SIMPLIFIED, events)
    store.save_funnel(before.id, "Broken", "not json", 1, "day", 0)
    broken = compare(store, before, new).funnels[1]
    assert (broken.name, broken.missing_in_after, broken.steps) == ("Broken", True, ())
    assert broken.problem_before is not None
    assert broken.problem_before.startswith("steps is not valid JSON")


def test_refuses_what_is_no_replay(store: Store) -> None:
    events = history()
    before = stored_as(store, "P", Mode.ORIGINAL, events)
    short = stored_as(store, "NEW", Mode.SIMPLIFIED, events[:-1])
    with pytest.raises(BadRequest, match="NEW does not hold a replay of P: 12 events against 13"):
        compare(store, before, short)
    with pytest.raises(BadRequest, match="compare needs two projects: 'P' is given twice"):
        compare(store, before, before)
    with pytest.raises(BadRequest, match="top must be between 1 and 10,000, not 0"):
        compare(store, before, stored_as(store, "SAME", Mode.SIMPLIFIED, events), top=0)


def test_two_empty_projects(store: Store) -> None:
    before = stored_as(store, "P", Mode.ORIGINAL, [])
    found = compare(store, before, stored_as(store, "NEW", Mode.SIMPLIFIED, []))
    assert found.range is None
    assert found.users.persons == Pair(0, 0)
    assert (found.clusters.split, found.clusters.joined, found.clusters.unchanged) == (0, 0, 0)
    assert found.affected_ids.count == 0
    assert found.funnels[0].steps == (StepCounts("App Open", 0, 0), StepCounts("Purchase", 0, 0))
    assert found.retention.born == Pair(0, 0)
    assert found.retention.back == (Week(0, 0, 0), Week(1, 0, 0))


def test_as_json_is_plain_json(original_to_simplified: Any) -> None:
    answer = compare(*original_to_simplified).as_json()
    assert list(answer) == [
        "before",
        "after",
        "range",
        "users",
        "clusters",
        "affected_ids",
        "identity_events",
        "funnels",
        "retention",
    ]
    assert answer["before"] == {"project": "P", "mode": "original"}
    assert answer["range"] == {"from_date": "2024-05-01", "to_date": "2024-05-10"}
    assert answer["users"]["persons"] == {"before": 4, "after": 6}
    assert answer["clusters"]["top_split"][0]["parts"][0] == {"person": "alice@x", "events": 3}
    assert answer["affected_ids"]["top"][1] == {
        "distinct_id": PHONE,
        "events": 2,
        "person_before": "alice@x",
        "persons_after": [PHONE],
    }
    assert answer["funnels"][0]["steps"][1] == {"event": "Purchase", "before": 2, "after": 2}
    assert answer["retention"]["back"][1] == {"week": 1, "before": 2, "after": 1}
