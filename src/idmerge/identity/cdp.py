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

**Decision.** An id "exists" when an earlier event was stored under it or it already
belongs to a cluster. Which ids existed is a fact of the event stream, decided when
the alias arrives and kept in its log entry, so replaying the log (after a split,
say) folds exactly the same ids.
"""

from __future__ import annotations

from collections.abc import Iterable

from idmerge.identity.clusters import Cluster, Clusters
from idmerge.identity.model import (
    NO_ANNOTATIONS,
    Event,
    Op,
    Outcome,
    Reading,
    Reason,
)
from idmerge.identity.policy import DEVICE_PREFIX, Policy
from idmerge.identity.reading import named_ids, nonempty

FAILURE_PROPERTY = "$identity_failure_reason"


class CdpRules:
    """Reads and decides messages under Segment / Customer.io semantics."""

    failure_property = FAILURE_PROPERTY
    describes_failures = False

    def __init__(self, policy: Policy, clusters: Clusters, seen: Iterable[str] = ()) -> None:
        self.policy = policy
        self.clusters = clusters
        self.seen: set[str] = set(seen)

    def read(self, event: Event) -> Reading:
        reading = self._read(event)
        if reading.distinct_id:
            self.seen.add(reading.distinct_id)
        return reading

    def _read(self, event: Event) -> Reading:
        props = event.properties
        name = event.name
        if name == "$create_alias":
            return self._read_alias(event)
        user = props.get("$user_id")
        device = props.get("$device_id")
        if nonempty(user):
            distinct_id: str = user
        elif nonempty(device):
            distinct_id = DEVICE_PREFIX + device
        else:
            sent = props.get("distinct_id")
            distinct_id = sent if nonempty(sent) else ""
        if name == "$merge":
            return Reading(
                distinct_id,
                NO_ANNOTATIONS,
                Op.NONE,
                named_ids(event, distinct_id),
                Outcome.IGNORED,
                Reason.CDP_IGNORES_EVENT,
            )
        if user is None or device is None:
            return Reading(distinct_id, NO_ANNOTATIONS, None)
        policy = self.policy
        if policy.id_problem(user) or policy.id_problem(device):
            ids = tuple(x for x in (user, device) if not policy.id_problem(x))
            return Reading(
                distinct_id, NO_ANNOTATIONS, Op.NONE, ids, Outcome.REFUSED, Reason.INVALID_ID
            )
        return Reading(distinct_id, NO_ANNOTATIONS, Op.LINK, (user, DEVICE_PREFIX + device))

    def _read_alias(self, event: Event) -> Reading:
        props = event.properties
        user = props.get("alias", props.get("$user_id"))
        previous = props.get("distinct_id")
        distinct_id = user if nonempty(user) else ""
        policy = self.policy
        present = tuple(x for x in (user, previous) if nonempty(x) and not policy.id_problem(x))
        if not nonempty(user) or not nonempty(previous):
            reason = Reason.MISSING_ID
        elif policy.id_problem(user) or policy.id_problem(previous):
            reason = Reason.INVALID_ID
        else:
            return Reading(distinct_id, NO_ANNOTATIONS, Op.FOLD, (user, *self._existing(previous)))
        return Reading(distinct_id, NO_ANNOTATIONS, Op.NONE, present, Outcome.REFUSED, reason)

    def _existing(self, previous: str) -> tuple[str, ...]:
        clusters, seen = self.clusters, self.seen
        found = tuple(
            x
            for x in (previous, DEVICE_PREFIX + previous)
            if x in seen or clusters.get(x) is not None
        )
        return found or (previous,)

    def decide(self, op: Op, ids: tuple[str, ...]) -> tuple[Outcome, Reason | None]:
        policy = self.policy
        if any(policy.is_junk(x) for x in ids):
            return Outcome.REFUSED, Reason.JUNK_ID
        if op is Op.LINK:
            return self._link(*ids)
        return self._fold(ids[0], ids[1:])

    def _link(self, user: str, device: str) -> tuple[Outcome, Reason | None]:
        clusters = self.clusters
        owner = clusters.get(device)
        if owner is not None:
            if owner is clusters.get(user):
                return Outcome.NOOP, None
            return Outcome.REFUSED, Reason.ANON_ASSIGNED_ALREADY
        limit = self.policy.max_cluster_ids
        if limit is not None and clusters.size(user) + 1 > limit:
            return Outcome.REFUSED, Reason.MANY_IDS
        clusters.attach(user, device)
        return Outcome.LINKED, None

    def _fold(self, user: str, previous: tuple[str, ...]) -> tuple[Outcome, Reason | None]:
        clusters = self.clusters
        mine = clusters.get(user)
        others: list[tuple[str, Cluster | None]] = []
        for distinct_id in previous:
            cluster = clusters.get(distinct_id)
            if distinct_id == user or (cluster is not None and cluster is mine):
                continue
            if cluster is None or all(cluster is not c for _, c in others):
                others.append((distinct_id, cluster))
        if not others:
            return Outcome.NOOP, None
        policy = self.policy
        size = clusters.size(user) + sum(1 if c is None else len(c.ids) for _, c in others)
        merges = (0 if mine is None else mine.merges) + sum(
            1 + (0 if c is None else c.merges) for _, c in others
        )
        if policy.max_cluster_ids is not None and size > policy.max_cluster_ids:
            return Outcome.REFUSED, Reason.MANY_IDS
        if policy.max_merges is not None and merges > policy.max_merges:
            return Outcome.REFUSED, Reason.MANY_IDS
        for distinct_id, _ in others:
            clusters.union(user, distinct_id)
        return Outcome.MERGED, None
