"""Snapshot tests of generated SQL: the SQL a report runs is part of its behaviour,
and a change to it should be seen in review.

``assert_snapshot(name, sql)`` compares ``sql`` with ``query/snapshots/<name>.sql``; run the
tests with ``IDMERGE_UPDATE_SNAPSHOTS=1`` to write the files afresh, then read the
diff before committing it.
"""

from __future__ import annotations

import os
from pathlib import Path

SNAPSHOTS = Path(__file__).parent / "query" / "snapshots"


def assert_snapshot(name: str, sql: str) -> None:
    path = SNAPSHOTS / f"{name}.sql"
    text = sql.strip() + "\n"
    if os.environ.get("IDMERGE_UPDATE_SNAPSHOTS") == "1":
        path.write_text(text)
        return
    assert path.exists(), f"no snapshot {path.name}: run with IDMERGE_UPDATE_SNAPSHOTS=1"
    assert text == path.read_text(), (
        f"the SQL differs from {path.name}; if the change is meant, rerun with "
        "IDMERGE_UPDATE_SNAPSHOTS=1 and review the diff"
    )
