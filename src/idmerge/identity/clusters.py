"""Disjoint sets of ids with constant-time resolution.

An id that never took part in a link or merge is absent: it is a cluster of one and
resolves to itself. Every id that did maps straight to its :class:`Cluster`, so
``resolve`` is one dictionary look-up; a union relabels the smaller side only.
Unlike a textbook union-find, the id a cluster resolves to is chosen by the caller
(the modes have rules for it), not by which side happened to be larger.

A cluster's history (the log entries that linked or merged it) is a chain through
one list of entries, not a list per cluster: a server holds millions of clusters
for its whole life, and every object in them is one more for each of the garbage
collector's full passes to visit (two lists per cluster were half the engine's
objects; see benchmarks/README.md).
"""

from __future__ import annotations

from collections.abc import Iterator

from idmerge.identity.model import LogEntry


class Cluster:
    """The ids that are one user, and the log entries that joined them."""

    __slots__ = ("first", "identified", "ids", "last", "merges", "resolved")

    def __init__(self, first: str) -> None:
        self.ids: list[str] = [first]
        self.resolved = first
        self.merges = 0  # how many unions of two multi-id clusters built it (cdp)
        self.identified = False  # holds an id used as $identified_id (original)
        # the ends of its history's chain in Clusters.entries (-1: no history yet)
        self.first = -1
        self.last = -1


class Clusters:
    """Every id's cluster, plus the set of ids whose resolved id changed lately."""

    __slots__ = ("_of", "_then", "built", "changed", "entries")

    def __init__(self) -> None:
        self._of: dict[str, Cluster] = {}
        #: ids whose resolved id may have changed since the caller last drained it;
        #: None while a replay rebuilds everything (nothing to track then)
        self.changed: dict[str, Cluster] | None = {}
        #: the cluster the latest ``attach`` or ``union`` left: the engine files the
        #: deciding log entry under it without looking the ids up again
        self.built: Cluster | None = None
        #: every recorded history entry, and for each the index of the next entry of
        #: the same cluster's history (-1 after its last)
        self.entries: list[LogEntry] = []
        self._then: list[int] = []

    def get(self, distinct_id: str) -> Cluster | None:
        """The cluster of an id, or None for a cluster of one."""
        return self._of.get(distinct_id)

    def resolve(self, distinct_id: str) -> str:
        cluster = self._of.get(distinct_id)
        return distinct_id if cluster is None else cluster.resolved

    def size(self, distinct_id: str) -> int:
        cluster = self._of.get(distinct_id)
        return 1 if cluster is None else len(cluster.ids)

    def members(self, distinct_id: str) -> list[str]:
        cluster = self._of.get(distinct_id)
        return [distinct_id] if cluster is None else list(cluster.ids)

    def together(self, a: str, b: str) -> bool:
        if a == b:
            return True
        cluster = self._of.get(a)
        return cluster is not None and cluster is self._of.get(b)

    def _start(self, distinct_id: str) -> Cluster:
        """The new cluster of an id that was a cluster of one."""
        cluster = self._of[distinct_id] = Cluster(distinct_id)
        return cluster

    def attach(self, keep: str, cluster: Cluster | None, newcomer: str) -> Cluster:
        """Add ``newcomer``, a cluster of one, to ``keep``'s ``cluster`` (as ``get``
        answered it: None when ``keep`` is a cluster of one too)."""
        if cluster is None:
            cluster = self._start(keep)
        cluster.ids.append(newcomer)
        self._of[newcomer] = cluster
        if self.changed is not None:
            self.changed[newcomer] = cluster
        self.built = cluster
        return cluster

    def union(self, keep: str, other: str) -> Cluster:
        """Join ``other``'s cluster to ``keep``'s; the result resolves as ``keep``'s did,
        and counts one more merge (the ``cdp`` limit)."""
        return self.join(keep, self._of.get(keep), other, self._of.get(other))

    def join(self, keep: str, a: Cluster | None, other: str, b: Cluster | None) -> Cluster:
        """``union`` for a caller that has looked up both ids' clusters (``a``, ``b``)."""
        if keep == other:
            self.built = a = self._start(keep) if a is None else a
            return a
        if b is None:  # the usual case: a new id joins a cluster
            a = self.attach(keep, a, other)
            a.merges += 1
            return a
        if a is None:
            a = self._start(keep)
        elif a is b:
            self.built = a
            return a
        of = self._of
        resolved = a.resolved
        big, small = (a, b) if len(a.ids) >= len(b.ids) else (b, a)
        changed = self.changed if self.changed is not None else {}
        for distinct_id in small.ids:
            of[distinct_id] = big
            changed[distinct_id] = big
        if big.resolved != resolved:
            for distinct_id in big.ids:
                changed[distinct_id] = big
            big.resolved = resolved
        big.ids.extend(small.ids)
        if small.first >= 0:  # big's history goes on with small's
            if big.last >= 0:
                self._then[big.last] = small.first
            else:
                big.first = small.first
            big.last = small.last
        big.merges = a.merges + b.merges + 1
        big.identified = a.identified or b.identified
        self.built = big
        return big

    def record(self, cluster: Cluster, entry: LogEntry) -> None:
        """Add ``entry``, a link or merge that built ``cluster``, to its history."""
        index = len(self.entries)
        self.entries.append(entry)
        self._then.append(-1)
        if cluster.last >= 0:
            self._then[cluster.last] = index
        else:
            cluster.first = index
        cluster.last = index

    def history(self, cluster: Cluster) -> list[LogEntry]:
        """The entries recorded for ``cluster`` and the clusters it absorbed."""
        found = []
        index = cluster.first
        while index >= 0:
            found.append(self.entries[index])
            index = self._then[index]
        return found

    def drain_changes(self) -> list[tuple[str, str]]:
        """``(id, resolved id)`` for every id whose resolved id may have changed."""
        changed = self.changed or {}
        self.changed = {}
        return [(distinct_id, c.resolved) for distinct_id, c in changed.items()]

    def mapping(self) -> Iterator[tuple[str, str]]:
        """``(id, resolved id)`` for every id that resolves to another id."""
        for distinct_id, cluster in self._of.items():
            if cluster.resolved != distinct_id:
                yield distinct_id, cluster.resolved

    def __len__(self) -> int:
        """How many ids belong to a cluster of more than one."""
        return len(self._of)
