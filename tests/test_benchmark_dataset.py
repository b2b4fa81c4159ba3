"""The query benchmarks' data set: fixed-seed, built through the library, cached.

Benchmarks compare runs, so the data under them must be the same every time; these
tests build a tiny one twice and compare what the store holds.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from idmerge.storage.base import StoredEvent
from idmerge.storage.duckdb import open_store

# benchmarks/ is not installed: `python -m pytest` finds it from the repository root,
# plain `pytest` only with this
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks import dataset
from benchmarks.dataset import DatasetSpec, build, load_manifest

SPEC = DatasetSpec(events=5_000, ids=1_000, big_cluster=50)


def _contents(directory: Path) -> tuple[list[StoredEvent], list[tuple[str, str]]]:
    project_id = load_manifest(directory)["project"]["id"]
    store = open_store(directory)
    try:
        return list(store.read_events(project_id)), list(store.read_mapping(project_id))
    finally:
        store.close()


@pytest.fixture(scope="module")
def twice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The same spec built in two unrelated directories."""
    return (
        build(SPEC, tmp_path_factory.mktemp("first") / "data"),
        build(SPEC, tmp_path_factory.mktemp("second") / "data"),
    )


def test_the_same_spec_gives_the_same_events_and_mapping(twice: tuple[Path, Path]) -> None:
    first, second = (_contents(directory) for directory in twice)
    assert first == second
    events, mapping = first
    assert len(events) == SPEC.events
    assert mapping  # logins merged devices into users
    assert load_manifest(twice[0])["counts"] == load_manifest(twice[1])["counts"]


def test_another_seed_gives_other_events(tmp_path: Path) -> None:
    other = build(DatasetSpec(events=2_000, ids=400, seed=7, big_cluster=0), tmp_path / "d")
    same = build(DatasetSpec(events=2_000, ids=400, seed=42, big_cluster=0), tmp_path / "e")
    assert _contents(other)[0] != _contents(same)[0]


def test_the_events_look_like_a_collectors(twice: tuple[Path, Path]) -> None:
    events, _ = _contents(twice[0])
    times = [event.time for event in events]
    assert times == sorted(times)  # ingested in time order
    assert all(event.received_at >= event.time for event in events)
    start = SPEC.start_ms
    assert start <= times[0] and times[-1] < start + SPEC.days * 86_400_000
    names = {event.name for event in events}
    assert {"App Open", "Sign Up", "View Item", "Add To Cart", "Purchase"} <= names
    # some events were re-sent: same insert_id, same event, same time
    seen: dict[str | None, StoredEvent] = {}
    resent = 0
    for event in events:
        earlier = seen.setdefault(event.insert_id, event)
        if earlier is not event:
            resent += 1
            assert (earlier.name, earlier.time, earlier.properties) == (
                event.name,
                event.time,
                event.properties,
            )
    counts: dict[str, Any] = load_manifest(twice[0])["counts"]
    assert resent == counts["duplicate_events"] > 0
    assert 0.8 * SPEC.ids <= counts["distinct_stored_ids"] <= 1.1 * SPEC.ids


def test_the_big_cluster_holds_exactly_its_size(twice: tuple[Path, Path]) -> None:
    manifest = load_manifest(twice[0])
    big = manifest["big_cluster"]
    assert big["user_id"] == "user-big-50" == big["resolved_id"]
    assert len(big["ids"]) == len(set(big["ids"])) == 50
    _, mapping = _contents(twice[0])
    into_big = {distinct_id for distinct_id, resolved in mapping if resolved == "user-big-50"}
    assert into_big == set(big["ids"]) - {"user-big-50"}


@pytest.mark.parametrize("mode", ["original", "legacy", "cdp"])
def test_every_mode_merges_and_holds_the_big_cluster(tmp_path: Path, mode: str) -> None:
    spec = DatasetSpec(events=3_000, ids=600, mode=mode, big_cluster=20)
    manifest = load_manifest(build(spec, tmp_path / mode))  # build checks the cluster
    assert manifest["big_cluster"]["size"] == 20
    assert manifest["counts"]["events"] == 3_000
    assert manifest["counts"]["merges"] > 0
    assert manifest["project"]["mode"] == mode


def test_a_complete_build_is_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, twice: tuple[Path, Path]
) -> None:
    monkeypatch.setattr(dataset, "DATA_ROOT", tmp_path)
    path = build(SPEC)
    assert path == tmp_path / SPEC.digest()

    def no_second_build(*args: object, **kwargs: object) -> dict[str, Any]:
        raise AssertionError("built again")

    monkeypatch.setattr(dataset, "_write", no_second_build)
    assert build(SPEC) == path
    assert build(SPEC, twice[0]) == twice[0]
    with pytest.raises(FileExistsError):  # a directory holding another data set
        build(DatasetSpec(events=5_000, ids=1_000, big_cluster=50, seed=1), twice[0])


def test_an_unfinished_directory_is_never_taken_for_a_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = DatasetSpec(events=1_000, ids=200, big_cluster=10)
    monkeypatch.setattr(dataset, "DATA_ROOT", tmp_path)
    (tmp_path / f"{spec.digest()}.partial-999999999").mkdir()  # a killed build's
    (tmp_path / spec.digest()).mkdir()  # empty: built into
    path = build(spec)
    assert load_manifest(path)["counts"]["events"] == 1_000
    assert [p.name for p in tmp_path.iterdir()] == [spec.digest()]  # no leftovers
    stranger = tmp_path / "stranger"
    stranger.mkdir()
    (stranger / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="not a complete data set"):
        build(spec, stranger)
    assert (stranger / "notes.txt").read_text() == "mine"


def test_a_spec_that_cannot_be_built_says_why(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="too few"):
        build(DatasetSpec(events=100, ids=1_000, big_cluster=0), tmp_path / "d")
    assert list(tmp_path.iterdir()) == []  # nothing half-built left behind
    with pytest.raises(ValueError, match="unknown mode"):
        DatasetSpec(mode="hubspot")
