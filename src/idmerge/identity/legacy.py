"""Mode ``legacy``: Mixpanel Legacy ID Management.

Only ``$create_alias`` has meaning: it adds ``alias -> distinct_id`` to the alias
table. An alias maps to one id for ever; aliasing it again to an id of another
cluster is refused (``errAliasAlreadyExists``). ``$identify`` and ``$merge`` are
``ignored`` (``mode_legacy_ignores_event``).

Resolution happens **at ingestion**: an event sent with an alias after the alias
exists is stored under the id the alias resolves to, with the id it was sent with
kept as ``$distinct_id_before_identity``; events ingested before the alias stay where
they were (nothing is re-attributed).

**Decisions.** The alias target is resolved through the table when the alias is
created, so chains collapse to the original id. Aliasing an id to one it already
resolves to is a ``noop``. An id that is itself a target (but never an alias) may
later be aliased to another id; everything that pointed at it follows. Junk ids
never take part.
"""

from __future__ import annotations

from idmerge.identity.clusters import Clusters
from idmerge.identity.model import (
    MERGED,
    NO_ANNOTATIONS,
    REFUSED_JUNK,
    Decision,
    Event,
    Op,
    Outcome,
    Reading,
    Reason,
)
from idmerge.identity.original import FAILURE_PROPERTY, read_pair
from idmerge.identity.policy import Policy
from idmerge.identity.reading import (
    MIXPANEL_IDENTITY_EVENTS,
    named_ids,
    nonempty,
    properties_of,
)
from idmerge.identity.rules import Rules


class LegacyRules(Rules):
    """Reads and decides events under Legacy ID Management."""

    failure_property = FAILURE_PROPERTY
    describes_failures = True

    def __init__(self, policy: Policy, clusters: Clusters) -> None:
        super().__init__(policy, clusters)
        self.aliases: set[str] = set()

    def read(self, event: Event) -> Reading:
        props = properties_of(event)
        sent = props.get("distinct_id")
        sent_id = sent if nonempty(sent) else ""
        distinct_id = self.clusters.resolve(sent_id) if sent_id else ""
        annotations = (
            NO_ANNOTATIONS if distinct_id == sent_id else {"$distinct_id_before_identity": sent_id}
        )
        name = event.name
        if name == "$create_alias":
            reading = read_pair(self.policy, distinct_id, Op.ALIAS, sent, props.get("alias"))
            return (reading[0], annotations, *reading[2:])
        if name in MIXPANEL_IDENTITY_EVENTS:
            return (
                distinct_id,
                annotations,
                Op.NONE,
                named_ids(props, sent_id),
                Outcome.IGNORED,
                Reason.LEGACY_IGNORES_EVENT,
            )
        return (distinct_id, annotations, None, (), None, None)

    def _decide(self, op: Op, ids: tuple[str, ...], *, screened: bool) -> Decision:
        target, alias = ids
        clusters = self.clusters
        if clusters.together(target, alias):
            return None
        policy = self.policy
        if not screened and (policy.is_junk(target) or policy.is_junk(alias)):
            return REFUSED_JUNK
        if alias in self.aliases:
            return Outcome.REFUSED, Reason.ALIAS_ALREADY_EXISTS
        clusters.union(target, alias)
        self.aliases.add(alias)
        return MERGED
