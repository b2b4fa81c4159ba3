"""Each ``/engage`` operation on a properties dict, and the decisions in its docstring."""

from __future__ import annotations

from typing import Any

import pytest

from idmerge.profiles.model import ProfileOp
from idmerge.profiles.operations import (
    Changes,
    apply_changes,
    apply_operation,
    compute_changes,
    last_seen_text,
)

Op = ProfileOp


def test_set_overwrites_and_adds() -> None:
    assert apply_operation({"a": 1, "b": 2}, Op.SET, {"a": 9, "c": 3}) == {"a": 9, "b": 2, "c": 3}


def test_set_once_sets_only_missing_keys() -> None:
    """A key holding null is present."""
    before = {"a": 1, "n": None}
    assert apply_operation(before, Op.SET_ONCE, {"a": 9, "n": 9, "c": 3}) == {
        "a": 1,
        "n": None,
        "c": 3,
    }


@pytest.mark.parametrize(
    ("before", "increment", "after"),
    [
        ({}, 2, 2),  # missing counts as 0
        ({"x": None}, 2, 2),  # null counts as 0
        ({"x": 5}, -2, 3),
        ({"x": 1}, 0.5, 1.5),
        ({"x": "5"}, 1, "5"),  # not a number: left alone
        ({"x": True}, 1, True),  # booleans are not numbers
        ({"x": 5}, "1", 5),  # nor is a text increment
    ],
)
def test_add(before: dict[str, Any], increment: Any, after: Any) -> None:
    result = apply_operation(before, Op.ADD, {"x": increment})
    assert result["x"] == after
    assert type(result["x"]) is type(after)


def test_add_skips_what_cannot_be_added() -> None:
    """A key that cannot be added is not even created."""
    assert apply_operation({}, Op.ADD, {"x": "1"}) == {}


@pytest.mark.parametrize(
    ("before", "given", "after"),
    [
        ({}, ["a", "b", "a"], ["a", "b"]),
        ({"x": ["b", "c"]}, ["a", "b"], ["b", "c", "a"]),
        ({"x": "b"}, ["a", "b"], ["b", "a"]),  # a scalar is promoted
        ({"x": None}, ["a"], ["a"]),
        ({"x": ["a"]}, "b", ["a", "b"]),  # a given scalar is one item
        ({"x": [1]}, [1.0, True], [1, True]),  # 1 == 1.0, but not true
        ({"x": [{"k": 1}]}, [{"k": 1}, [1]], [{"k": 1}, [1]]),
    ],
)
def test_union(before: dict[str, Any], given: Any, after: list[Any]) -> None:
    assert apply_operation(before, Op.UNION, {"x": given})["x"] == after


def test_union_with_nothing_new_changes_nothing() -> None:
    assert compute_changes({"x": ["a"]}, Op.UNION, {"x": ["a"]}) == Changes({})


def test_append_keeps_duplicates_and_promotes() -> None:
    assert apply_operation({"x": ["a"]}, Op.APPEND, {"x": "a"})["x"] == ["a", "a"]
    assert apply_operation({"x": 1}, Op.APPEND, {"x": [2]})["x"] == [1, [2]]
    assert apply_operation({}, Op.APPEND, {"x": "a"})["x"] == ["a"]


def test_remove_takes_every_occurrence_and_leaves_non_lists() -> None:
    before = {"x": ["a", "b", "a"], "s": "a"}
    after = apply_operation(before, Op.REMOVE, {"x": "a", "s": "a", "missing": "a"})
    assert after == {"x": ["b"], "s": "a"}
    assert compute_changes(before, Op.REMOVE, {"x": "z"}) == Changes({})


@pytest.mark.parametrize("names", [["a", "zz"], "a", {"a": None}])
def test_unset_drops_named_keys(names: Any) -> None:
    assert apply_operation({"a": 1, "b": 2}, Op.UNSET, names) == {"b": 2}


def test_malformed_arguments_change_nothing() -> None:
    for op in (Op.SET, Op.SET_ONCE, Op.ADD, Op.UNION, Op.APPEND, Op.REMOVE):
        assert compute_changes({"a": 1}, op, ["a"]) == Changes({})
    assert compute_changes({"a": 1}, Op.UNSET, 7) == Changes({})


def test_delete_is_not_a_property_change() -> None:
    with pytest.raises(ValueError, match=r"\$delete"):
        compute_changes({}, Op.DELETE, None)


def test_apply_changes_unsets_before_setting() -> None:
    changes = Changes({"a": 2}, frozenset({"a", "b"}))
    assert apply_changes({"a": 1, "b": 1, "c": 1}, changes) == {"c": 1, "a": 2}


def test_results_are_new_dicts() -> None:
    before: dict[str, Any] = {"x": ["a"]}
    after = apply_operation(before, Op.UNION, {"x": ["b"]})
    after["x"].append("c")
    assert before == {"x": ["a"]}
    assert apply_operation(before, Op.SET, {}) is not before


def test_last_seen_is_mixpanel_iso_in_utc() -> None:
    assert last_seen_text(1_714_564_800_999) == "2024-05-01T12:00:00"
    assert last_seen_text(0) == "1970-01-01T00:00:00"
    assert last_seen_text(-1) == "1969-12-31T23:59:59"
