"""The least work an Original ID Merge identity event can cost in CPython: read its
two ids, look both up in the id -> cluster map, join them, remember its
``$insert_id``, log it. No checks, no outcomes, no history, no change set.

:mod:`benchmarks.identity_floor` times this loop beside the engine on the same
events, compiled by mypyc as the engine is. Kept apart from that module so that it
compiles on its own.
"""

from __future__ import annotations

from typing import Any


class Group:
    """A cluster: its ids and its resolved id."""

    __slots__ = ("ids", "resolved")

    def __init__(self, first: str) -> None:
        self.ids: list[str] = [first]
        self.resolved = first


def floor_pass(
    events: list[Any],
    first_seq: int,
    of: dict[str, Group],
    delivered: set[str],
    log: list[tuple[int, str, str, str]],
) -> int:
    """Apply ``events`` (identity events of the ``original`` stream) to ``of``."""
    applied = 0
    seq = first_seq
    for event in events:
        props: dict[str, Any] = event.properties
        name: str = event.name
        a: Any
        b: Any
        if name == "$identify":
            a = props.get("$identified_id")
            if a is None:
                a = props.get("distinct_id")
            b = props.get("$anon_id")
            if b is None:
                b = props.get("$anon_distinct_id")
        elif name == "$create_alias":
            a = props.get("distinct_id")
            b = props.get("alias")
        else:
            pair: Any = props.get("$distinct_ids")
            a, b = pair[0], pair[1]
        insert_id: str = event.insert_id
        if insert_id in delivered or type(a) is not str or type(b) is not str:
            seq += 1
            continue
        mine = of.get(a)
        theirs = of.get(b)
        if mine is None:
            mine = of[a] = Group(a)
        if theirs is None:
            mine.ids.append(b)
            of[b] = mine
        elif theirs is not mine:
            for x in theirs.ids:
                of[x] = mine
            mine.ids.extend(theirs.ids)
        delivered.add(insert_id)
        log.append((seq, a, b, insert_id))
        seq += 1
        applied += 1
    return applied
