"""The fold of a profile's updates in time order, and the book that keeps it current."""

from __future__ import annotations

import json
from typing import Any

import pytest

from idmerge.profiles.book import NO_PROFILE, ProfileBook, fold_profile
from idmerge.profiles.model import ProfileKind
from idmerge.storage.base import StoredProfile, StoredProfileUpdate

SECOND = 1000


def upd(
    seq: int,
    op: str,
    value: Any = None,
    *,
    time: int | None = None,
    target: str = "u1",
    kind: str = "user",
    group_key: str = "",
    ignore_time: bool = False,
) -> StoredProfileUpdate:
    when = seq * SECOND if time is None else time
    text = json.dumps(value)
    return StoredProfileUpdate(seq, kind, group_key, target, target, op, text, when, ignore_time, 0)


def props(row: StoredProfile) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(row.properties)
    return decoded


def test_updates_fold_in_time_order_and_stamp_last_seen() -> None:
    book = ProfileBook()
    [row] = book.apply([upd(1, "$set", {"a": 1}), upd(2, "$add", {"n": 2})])
    assert row == StoredProfile(
        "user", "", "u1", '{"a":1,"$last_seen":"1970-01-01T00:00:02","n":2}', False, 2 * SECOND
    )


def test_ignore_time_leaves_last_seen() -> None:
    book = ProfileBook()
    book.apply([upd(1, "$set", {"a": 1})])
    [row] = book.apply([upd(5, "$set", {"a": 2}, ignore_time=True)])
    assert props(row) == {"a": 2, "$last_seen": "1970-01-01T00:00:01"}
    assert row.updated_at == 5 * SECOND  # still the latest update folded in


def test_a_late_update_refolds_the_profile() -> None:
    """$set_once sent last but timed first wins over the later $set_once."""
    book = ProfileBook()
    book.apply([upd(1, "$set_once", {"plan": "pro"}, time=5 * SECOND)])
    [row] = book.apply([upd(2, "$set_once", {"plan": "free"}, time=1 * SECOND)])
    assert props(row)["plan"] == "free"
    assert props(row)["$last_seen"] == "1970-01-01T00:00:05"
    assert row.updated_at == 5 * SECOND


def test_ties_in_time_go_by_seq() -> None:
    book = ProfileBook()
    [row] = book.apply([upd(7, "$set", {"a": "late"}, time=0), upd(3, "$set", {"a": "x"}, time=0)])
    assert props(row)["a"] == "late"


def test_delete_then_set_starts_a_fresh_profile() -> None:
    book = ProfileBook()
    book.apply([upd(1, "$set", {"a": 1, "b": 1})])
    [gone] = book.apply([upd(2, "$delete", "")])
    assert gone == StoredProfile("user", "", "u1", "{}", True, 2 * SECOND)
    [fresh] = book.apply([upd(3, "$set", {"a": 2})])
    assert (props(fresh), fresh.deleted) == ({"a": 2, "$last_seen": "1970-01-01T00:00:03"}, False)


@pytest.mark.parametrize("op", ["$unset", "$remove"])
def test_unset_and_remove_create_no_profile(op: str) -> None:
    book = ProfileBook()
    value = ["a"] if op == "$unset" else {"a": 1}
    assert book.apply([upd(1, op, value)]) == []
    assert book.state(ProfileKind.USER, "", "u1").properties is None
    book.apply([upd(2, "$delete")])
    [row] = book.apply([upd(3, op, value)])  # a deleted profile stays deleted
    assert (row.properties, row.deleted, row.updated_at) == ("{}", True, 3 * SECOND)


def test_only_changed_profiles_are_answered() -> None:
    book = ProfileBook()
    book.apply([upd(1, "$set", {"a": 1}, target="a"), upd(2, "$set", {"b": 1}, target="b")])
    rows = book.apply([upd(3, "$set", {"b": 2}, target="b"), upd(4, "$set", {"c": 1}, target="c")])
    assert [r.target for r in rows] == ["b", "c"]


def test_an_update_already_held_is_skipped() -> None:
    book = ProfileBook.load([upd(1, "$add", {"n": 1})])
    assert book.apply([upd(1, "$add", {"n": 1})]) == []
    [row] = book.apply([upd(2, "$add", {"n": 1}), upd(2, "$add", {"n": 1})])
    assert props(row)["n"] == 2


def test_groups_are_their_own_profiles_and_refuse_add() -> None:
    book = ProfileBook()
    group = upd(1, "$set", {"name": "Acme"}, kind="group", group_key="company", target="u1")
    [row] = book.apply([group])
    assert (row.kind, row.group_key, row.target) == ("group", "company", "u1")
    assert book.state(ProfileKind.USER, "", "u1") == NO_PROFILE
    bad = upd(3, "$add", {"n": 1}, kind="group", group_key="company")
    with pytest.raises(ValueError, match=r"groups have no \$add"):
        book.apply([upd(4, "$set", {"x": 1}), bad])
    assert book.state(ProfileKind.USER, "", "u1") == NO_PROFILE  # nothing folded in
    assert book.apply([upd(4, "$set", {"x": 1})]) != []  # nor marked as held


def test_load_equals_applying_and_rows_match_what_apply_answered() -> None:
    updates = [
        upd(1, "$set", {"a": 1}, target="x"),
        upd(2, "$union", {"l": [1, 2]}, target="y", time=0),
        upd(3, "$delete", target="x"),
        upd(4, "$append", {"l": 3}, target="y"),
    ]
    book = ProfileBook()
    answered: dict[str, StoredProfile] = {}
    for u in updates:
        answered.update((r.target, r) for r in book.apply([u]))
    loaded = ProfileBook.load(updates)
    assert list(loaded.rows()) == list(book.rows()) == sorted(answered.values())
    assert len(loaded) == 2


def test_fold_profile_sorts_by_time_then_seq() -> None:
    state = fold_profile([upd(2, "$set", {"a": 2}, time=0), upd(1, "$set", {"a": 1}, time=9)])
    assert state.properties is not None
    assert state.properties["a"] == 1
    assert (state.updated_at, state.updated_seq) == (9, 1)


def test_undecodable_value_is_a_value_error() -> None:
    bad = upd(1, "$set")._replace(value="{not json")
    with pytest.raises(ValueError, match="not JSON"):
        ProfileBook().apply([bad])
