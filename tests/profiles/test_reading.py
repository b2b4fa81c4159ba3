"""What a reader sees of a person's profiles in each mode, and of a group."""

from __future__ import annotations

import pytest

from idmerge.identity import Mode
from idmerge.profiles.book import ProfileBook
from idmerge.profiles.reading import combine_profiles, group_profile, person_profile

from .test_book import upd

MIXPANEL_MODES = [Mode.SIMPLIFIED, Mode.ORIGINAL, Mode.LEGACY]


def cluster_book() -> ProfileBook:
    """u (resolved), d1 and d2 each got profile updates before they merged."""
    return ProfileBook.load(
        [
            upd(1, "$set", {"name": "Ann", "plan": "pro"}, target="u", ignore_time=True),
            upd(2, "$set", {"plan": "free", "city": "Oslo", "x": 1}, target="d1", ignore_time=True),
            upd(3, "$set", {"city": "Rome", "lang": "it"}, target="d2", ignore_time=True),
        ]
    )


@pytest.mark.parametrize("mode", MIXPANEL_MODES)
def test_mixpanel_modes_show_only_the_resolved_profile(mode: Mode) -> None:
    book = cluster_book()
    assert person_profile(book, ["d1", "u", "d2"], "u", mode) == {"name": "Ann", "plan": "pro"}
    assert person_profile(book, ["d1", "u", "z"], "z", mode) is None  # others stay hidden


def test_cdp_primary_wins_and_fills_gaps_newest_first() -> None:
    """d2 was updated after d1, so its city fills u's gap."""
    combined = person_profile(cluster_book(), ["d1", "u", "d2"], "u", Mode.CDP)
    assert combined == {"name": "Ann", "plan": "pro", "city": "Rome", "lang": "it", "x": 1}


def test_cdp_without_a_primary_profile_combines_the_others() -> None:
    combined = person_profile(cluster_book(), ["d1", "d2", "z"], "z", Mode.CDP)
    assert combined == {"city": "Rome", "lang": "it", "plan": "free", "x": 1}
    assert person_profile(cluster_book(), ["q", "z"], "z", Mode.CDP) is None


def test_deleted_profiles_do_not_count() -> None:
    book = cluster_book()
    book.apply([upd(4, "$delete", target="d2"), upd(5, "$delete", target="u")])
    assert person_profile(book, ["u", "d1", "d2"], "u", Mode.CDP) == {
        "plan": "free",
        "city": "Oslo",
        "x": 1,
    }
    assert person_profile(book, ["u", "d1", "d2"], "u", Mode.SIMPLIFIED) is None


def test_the_answer_belongs_to_the_caller() -> None:
    book = ProfileBook.load([upd(1, "$union", {"l": ["a"]}, target="u")])
    seen = person_profile(book, ["u"], "u", Mode.ORIGINAL)
    assert seen is not None
    seen["l"].append("b")
    assert person_profile(book, ["u"], "u", Mode.ORIGINAL) == {
        "l": ["a"],
        "$last_seen": "1970-01-01T00:00:01",
    }


def test_group_profile() -> None:
    book = ProfileBook.load(
        [
            upd(1, "$set", {"n": 1}, kind="group", group_key="company", target="acme"),
            upd(2, "$set", {"n": 2}, kind="group", group_key="team", target="acme"),
            upd(3, "$set", {"n": 3}, target="acme"),
        ]
    )
    assert group_profile(book, "company", "acme") == {"n": 1, "$last_seen": "1970-01-01T00:00:01"}
    assert group_profile(book, "company", "other") is None


def test_combine_profiles_takes_the_first_other_with_a_key() -> None:
    assert combine_profiles(None, [{"a": 1}, {"a": 2, "b": 2}]) == {"a": 1, "b": 2}
    assert combine_profiles({"a": 0}, []) == {"a": 0}
