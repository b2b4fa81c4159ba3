"""Sample records shared by the wire tests."""

from __future__ import annotations

from typing import Any

NOW_MS = 1_700_000_000_000  # 2023-11-14T22:13:20Z
NOW_S = NOW_MS // 1000


def mp_event(name: Any = "Purchase", **properties: Any) -> dict[str, Any]:
    """A valid /import record; keyword arguments replace properties (None drops one)."""
    props: dict[str, Any] = {
        "token": "TOKEN",
        "time": NOW_S - 60,
        "distinct_id": "user-1",
        "$insert_id": "a1b2c3d4-0000-4000-8000-000000000001",
    }
    props.update(properties)
    return {"event": name, "properties": {k: v for k, v in props.items() if v is not None}}
