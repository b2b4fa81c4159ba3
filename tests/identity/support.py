"""Helpers shared by the identity tests."""

from __future__ import annotations

from idmerge.identity import Resolutions


def upsert(table: dict[str, str], changes: Resolutions) -> None:
    """Apply drained changes to ``table`` as a store does: each id's row upserted, a
    self-map deleting it; a store inserts the rows as they come, so each id once."""
    assert len(set(changes.ids)) == len(changes)
    for distinct_id, resolved in changes:
        if distinct_id == resolved:
            table.pop(distinct_id, None)
        else:
            table[distinct_id] = resolved
