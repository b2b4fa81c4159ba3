"""A small harness around the identity engine: one project, its engine and its log.

The harness plays the part of ingestion: it numbers events, keeps every ``Step`` the
engine answered, appends each log entry to the project's identity log, and applies a
split the way the product does (append the split entry, rebuild with ``replay``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import pytest

from idmerge.identity import (
    Event,
    IdentityEngine,
    LogEntry,
    Mode,
    Outcome,
    Policy,
    Reason,
    Step,
    split_entry,
)


class Harness:
    """One project: an engine, the identity log it produced, and every answer."""

    def __init__(self, mode: Mode, **policy: Any) -> None:
        self.mode = mode
        self.policy = Policy.for_mode(mode, **policy)
        self.engine = IdentityEngine(self.policy)
        self.log: list[LogEntry] = []
        self.steps: list[Step] = []
        self.seq = 0

    # -- sending -------------------------------------------------------------

    def send(
        self,
        name: str,
        props: Mapping[str, Any] | None = None,
        *,
        insert_id: str | None = None,
        trusted: bool = False,
        time: int | None = None,
    ) -> Step:
        """Ingest one event; its log entry, if any, joins the project's log."""
        self.seq += 1
        event = Event(
            name,
            dict(props or {}),
            time=self.seq * 1000 if time is None else time,
            insert_id=insert_id,
            trusted=trusted,
        )
        step = self.engine.apply(event, self.seq)
        self.steps.append(step)
        if step.entry is not None:
            self.log.append(step.entry)
        return step

    def track(
        self,
        user: str | None = None,
        device: str | None = None,
        *,
        distinct_id: str | None = None,
        name: str = "Page View",
        insert_id: str | None = None,
    ) -> Step:
        """An ordinary event carrying any of ``$user_id``, ``$device_id``, ``distinct_id``."""
        props: dict[str, Any] = {}
        if user is not None:
            props["$user_id"] = user
        if device is not None:
            props["$device_id"] = device
        if distinct_id is not None:
            props["distinct_id"] = distinct_id
        return self.send(name, props, insert_id=insert_id)

    def identify(self, identified: Any, anon: Any, *, insert_id: str | None = None) -> Step:
        """``$identify`` in the documented server form."""
        return self.send(
            "$identify", {"$identified_id": identified, "$anon_id": anon}, insert_id=insert_id
        )

    def alias(self, alias: Any, distinct_id: Any, *, insert_id: str | None = None) -> Step:
        """``$create_alias``: ``alias`` (the new id) onto ``distinct_id`` (the existing id).

        In ``cdp`` mode this is a translated Segment ``alias`` call: ``alias`` is the
        ``userId`` and ``distinct_id`` the ``previousId``.
        """
        return self.send(
            "$create_alias", {"alias": alias, "distinct_id": distinct_id}, insert_id=insert_id
        )

    def merge(self, *ids: Any, trusted: bool = True, insert_id: str | None = None) -> Step:
        """``$merge`` of ``ids``; trusted (sent through ``/import``) unless told otherwise."""
        return self.send(
            "$merge", {"$distinct_ids": list(ids)}, trusted=trusted, insert_id=insert_id
        )

    # -- reading -------------------------------------------------------------

    def cluster(self, distinct_id: str) -> set[str]:
        return set(self.engine.cluster(distinct_id))

    def resolve(self, distinct_id: str) -> str:
        return self.engine.resolve(distinct_id)

    def history(self, distinct_id: str) -> list[tuple[Outcome, Reason | None, str]]:
        """``(outcome, reason, event name)`` of the explain history of ``distinct_id``."""
        return [(e.outcome, e.reason, e.event) for e in self.engine.explain(distinct_id).history]

    # -- splitting -----------------------------------------------------------

    def split(self, **target: Any) -> LogEntry | str:
        """Split as the product does: append the split entry and rebuild by replay."""
        self.seq += 1
        entry = split_entry(self.log, self.engine, seq=self.seq, time=self.seq * 1000, **target)
        if isinstance(entry, LogEntry):
            self.log.append(entry)
            self.engine = self.replayed()
        return entry

    def replayed(self, log: Iterable[LogEntry] | None = None) -> IdentityEngine:
        return IdentityEngine.replay(
            self.policy, self.log if log is None else log, seen_ids=self.engine.seen_ids
        )


@pytest.fixture(scope="session")
def project() -> Callable[..., Harness]:
    """A factory of fresh projects: ``project(Mode.X, max_cluster_ids=..., ...)``."""
    return Harness


@pytest.fixture
def simplified() -> Harness:
    return Harness(Mode.SIMPLIFIED)


@pytest.fixture
def original() -> Harness:
    return Harness(Mode.ORIGINAL)


@pytest.fixture
def legacy() -> Harness:
    return Harness(Mode.LEGACY)


@pytest.fixture
def cdp() -> Harness:
    return Harness(Mode.CDP)
