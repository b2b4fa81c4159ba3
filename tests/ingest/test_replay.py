"""``replay``: a project's history run again under a mode, into another project.

Replaying under the project's own mode rebuilds it exactly (events, clusters, log,
profiles); a round trip through another mode comes back to the same clusters; an
Original project replayed under Simplified shows what Mixpanel documents (two user
ids no longer merge, aliases are ignored), and the migration recipe keeps an
anonymous history with its user.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from idmerge.errors import BadRequest
from idmerge.identity import Event, Mode, Outcome, Reason
from idmerge.ingest import ProjectWriter
from idmerge.ingest.replay import replay
from idmerge.profiles.model import ProfileKind, ProfileOp, ProfileUpdate
from idmerge.projects import Project, create_project, get_project
from idmerge.storage.base import Store
from idmerge.storage.duckdb import open_store
from idmerge.storage.memory import MemoryStore
from journeys import alias, device_id, identify, journeys, track

from streams import mixed_stream

T0 = 1_700_000_000_000
D1, D2 = device_id(1), device_id(2)


def now() -> int:
    return T0


def project_with(store: Store, mode: Mode, events: list[Event], batch: int = 50) -> Project:
    project = create_project(store, f"p-{mode.value}", mode, now=T0, junk_ids=("nobody",))
    writer = ProjectWriter(store, project)
    for start in range(0, len(events), batch):
        writer.ingest(events[start : start + batch], received_at=T0 + start)
    return project


def stored(store: Store, project: Project) -> list[tuple[object, ...]]:
    return [e[1:] for e in store.read_events(project.id)]


def log_outcomes(store: Store, project: Project) -> list[tuple[object, ...]]:
    return [(e.op, e.ids, e.outcome, e.reason, e.event) for e in store.read_log(project.id)]


def resolved(store: Store, project: Project) -> dict[str, str]:
    return dict(store.read_mapping(project.id))


@pytest.mark.parametrize("mode", list(Mode))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10_000), batch=st.integers(1, 80))
def test_replay_under_the_own_mode_rebuilds_the_project(mode: Mode, seed: int, batch: int) -> None:
    """Every stored event (id, properties with the mode's annotations, times), the
    identity log and the mapping come out as the project has them: replay reads back
    exactly what the mode wrote."""
    store = MemoryStore()
    events = mixed_stream(mode, 300, seed=seed)
    source = project_with(store, mode, events, batch)
    report = replay(store, source, mode, into=None, now=now)
    assert report.events == len(events)
    assert stored(store, report.target) == stored(store, source)
    assert log_outcomes(store, report.target) == log_outcomes(store, source)
    assert resolved(store, report.target) == resolved(store, source)
    assert report.target.junk_ids == ("nobody",)


def trusted_only(events: list[Event]) -> list[Event]:
    # the store does not keep an event's path; an untrusted $merge comes back trusted
    # from a mode that ignored it (a documented Decision), so the round trip skips them
    return [e for e in events if e.name != "$merge" or e.trusted]


@pytest.mark.parametrize("mode", list(Mode))
@pytest.mark.parametrize("through", list(Mode))
def test_a_round_trip_through_another_mode_comes_back(mode: Mode, through: Mode) -> None:
    """P (mode) -> N (through) -> Q (mode): Q stores every event under P's id and
    resolves every id as P does, so nothing of what was sent was lost on the way."""
    store = MemoryStore()
    source = project_with(store, mode, trusted_only(mixed_stream(mode, 400, seed=7)))
    there = replay(store, source, through, into="there", now=now).target
    back = replay(store, get_project(store, "there"), mode, into="back", now=now).target
    assert there.mode is through
    assert [e.distinct_id for e in store.read_events(back.id)] == [
        e.distinct_id for e in store.read_events(source.id)
    ]
    assert resolved(store, back) == resolved(store, source)
    assert log_outcomes(store, back) == log_outcomes(store, source)


SHOP = {
    "ann": [
        track("2024-05-01 10:00", "Viewed", distinct_id=D1),
        identify("2024-05-01 10:05", D1, "ann@example.com"),
        track("2024-05-01 10:06", "Bought", distinct_id="ann@example.com"),
        alias("2024-05-01 10:07", "+6512345678", "ann@example.com"),
        track("2024-05-02 09:00", "Called", distinct_id="+6512345678"),
    ],
    "bob": [
        track("2024-05-03 09:00", "Viewed", distinct_id=D2),
        identify("2024-05-03 09:01", D2, "bob@example.com"),
    ],
}


@pytest.fixture
def shop() -> tuple[Store, Project]:
    store = MemoryStore()
    # an SDK-less history: ids as a server sends them, only distinct_id
    events = [
        e._replace(properties={k: v for k, v in e.properties.items() if k != "$device_id"})
        for e in journeys(Mode.ORIGINAL, SHOP)
    ]
    return store, project_with(store, Mode.ORIGINAL, events)


def person_of(store: Store, project: Project) -> dict[str, str]:
    mapping = resolved(store, project)
    return {
        e.name + "@" + e.distinct_id: mapping.get(e.distinct_id, e.distinct_id)
        for e in store.read_events(project.id)
    }


def test_original_to_simplified_shows_the_documented_differences(
    shop: tuple[Store, Project],
) -> None:
    store, source = shop
    assert len(set(resolved(store, source).values())) == 2  # ann and bob
    target = replay(store, source, Mode.SIMPLIFIED, into=None, now=now).target
    assert target.name == "p-original-simplified"
    log = list(store.read_log(target.id))
    ignored = [(e.event, e.outcome, e.reason) for e in log]
    # every $identify and the alias mean nothing in Simplified, and say so
    assert ignored == [
        ("$identify", Outcome.IGNORED, Reason.SIMPLIFIED_IGNORES_EVENT),
        ("$create_alias", Outcome.IGNORED, Reason.SIMPLIFIED_IGNORES_EVENT),
        ("$identify", Outcome.IGNORED, Reason.SIMPLIFIED_IGNORES_EVENT),
    ]
    # nothing links: the email and the phone number are two users, and the
    # anonymous ids stay users of their own (Simplified reads a bare distinct_id as one)
    assert resolved(store, target) == {}
    people = {e.distinct_id for e in store.read_events(target.id)}
    assert {"ann@example.com", "+6512345678", D1, D2, "bob@example.com"} <= people


def test_the_migration_recipe_keeps_anonymous_history_with_its_user(
    shop: tuple[Store, Project],
) -> None:
    store, source = shop
    report = replay(store, source, Mode.SIMPLIFIED, into="new", now=now, derive_simplified_ids=True)
    target = report.target
    events = list(store.read_events(target.id))
    viewed = [e for e in events if e.name == "Viewed"]
    # D1's and D2's anonymous views are their users', with $device_id and $user_id
    assert [e.distinct_id for e in viewed] == ["ann@example.com", "bob@example.com"]
    assert resolved(store, target) == {
        f"$device:{D1}": "ann@example.com",
        f"$device:{D2}": "bob@example.com",
    }
    assert report.derived == 2
    assert report.outcomes == {"linked": 2, "ignored": 3}
    # what Simplified cannot do stays undone: the phone number is a user of its own
    called = next(e for e in events if e.name == "Called")
    assert called.distinct_id == "+6512345678"


def test_the_recipe_leaves_out_a_link_a_split_undid(shop: tuple[Store, Project]) -> None:
    store, source = shop
    writer = ProjectWriter(store, source)
    first_identify = next(e for e in store.read_log(source.id) if e.event == "$identify")
    writer.split(time=T0, event_seq=first_identify.seq)
    report = replay(store, source, Mode.SIMPLIFIED, into="new", now=now, derive_simplified_ids=True)
    assert resolved(store, report.target) == {f"$device:{D2}": "bob@example.com"}
    assert report.derived == 1


def test_splits_are_done_again_or_said_to_not_apply(shop: tuple[Store, Project]) -> None:
    store, source = shop
    writer = ProjectWriter(store, source)
    alias_entry = next(e for e in store.read_log(source.id) if e.event == "$create_alias")
    writer.split(time=T0, event_seq=alias_entry.seq)
    writer.split(time=T0, detach="bob@example.com")
    again = replay(store, source, Mode.ORIGINAL, into="again", now=now)
    assert again.splits == 2 and again.skipped_splits == []
    assert resolved(store, again.target) == resolved(store, source)
    simplified = replay(store, source, Mode.SIMPLIFIED, into="simple", now=now)
    assert simplified.splits == 0
    assert simplified.skipped_splits == [
        "undoing event #4 (seq 3 of the source) does not apply under simplified: "
        "no identity event with sequence number 3 in this project",
        "detaching 'bob@example.com' does not apply under simplified: "
        "'bob@example.com' is not linked to any other id",
    ]


def test_profile_updates_are_replayed_in_order_and_follow_the_recipe(
    shop: tuple[Store, Project],
) -> None:
    store, source = shop
    writer = ProjectWriter(store, source)
    updates = [
        ProfileUpdate(ProfileKind.USER, D1, ProfileOp.SET, {"plan": "free"}, T0),
        ProfileUpdate(ProfileKind.USER, "ann@example.com", ProfileOp.SET, {"plan": "pro"}, T0 + 1),
        ProfileUpdate(ProfileKind.GROUP, "acme", ProfileOp.SET, {"size": 3}, T0, group_key="co"),
    ]
    from idmerge.ingest.pipeline import Submission  # noqa: PLC0415

    writer.write([Submission("/engage", T0, profile_updates=list(enumerate(updates)))])
    same = replay(store, source, Mode.ORIGINAL, into="same", now=now)
    assert same.profile_updates == 3
    assert list(store.read_profiles(same.target.id)) == list(store.read_profiles(source.id))
    derived = replay(
        store, source, Mode.SIMPLIFIED, into="derived", now=now, derive_simplified_ids=True
    )
    targets = [u.target for u in store.read_profile_updates(derived.target.id)]
    assert targets == ["ann@example.com", "ann@example.com", "acme"]


def test_saved_funnels_are_copied(shop: tuple[Store, Project]) -> None:
    store, source = shop
    store.save_funnel(source.id, "buy", '[{"event":"Viewed"},{"event":"Bought"}]', 1, "day", T0)
    report = replay(store, source, Mode.SIMPLIFIED, into=None, now=now)
    assert report.funnels == 1
    [copy] = store.saved_funnels(report.target.id)
    assert (copy.name, copy.steps, copy.length, copy.length_unit) == (
        "buy",
        '[{"event":"Viewed"},{"event":"Bought"}]',
        1,
        "day",
    )


def test_targets_and_refusals(shop: tuple[Store, Project]) -> None:
    store, source = shop
    first = replay(store, source, Mode.SIMPLIFIED, into=None, now=now).target
    second = replay(store, source, Mode.SIMPLIFIED, into=None, now=now).target
    assert (first.name, second.name) == ("p-original-simplified", "p-original-simplified-2")
    assert first.token != source.token and first.secret != source.secret
    assert first.junk_ids == source.junk_ids == ("nobody",)
    with pytest.raises(BadRequest, match="--into must name another"):
        replay(store, source, Mode.SIMPLIFIED, into=source.name, now=now)
    with pytest.raises(BadRequest, match="'p-original-simplified' already holds data"):
        replay(store, source, Mode.LEGACY, into=first.name, now=now)
    empty = create_project(store, "empty", Mode.LEGACY, now=T0)
    limited = replace(source, max_cluster_ids=7, max_merges=3)
    store.save_project(limited)
    into_empty = replay(store, limited, Mode.CDP, into=empty.name, now=now).target
    assert (into_empty.id, into_empty.mode) == (empty.id, Mode.CDP)
    # an empty target takes the source's junk list and limits, as a new one does
    stored = get_project(store, "empty")
    assert (stored.mode, stored.junk_ids, stored.max_cluster_ids, stored.max_merges) == (
        Mode.CDP,
        ("nobody",),
        7,
        3,
    )
    assert (stored.token, stored.secret) == (empty.token, empty.secret)
    with pytest.raises(BadRequest, match="which only simplified and cdp read"):
        replay(store, source, Mode.ORIGINAL, into="x", now=now, derive_simplified_ids=True)
    with pytest.raises(BadRequest, match="'p-original-simplified' is simplified"):
        replay(store, first, Mode.SIMPLIFIED, into="y", now=now, derive_simplified_ids=True)
    assert [p.name for p in store.projects()][-1] == "empty"  # a refusal creates nothing


def test_replay_over_a_real_duckdb_file_survives_a_reopen(tmp_path: Path) -> None:
    store = open_store(tmp_path)
    source = project_with(store, Mode.ORIGINAL, trusted_only(mixed_stream(Mode.ORIGINAL, 500)))
    untouched = (stored(store, source), log_outcomes(store, source), resolved(store, source))
    target = replay(store, source, Mode.SIMPLIFIED, into="new", now=now).target
    events, mapping = stored(store, target), resolved(store, target)
    store.close()
    reopened = open_store(tmp_path)
    try:
        assert stored(reopened, target) == events
        assert resolved(reopened, target) == mapping
        assert stored(reopened, source) != events
        # the source was only read
        assert untouched == (
            stored(reopened, source),
            log_outcomes(reopened, source),
            resolved(reopened, source),
        )
        writer = ProjectWriter(reopened, get_project(reopened, "new"))
        assert sorted(writer.engine.mapping()) == sorted(mapping.items())
    finally:
        reopened.close()
