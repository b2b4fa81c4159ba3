"""Disjoint sets of ids with constant-time resolution, kept out of the collector's way.

An id that never took part in a link or merge is absent: it is a cluster of one and
resolves to itself. Every id that did maps straight to its cluster's number, so
``resolve`` is one dictionary look-up and one list index; a union relabels the
smaller side only. Unlike a textbook union-find, the id a cluster resolves to is
chosen by the caller (the modes have rules for it), not by which side was larger.

A cluster is a number, not an object: its facts are columns (lists indexed by the
number). Its ids: the resolved id, a column; in a cluster of two (most of them: a
device and its user), the other id, a column too; from three ids on, a ring through
one dictionary (each id names the next). Keeping pairs out of the ring spares two
inserts in a dictionary of every clustered id, whose slots no cache holds: a fifth of
``original``'s merge time (benchmarks/README.md). A server
holds millions of clusters for its whole life, and the garbage collector visits
every container object at each of its passes; an object and an id list per cluster
were a third of the engine's time in those visits (benchmarks/README.md). A
dictionary of strings to numbers or strings is not even tracked by the collector,
and a list of numbers is one object however long.

A cluster's history (the log entries that linked or merged it) is a chain through
the engine's log: the first and last entry's index per cluster, and per entry the
index of the next one of the same cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final, cast

from idmerge.identity.model import Resolutions

#: What :meth:`Clusters.get` answers for an id that is a cluster of one.
ALONE: Final = -1


class Clusters:
    """Every id's cluster, plus notes of the ids whose resolved id changed lately."""

    __slots__ = (
        "_first",
        "_identified",
        "_last",
        "_merges",
        "_next",
        "_noted",
        "_noted_in",
        "_numbers",
        "_of",
        "_partner",
        "_renoted",
        "_resolved",
        "_size",
        "_then",
        "built",
        "tracking",
    )

    def __init__(self) -> None:
        #: id -> its cluster's number, as the one int object of ``_numbers``: compiled,
        #: an int is boxed anew at every store into a dictionary (32 bytes per id)
        self._of: dict[str, object] = {}
        #: id -> the next id of its cluster's ring: only for clusters of three or more
        self._next: dict[str, str] = {}
        # per cluster number; an absorbed cluster's number is never used again
        self._numbers: list[object] = []  # the number itself, boxed once
        self._resolved: list[str] = []
        self._partner: list[str] = []  # in a cluster of two, its other id ("" otherwise)
        self._size: list[int] = []
        self._merges: list[int] = []  # unions of two multi-id clusters that built it (cdp)
        self._identified: list[bool] = []  # holds an id used as $identified_id (original)
        self._first: list[int] = []  # the ends of its history's chain (-1: none yet)
        self._last: list[int] = []
        #: per log index, the index of the next entry of the same history (-1: none)
        self._then: list[int] = []
        #: ids whose resolved id may have changed since the caller last drained them,
        #: each beside its cluster's number then. Lists, not a dict: nearly every note
        #: is of an id that just joined a cluster, which no note names yet, and a
        #: dict, emptied at each drain, rehashed itself as it grew again (a tenth of
        #: ``original``'s merge time, benchmarks/README.md). Only a join of two
        #: clusters or a new resolved id notes an id again, and sets ``_renoted``.
        self._noted: list[str] = []
        self._noted_in: list[object] = []
        self._renoted = False
        #: whether to note changes at all (a replay rebuilds everything, so it does not)
        self.tracking = True
        #: the cluster the latest ``attach`` or ``join`` left: the engine files the
        #: deciding log entry under it without looking the ids up again
        self.built = ALONE

    # -- reading -----------------------------------------------------------------

    def get(self, distinct_id: str) -> int:
        """The number of an id's cluster, or ``ALONE`` for a cluster of one."""
        return cast(int, self._of.get(distinct_id, ALONE))

    def resolve(self, distinct_id: str) -> str:
        cluster = self.get(distinct_id)
        return distinct_id if cluster < 0 else self._resolved[cluster]

    def size(self, distinct_id: str) -> int:
        return self.size_of(self.get(distinct_id))

    def size_of(self, cluster: int) -> int:
        """How many ids ``cluster`` (as ``get`` answered it) holds."""
        return 1 if cluster < 0 else self._size[cluster]

    def merges_of(self, cluster: int) -> int:
        return 0 if cluster < 0 else self._merges[cluster]

    def identified(self, cluster: int) -> bool:
        return cluster >= 0 and self._identified[cluster]

    def mark_identified(self, cluster: int) -> None:
        self._identified[cluster] = True

    def members(self, distinct_id: str) -> list[str]:
        """The ids of ``distinct_id``'s cluster, in no particular order."""
        cluster = self.get(distinct_id)
        return [distinct_id] if cluster < 0 else list(self._ids(cluster))

    def together(self, a: str, b: str) -> bool:
        if a == b:
            return True
        cluster = self.get(a)
        return cluster >= 0 and cluster == self.get(b)

    # -- changing ----------------------------------------------------------------

    def _start(self, distinct_id: str) -> int:
        """The new cluster of an id that was a cluster of one."""
        cluster = len(self._resolved)
        number: object = cluster
        self._numbers.append(number)
        self._of[distinct_id] = number
        self._resolved.append(distinct_id)
        self._partner.append("")
        self._size.append(1)
        self._merges.append(0)
        self._identified.append(False)
        self._first.append(-1)
        self._last.append(-1)
        return cluster

    def attach(self, keep: str, cluster: int, newcomer: str) -> int:
        """Add ``newcomer``, a cluster of one, to ``keep``'s ``cluster`` (as ``get``
        answered it: ``ALONE`` when ``keep`` is a cluster of one too)."""
        if cluster < 0:
            cluster = self._start(keep)
        size = self._size[cluster]
        if size == 1:  # keep is its only id: now a pair
            self._partner[cluster] = newcomer
        else:
            self._ring_up(cluster)
            following = self._next
            following[newcomer] = following[keep]
            following[keep] = newcomer
        number = self._numbers[cluster]
        self._of[newcomer] = number
        self._size[cluster] = size + 1
        if self.tracking:
            self._noted.append(newcomer)
            self._noted_in.append(number)
        self.built = cluster
        return cluster

    def union(self, keep: str, other: str) -> int:
        """Join ``other``'s cluster to ``keep``'s; the result resolves as ``keep``'s did,
        and counts one more merge (the ``cdp`` limit)."""
        return self.join(keep, self.get(keep), other, self.get(other))

    def join(self, keep: str, a: int, other: str, b: int) -> int:
        """``union`` for a caller that has looked up both ids' clusters (``a``, ``b``)."""
        if keep == other:
            self.built = a = self._start(keep) if a < 0 else a
            return a
        if b < 0:  # the usual case: a new id joins a cluster
            a = self.attach(keep, a, other)
            self._merges[a] += 1
            return a
        if a < 0:  # keep, alone, joins b's cluster, which now resolves as keep
            self.attach(other, b, keep)
            self._merges[b] += 1
            self._resolve_as(b, keep)
            return b
        if a == b:
            self.built = a
            return a
        sizes = self._size
        big, small = (a, b) if sizes[a] >= sizes[b] else (b, a)
        of, number = self._of, self._numbers[big]
        tracking = self.tracking
        noted, noted_in = self._noted, self._noted_in
        self._renoted = self._renoted or tracking
        for member in self._ids(small):  # relabel the smaller side
            of[member] = number
            if tracking:
                noted.append(member)
                noted_in.append(number)
        # then put its ids beside the bigger side's: as its pair, or spliced into its ring
        start, anchor = self._resolved[small], self._resolved[big]
        if sizes[big] + sizes[small] == 2:
            self._partner[big] = start
        else:
            self._ring_up(big)
            self._ring_up(small)
            following = self._next
            following[anchor], following[start] = following[start], following[anchor]
        sizes[big] += sizes[small]
        self._resolve_as(big, self._resolved[a])
        if self._first[small] >= 0:  # big's history goes on with small's
            if self._last[big] >= 0:
                self._then[self._last[big]] = self._first[small]
            else:
                self._first[big] = self._first[small]
            self._last[big] = self._last[small]
        self._merges[big] = self._merges[a] + self._merges[b] + 1
        self._identified[big] = self._identified[a] or self._identified[b]
        self.built = big
        return big

    def _resolve_as(self, cluster: int, resolved: str) -> None:
        """Make ``cluster`` resolve to ``resolved`` (one of its ids), noting the change
        for every id of it."""
        before = self._resolved[cluster]
        if before == resolved:
            return
        self._resolved[cluster] = resolved
        if self._size[cluster] == 2:  # resolved was the pair's other id; now before is
            self._partner[cluster] = before
        if self.tracking:
            number = self._numbers[cluster]
            noted, noted_in = self._noted, self._noted_in
            for member in self._ids(cluster):
                noted.append(member)
                noted_in.append(number)
            self._renoted = True

    def _ids(self, cluster: int) -> Iterator[str]:
        """The ids of ``cluster``, its resolved id first."""
        start = self._resolved[cluster]
        yield start
        size = self._size[cluster]
        if size == 2:
            yield self._partner[cluster]
        elif size > 2:
            following = self._next
            member = following[start]
            while member != start:
                yield member
                member = following[member]

    def _ring_up(self, cluster: int) -> None:
        """Put the ids of ``cluster`` in the ring, which holds only clusters of three or
        more ids, before it grows past two."""
        size = self._size[cluster]
        resolved = self._resolved[cluster]
        if size == 1:
            self._next[resolved] = resolved
        elif size == 2:
            partner = self._partner[cluster]
            self._next[resolved] = partner
            self._next[partner] = resolved
            self._partner[cluster] = ""

    # -- history -----------------------------------------------------------------

    def record(self, cluster: int, index: int) -> None:
        """File the log entry at ``index``, a link or merge that built ``cluster``, in
        its history. Indexes grow from call to call (entries in no history leave a
        gap)."""
        then = self._then
        while len(then) <= index:
            then.append(-1)
        last = self._last[cluster]
        if last >= 0:
            then[last] = index
        else:
            self._first[cluster] = index
        self._last[cluster] = index

    def history(self, cluster: int) -> list[int]:
        """The log indexes recorded for ``cluster`` and the clusters it absorbed."""
        found = []
        index = self._first[cluster] if cluster >= 0 else -1
        while index >= 0:
            found.append(index)
            index = self._then[index]
        return found

    # -- what changed ------------------------------------------------------------

    def drain_changes(self) -> Resolutions:
        """Every id whose resolved id may have changed, with its resolved id now: each
        id once, in the order they were first noted."""
        noted, noted_in, renoted = self._noted, self._noted_in, self._renoted
        self._noted, self._noted_in, self._renoted = [], [], False
        if renoted:  # an id's last note holds its cluster now
            latest = dict(zip(noted, noted_in, strict=True))
            noted, noted_in = list(latest), list(latest.values())
        resolved = self._resolved
        return Resolutions(noted, [resolved[cast(int, c)] for c in noted_in])

    def changes_pending(self) -> int:
        """How many notes the next ``drain_changes`` reads (an id may have several)."""
        return len(self._noted)

    def mapping(self) -> Iterator[tuple[str, str]]:
        """``(id, resolved id)`` for every id that resolves to another id."""
        resolved = self._resolved
        for distinct_id, number in self._of.items():
            cluster = cast(int, number)
            if resolved[cluster] != distinct_id:
                yield distinct_id, resolved[cluster]

    def __contains__(self, distinct_id: object) -> bool:
        """True for an id that took part in a link or merge (so is in a cluster)."""
        return distinct_id in self._of

    def __len__(self) -> int:
        """How many ids belong to a cluster of more than one."""
        return len(self._of)
