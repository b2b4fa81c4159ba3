"""The engine's log held column by column (``LogColumns``) reads back as the entries
that went in, whichever way they went in."""

from __future__ import annotations

import gc

import pytest
from hypothesis import given
from hypothesis import strategies as st

from idmerge.identity import (
    Event,
    IdentityEngine,
    LogColumns,
    LogEntry,
    Mode,
    Op,
    Outcome,
    Policy,
    Reason,
    Resolutions,
)

#: as many ids as entries name: none (a refusal of missing ids), one (a detach), two
#: (nearly all), or more (an undo)
ids = st.lists(st.text(max_size=4), max_size=5).map(tuple)
entries = st.builds(
    LogEntry,
    seq=st.integers(0, 10**12),
    op=st.sampled_from(Op),
    ids=ids,
    outcome=st.sampled_from(Outcome),
    reason=st.none() | st.sampled_from(Reason),
    event=st.text(max_size=8),
    insert_id=st.none() | st.text(max_size=8),
    time=st.integers(0, 2**50),
    undoes=st.tuples() | st.tuples(st.integers(0, 99)),
)


@given(st.lists(entries, max_size=20), st.integers(0, 20))
def test_entries_read_back_as_they_went_in(rows: list[LogEntry], start: int) -> None:
    at_once = LogColumns.of(rows)
    in_two = LogColumns.of(rows[:start])
    in_two.extend(LogColumns.of(rows[start:]))
    assert list(at_once) == list(in_two) == rows
    assert at_once == in_two
    assert [at_once[i] for i in range(len(rows))] == rows
    assert list(at_once.since(start)) == rows[start:]
    assert len(at_once.since(start)) == len(rows[start:])
    assert LogColumns.of(iter(rows)) == at_once


def test_add_logs_an_entry_that_undoes_nothing() -> None:
    log = LogColumns()
    assert log.add(7, Op.LINK, ("u", "$device:d"), Outcome.LINKED, None, "e", "i", 9) == 0
    assert list(log) == [
        LogEntry(7, Op.LINK, ("u", "$device:d"), Outcome.LINKED, None, "e", "i", 9)
    ]
    assert log != LogColumns()


def test_the_engine_keeps_no_object_per_merge_for_the_collector() -> None:
    """What the engine keeps per merge is no container the garbage collector tracks
    for life (the reason for clusters as numbers and the log in columns): after
    one collection, a thousand merges leave only a handful of tracked objects."""
    engine = IdentityEngine(Policy.for_mode(Mode.ORIGINAL))
    anon = "{:08x}-0000-4000-8000-000000000000".format
    events = [
        Event(
            "$identify",
            {"distinct_id": f"user-{n}", "$identified_id": f"user-{n}", "$anon_id": anon(n)},
            time=n,
            insert_id=f"i{n}",
        )
        for n in range(1000)
    ]
    gc.collect()
    before = len(gc.get_objects())
    applied = engine.apply_many(events, 0)
    assert applied.outcomes == [Outcome.MERGED] * 1000
    del applied
    gc.collect()
    assert len(gc.get_objects()) - before < 50
    assert engine.resolve(anon(999)) == "user-999"
    assert [entry.seq for entry in engine.explain(anon(5)).history] == [5]


def test_a_new_engines_containers_start_in_the_oldest_generation() -> None:
    """The columns that grow to millions of items are promoted while empty, so no young
    collection ever walks them (only a full one does)."""
    engine = IdentityEngine(Policy.for_mode(Mode.ORIGINAL))
    oldest = {id(o) for o in gc.get_objects(generation=2)}
    assert id(engine._log.seq) in oldest
    assert id(engine._log.first_id) in oldest
    assert id(engine._delivered) in oldest
    assert not {id(engine._log.seq), id(engine._delivered)} & {
        id(o) for generation in (0, 1) for o in gc.get_objects(generation=generation)
    }


# -- Resolutions: the changed ids the engine hands the writer --------------------------


@given(st.lists(st.tuples(st.text(max_size=4), st.text(max_size=4))))
def test_resolutions_read_back_as_the_pairs_that_went_in(pairs: list[tuple[str, str]]) -> None:
    resolutions = Resolutions.of(pairs)
    assert list(resolutions) == pairs
    assert len(resolutions) == len(pairs)
    assert resolutions.ids == [x for x, _ in pairs]
    assert resolutions.resolved == [r for _, r in pairs]
    assert resolutions == Resolutions(resolutions.ids, resolutions.resolved)
    assert bool(resolutions) is bool(pairs)


def test_resolutions_refuse_columns_of_two_lengths() -> None:
    with pytest.raises(ValueError, match="2 ids but 1 resolved ids"):
        Resolutions(["a", "b"], ["a"])
