"""``Clusters`` on its own, against a plain model: a set of ids per cluster.

The modes never join an id with itself, so a cluster of one (which such a join
starts) is out of their reach; the layout still has three shapes to keep right (one
id, a pair, a ring of three or more) and every way from one to another, which only
direct unions reach.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from tests.identity.support import upsert

from idmerge.identity.clusters import ALONE, Clusters

POOL = ("a", "b", "c", "d", "e", "f", "g")


class Model:
    """What ``Clusters`` promises, the plain way."""

    def __init__(self) -> None:
        self.members: dict[str, frozenset[str]] = {}  # every id that took part
        self.resolved: dict[str, str] = {}

    def union(self, keep: str, other: str) -> None:
        """Join other's cluster to keep's; the result resolves as keep's did."""
        mine = self.members.get(keep, frozenset({keep}))
        if other in mine:
            self.members[keep] = mine
            self.resolved.setdefault(keep, keep)
            return
        resolved = self.resolved.get(keep, keep)
        merged = mine | self.members.get(other, frozenset({other}))
        for x in merged:
            self.members[x] = merged
            self.resolved[x] = resolved


def check(clusters: Clusters, model: Model) -> None:
    for x in POOL:
        members = model.members.get(x, frozenset({x}))
        assert sorted(clusters.members(x)) == sorted(members), x
        assert clusters.size(x) == len(members)
        assert clusters.resolve(x) == model.resolved.get(x, x)
        assert (x in clusters) is (x in model.members)
        assert (clusters.get(x) == ALONE) is (x not in model.members)
    assert len(clusters) == len(model.members)
    assert dict(clusters.mapping()) == {x: r for x, r in model.resolved.items() if x != r}


@given(
    st.lists(st.tuples(st.sampled_from(POOL), st.sampled_from(POOL), st.booleans()), max_size=40)
)
@settings(max_examples=1500, deadline=None)
def test_unions_keep_every_shape_right(steps: list[tuple[str, str, bool]]) -> None:
    """After each union (an id with itself included), every id's cluster, size and
    resolved id are the model's; drained changes, applied as upserts, are the mapping."""
    clusters, model = Clusters(), Model()
    drained: dict[str, str] = {}
    for keep, other, drain in steps:
        clusters.union(keep, other)
        model.union(keep, other)
        check(clusters, model)
        if drain:
            upsert(drained, clusters.drain_changes())
            assert drained == dict(clusters.mapping())


def test_a_pair_whose_resolved_id_changes_keeps_both_ids() -> None:
    """Two clusters of one joined the other way round: the pair resolves as the
    absorbed side, and still holds both ids."""
    clusters = Clusters()
    clusters.union("a", "a")
    clusters.union("b", "b")
    clusters.union("b", "a")  # a's cluster is as big as b's, so it absorbs b's
    assert sorted(clusters.members("a")) == ["a", "b"]
    assert clusters.resolve("a") == clusters.resolve("b") == "b"
    clusters.union("c", "a")  # c, alone, joins the pair: three ids, a ring
    assert sorted(clusters.members("b")) == ["a", "b", "c"]
    assert clusters.resolve("b") == "c"


def test_a_join_while_not_tracking_keeps_an_earlier_repeat_noted() -> None:
    """Notes taken before tracking was paused may name an id twice; the drain after
    it still names each id once."""
    clusters = Clusters()
    for keep, other in (("a", "b"), ("c", "d"), ("a", "c")):  # two pairs joined
        clusters.union(keep, other)
    clusters.tracking = False
    clusters.union("e", "f")
    clusters.union("b", "e")  # another join of two clusters of several ids
    clusters.tracking = True
    changes = clusters.drain_changes()
    assert len(set(changes.ids)) == len(changes)
    assert dict(changes) == {"b": "a", "c": "a", "d": "a"}
