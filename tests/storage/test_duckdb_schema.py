"""Decoding the identity log's Arrow rows (what a rebuild reads)."""

from __future__ import annotations

import pytest

from idmerge.identity import LogColumns, LogEntry, Op, Outcome
from idmerge.storage.duckdb_schema import log_entries, log_table

#: ids per entry: pairs (the usual case, decoded by a faster path) and other counts
LOG = [
    LogEntry(
        seq,
        Op.MERGE,
        tuple(f"x{seq}-{k}" for k in range(n)),
        Outcome.MERGED,
        None,
        "$merge",
        None,
        7,
    )
    for seq, n in enumerate([2, 2, 1, 3, 2, 2, 2, 0, 2])
]


@pytest.mark.parametrize("first, count", [(0, 9), (2, 5), (4, 5), (5, 2), (0, 2), (7, 1)])
def test_a_slice_of_log_rows_decodes_to_its_own_entries(first: int, count: int) -> None:
    """Arrow hands batches that may be slices of a larger array: each row's ids are
    its own, whether every row of the slice names two ids or not."""
    batch = log_table(LogColumns.of(LOG)).slice(first, count).to_batches()[0]
    assert list(log_entries(batch)) == LOG[first : first + count]
