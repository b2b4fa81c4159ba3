"""What every identity mode provides: :class:`Rules`, the base of the four modes.

A base class rather than a protocol: compiled by mypyc, the engine then calls a
mode's ``read`` and ``decide`` through the class's method table, and ``read`` hands
its six-field reading back without building a tuple object. Through a protocol each
call went through Python's generic call and argument parsing; this change alone
made ``original``'s merges 3-5 % faster (benchmarks/README.md).
"""

from __future__ import annotations

from abc import abstractmethod

from idmerge.identity.clusters import Clusters
from idmerge.identity.model import Decision, Event, Op, Reading
from idmerge.identity.policy import Policy


class Rules:
    """One identity mode: reads events, and decides identity operations on its clusters."""

    #: the property a refused event gets, holding the reason code
    failure_property: str
    #: whether the mode also writes the reason in plain words (``$failure_description``)
    describes_failures: bool

    def __init__(self, policy: Policy, clusters: Clusters) -> None:
        self.policy = policy
        self.clusters = clusters

    @abstractmethod
    def read(self, event: Event) -> Reading:
        """What ``event`` asks for, before any state is consulted."""

    def decide(self, op: Op, ids: tuple[str, ...]) -> Decision:
        """Apply ``op`` on ``ids`` to the clusters if the mode's rules allow it."""
        return self._decide(op, ids, screened=False)

    def redecide(self, op: Op, ids: tuple[str, ...]) -> Decision:
        """``decide`` for a replay: the ids passed the stateless checks already."""
        return self._decide(op, ids, screened=True)

    @abstractmethod
    def _decide(self, op: Op, ids: tuple[str, ...], *, screened: bool) -> Decision:
        """The mode's decision; ``screened``: skip the checks that depend on nothing
        but the ids and the policy (junk ids, same ids, GUID shape)."""
