"""Properties of the profile operations and their fold, over generated updates."""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from idmerge.identity import Mode
from idmerge.profiles.book import ProfileBook, fold_profile, profile_row
from idmerge.profiles.model import ProfileKind, ProfileOp
from idmerge.profiles.operations import apply_operation, compute_changes
from idmerge.profiles.reading import person_profile
from idmerge.storage.base import StoredProfile, StoredProfileUpdate

keys = st.sampled_from(["a", "b", "c", "$name"])
scalars = st.none() | st.booleans() | st.integers(-5, 5) | st.floats(-5, 5) | st.sampled_from("xy")
values = scalars | st.lists(scalars, max_size=3)
properties = st.dictionaries(keys, values, max_size=4)
OBJECT_OPS = [op for op in ProfileOp if op not in {ProfileOp.UNSET, ProfileOp.DELETE}]


@st.composite
def operations(draw: st.DrawFn) -> tuple[ProfileOp, Any]:
    op = draw(st.sampled_from(list(ProfileOp)))
    if op is ProfileOp.UNSET:
        return op, draw(st.lists(keys, max_size=3))
    if op is ProfileOp.DELETE:
        return op, None
    return op, draw(st.dictionaries(keys, values, max_size=3))


@st.composite
def update_streams(draw: st.DrawFn) -> list[StoredProfileUpdate]:
    """Updates to a few profiles, with colliding times, in the order they arrive."""
    count = draw(st.integers(0, 14))
    stream = []
    for seq in range(count):
        op, value = draw(operations())
        stream.append(
            StoredProfileUpdate(
                seq,
                "user",
                "",
                "id",
                draw(st.sampled_from(["u", "v"])),
                op.value,
                json.dumps(value),
                draw(st.integers(0, 4)) * 1000,
                draw(st.booleans()),
                0,
            )
        )
    return draw(st.permutations(stream))


@settings(max_examples=300)
@given(update_streams(), st.data())
def test_any_arrival_order_folds_like_time_order(
    stream: list[StoredProfileUpdate], data: st.DataObject
) -> None:
    """Applied in arrival order, in chunks of any size, a book ends where a fold in
    (time, seq) order does, and its answers were each profile's latest row."""
    book = ProfileBook()
    answered: dict[str, StoredProfile] = {}
    rest = stream
    while rest:
        size = data.draw(st.integers(1, len(rest)))
        answered.update((r.target, r) for r in book.apply(rest[:size]))
        rest = rest[size:]
    expected = {}
    for target in {u.target for u in stream}:
        state = fold_profile(u for u in stream if u.target == target)
        row = profile_row(("user", "", target), state)
        if row is not None:
            expected[target] = row
    assert {r.target: r for r in book.rows()} == expected == answered


@given(properties, st.dictionaries(keys, values))
def test_set_once_never_overwrites(before: dict[str, Any], given_: dict[str, Any]) -> None:
    after = apply_operation(before, ProfileOp.SET_ONCE, given_)
    assert all(after[k] == v for k, v in before.items())
    assert after.keys() == before.keys() | given_.keys()


@given(properties, keys, values)
def test_unset_after_set_removes(before: dict[str, Any], key: str, value: Any) -> None:
    after = apply_operation(
        apply_operation(before, ProfileOp.SET, {key: value}), ProfileOp.UNSET, [key]
    )
    assert key not in after
    assert after == {k: v for k, v in before.items() if k != key}


@given(properties, operations())
def test_operations_never_mutate_their_input(
    before: dict[str, Any], operation: tuple[ProfileOp, Any]
) -> None:
    op, value = operation
    if op is ProfileOp.DELETE:
        return
    kept, kept_value = copy.deepcopy(before), copy.deepcopy(value)
    changes = compute_changes(before, op, value)
    after = apply_operation(before, op, value)
    assert (before, value) == (kept, kept_value)
    assert after is not before
    assert all(after[k] == v for k, v in changes.set.items())


@given(st.lists(st.tuples(st.sampled_from(["u", "d1", "d2"]), properties), max_size=6))
def test_cdp_combination_keeps_every_primary_value(sets: list[tuple[str, dict[str, Any]]]) -> None:
    updates = [
        StoredProfileUpdate(seq, "user", "", t, t, "$set", json.dumps(p), seq, False, 0)
        for seq, (t, p) in enumerate(sets)
    ]
    book = ProfileBook.load(updates)
    primary = book.state(ProfileKind.USER, "", "u").properties
    combined = person_profile(book, ["d1", "u", "d2"], "u", Mode.CDP)
    if primary is not None:
        assert combined is not None
        assert all(combined[k] == v for k, v in primary.items())
    for target, _ in sets:  # and every key some profile has is seen
        state = book.state(ProfileKind.USER, "", target).properties
        assert combined is not None and state is not None
        assert state.keys() <= combined.keys()
