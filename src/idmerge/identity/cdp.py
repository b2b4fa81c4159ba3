"""Mode ``cdp``: the Segment spec, as Customer.io Data Pipelines applies it.

Messages arrive translated (``userId`` as ``$user_id``, ``anonymousId`` as
``$device_id``, see :class:`~idmerge.identity.model.Event`); Mixpanel-style events
are read the same way.

- Stored distinct_id: ``userId`` when present, else ``"$device:" + anonymousId``,
  else the ``distinct_id`` sent. An ``alias`` is stored under its ``userId``.
- A message carrying both ``userId`` U and ``anonymousId`` A links ``$device:A``
  into U's cluster; the first link wins (a later conflicting pair is refused with
  ``errAnonDistinctIdAssignedAlready``).
- ``alias`` (``userId`` U, ``previousId`` P) merges into U's cluster the cluster of P
  and the cluster of ``$device:P``, whichever exist; when neither does, P joins U's
  cluster so that later messages sent as P resolve to U. U's cluster keeps its
  resolved id. Both may be known user ids.
- Limits: at most 1,000 ids and 100 merges per cluster (configurable); past them
  the link or merge is refused with ``errManyIDs``. Links count toward the ids,
  aliases toward both.
- ``$merge`` is ``ignored`` (``mode_cdp_ignores_event``): this mode merges by alias.

An alias that folds nothing (its ids are together already) is logged as ``noop``,
so that its ``$insert_id`` counts as delivered (see ``_fold``).

**Decision.** An id "exists" when an earlier event was stored under it or it already
belongs to a cluster. Which ids existed is a fact of the event stream, decided when
the alias arrives and kept in its log entry, so replaying the log (after a split,
say) folds exactly the same ids.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from idmerge.identity.clusters import Clusters
from idmerge.identity.device_links import decide_link, read_link, stored_id
from idmerge.identity.model import (
    MERGED,
    NO_ANNOTATIONS,
    NOOP,
    REFUSED_JUNK,
    Decision,
    Event,
    Op,
    Outcome,
    Reading,
    Reason,
)
from idmerge.identity.policy import DEVICE_PREFIX, Policy
from idmerge.identity.reading import named_ids, nonempty, properties_of
from idmerge.identity.rules import Rules
from idmerge.identity.simplified import FAILURE_PROPERTY  # the same property

IGNORED_HERE: Final = Reason.CDP_IGNORES_EVENT


class CdpRules(Rules):
    """Reads and decides messages under Segment / Customer.io semantics."""

    failure_property = FAILURE_PROPERTY
    describes_failures = False

    def __init__(self, policy: Policy, clusters: Clusters, seen: Iterable[str] = ()) -> None:
        super().__init__(policy, clusters)
        self.seen: set[str] = set(seen)

    def read(self, event: Event) -> Reading:
        reading = self._read(event)
        if reading[0]:
            self.seen.add(reading[0])  # the id this event is stored under now exists
        return reading

    def _read(self, event: Event) -> Reading:
        if event.name == "$create_alias":
            return self._read_alias(event)
        props = properties_of(event)
        distinct_id, user, device = stored_id(props)
        if event.name == "$merge":
            ids = named_ids(props, distinct_id)
            return (distinct_id, NO_ANNOTATIONS, Op.NONE, ids, Outcome.IGNORED, IGNORED_HERE)
        return read_link(self.policy, distinct_id, NO_ANNOTATIONS, user, device)

    def _read_alias(self, event: Event) -> Reading:
        props = properties_of(event)
        user = props.get("alias", props.get("$user_id"))
        previous = props.get("distinct_id")
        distinct_id = user if nonempty(user) else ""
        policy = self.policy
        present = tuple(x for x in (user, previous) if nonempty(x) and not policy.id_problem(x))
        if user is None or previous is None:
            reason = Reason.MISSING_ID
        elif policy.id_problem(user) or policy.id_problem(previous):
            reason = Reason.INVALID_ID
        else:
            return (
                distinct_id,
                NO_ANNOTATIONS,
                Op.FOLD,
                (user, *self._existing(previous)),
                None,
                None,
            )
        return (distinct_id, NO_ANNOTATIONS, Op.NONE, present, Outcome.REFUSED, reason)

    def _existing(self, previous: str) -> tuple[str, ...]:
        clusters, seen = self.clusters, self.seen
        found = tuple(x for x in (previous, DEVICE_PREFIX + previous) if x in seen or x in clusters)
        return found or (previous,)

    def _decide(self, op: Op, ids: tuple[str, ...], *, screened: bool) -> Decision:
        policy = self.policy
        if op is Op.LINK:
            return decide_link(self.clusters, policy, policy.max_cluster_ids, screened, ids)
        if not screened and any(policy.is_junk(x) for x in ids):
            return REFUSED_JUNK
        return self._fold(ids[0], ids[1:])

    def _fold(self, user: str, previous: tuple[str, ...]) -> Decision:
        policy = self.policy
        clusters = self.clusters
        mine = clusters.get(user)
        others: list[tuple[str, int]] = []
        for distinct_id in previous:
            cluster = clusters.get(distinct_id)
            if distinct_id == user or (cluster >= 0 and cluster == mine):
                continue
            if cluster < 0 or all(cluster != c for _, c in others):
                others.append((distinct_id, cluster))
        if not others:
            # Logged although nothing changed: which ids exist grows with the stream,
            # so a later re-delivery of this alias could fold what this one did not.
            # Its insert_id in the log makes that re-delivery the duplicate it is.
            return NOOP
        size = clusters.size_of(mine) + sum(clusters.size_of(c) for _, c in others)
        merges = clusters.merges_of(mine) + sum(1 + clusters.merges_of(c) for _, c in others)
        if policy.max_cluster_ids is not None and size > policy.max_cluster_ids:
            return Outcome.REFUSED, Reason.MANY_IDS
        if policy.max_merges is not None and merges > policy.max_merges:
            return Outcome.REFUSED, Reason.MANY_IDS
        for distinct_id, _ in others:
            clusters.union(user, distinct_id)
        return MERGED
