"""Build users' event streams the way a reader tells them: ``journeys({...})``.

::

    events = journeys(Mode.SIMPLIFIED, {
        "alice": [
            track("2024-05-01 10:00", "App Open", device=D1),
            track("2024-05-01 10:05", "Sign Up", device=D1, user="alice"),  # the login
        ],
        "bob": [track("2024-05-02 09:00", "App Open", device=D2)],
    })

Each person's steps become :class:`~idmerge.identity.Event` values as that mode's
SDKs would send them; the result is ordered by time (ties keep the order written),
as a collector receives them. Times are UTC ``YYYY-MM-DD HH:MM[:SS]``. Every event
gets a deterministic ``$insert_id`` (``<person>-<n>``) unless the step names one.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from idmerge.identity import Event, Mode
from idmerge.ingest import ProjectWriter


def device_id(n: int) -> str:
    """A GUID-shaped anonymous id (Original ID Merge refuses others), readable by
    its number."""
    return f"00000000-0000-4000-8000-{n:012d}"


def ms(when: str) -> int:
    """``YYYY-MM-DD HH:MM[:SS]`` (UTC) in ms since the epoch."""
    moment = dt.datetime.fromisoformat(when).replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1000)


@dataclass(frozen=True)
class Step:
    when: str
    name: str
    properties: dict[str, Any] = field(default_factory=dict)
    #: for track: the ids, turned into each mode's properties by journeys()
    device: str | None = None
    user: str | None = None
    distinct_id: str | None = None
    trusted: bool = False
    insert_id: str | None = None


def track(
    when: str,
    name: str,
    *,
    device: str | None = None,
    user: str | None = None,
    distinct_id: str | None = None,
    insert_id: str | None = None,
    **properties: Any,
) -> Step:
    """An ordinary event from a device and/or a logged-in user."""
    return Step(when, name, properties, device, user, distinct_id, insert_id=insert_id)


def identify(when: str, anon: str, user: str) -> Step:
    """Original ID Merge's ``$identify`` (the SDK form), a login in ``cdp``."""
    props = {"distinct_id": user, "$anon_distinct_id": anon, "$identified_id": user}
    return Step(when, "$identify", props, device=anon, user=user)


def alias(when: str, new: str, existing: str) -> Step:
    return Step(when, "$create_alias", {"distinct_id": existing, "alias": new})


def merge(when: str, first: str, second: str) -> Step:
    """``$merge``, as sent through the authenticated ``/import``."""
    return Step(when, "$merge", {"$distinct_ids": [first, second]}, trusted=True)


def _properties(mode: Mode, step: Step) -> dict[str, Any]:
    props = dict(step.properties)
    if step.name in ("$create_alias", "$merge"):
        return props
    if step.name == "$identify":
        if mode in (Mode.SIMPLIFIED, Mode.CDP):
            props = {"$device_id": step.device, "$user_id": step.user, "distinct_id": step.user}
        return props
    if mode in (Mode.SIMPLIFIED, Mode.CDP):
        if step.device is not None:
            props["$device_id"] = step.device
        if step.user is not None:
            props["$user_id"] = step.user
        props["distinct_id"] = step.distinct_id or step.user or f"$device:{step.device}"
    else:
        props["distinct_id"] = step.distinct_id or step.user or step.device
        if step.device is not None:
            props["$device_id"] = step.device
    return props


def journeys(mode: Mode, people: Mapping[str, Sequence[Step]]) -> list[Event]:
    """Every person's steps as events, in time order."""
    timed: list[tuple[int, int, Event]] = []
    order = 0
    for person, steps in people.items():
        for n, step in enumerate(steps):
            when = ms(step.when)
            props = _properties(mode, step)
            props.setdefault("time", when)
            insert_id = step.insert_id or f"{person}-{n}"
            props["$insert_id"] = insert_id
            event = Event(step.name, props, when, insert_id, trusted=step.trusted)
            timed.append((when, order, event))
            order += 1
    return [event for _, _, event in sorted(timed, key=lambda t: (t[0], t[1]))]


def ingest(writer: ProjectWriter, events: Iterable[Event], received_at: int = 0) -> None:
    """Store ``events`` one batch at a time, ``received_at`` defaulting to the time of
    the newest event (so processing times are plausible)."""
    batch = list(events)
    if batch:
        writer.ingest(batch, received_at=received_at or max(e.time for e in batch))
