"""Mode ``original``: Mixpanel Original ID Merge.

Three events have identity meaning; every other event is stored under the
``distinct_id`` it was sent with.

``$identify`` (``$identified_id`` and ``$anon_id``; the SDK form ``distinct_id`` and
``$anon_distinct_id`` means the same). Checked in order, the first failure refuses:

1. ``$anon_id == $identified_id``: ``errSameIDs``.
2. ``$anon_id`` not GUID-shaped: ``errAnonDistinctIdNonGUIDForm``. GUID-shaped means,
   after an optional ``$device:`` prefix, 32 hex digits or five ``-``-joined groups of
   hex digits, in any case.
3. ``$anon_id``'s cluster holds an id already used as an ``$identified_id``:
   ``errAnonDistinctIdAssignedAlready``.
4. the merged cluster would exceed the size limit (500 by default): ``errManyIDs``.

``$create_alias`` (``alias`` and ``distinct_id``): an alias already used refuses with
``errAliasAlreadyExists``; then the size limit. Aliases chain, many may point at one
id, and both sides may be identified ids.

``$merge`` (``$distinct_ids``, exactly two): accepted only from the authenticated
import path (``merge_requires_import`` elsewhere); only the size limit applies.

**Decisions.** Ids already in one cluster give ``noop`` (checked after the first two
``$identify`` criteria, before the others): re-sending a link is not a failure. A
``noop`` ``$identify`` still marks the cluster as identified, and a ``noop``
``$create_alias`` still spends the alias, as Mixpanel records both. The merged
cluster resolves to the resolved id of the side that names the known user (the
``$identified_id``, the ``distinct_id`` of an alias, the first of ``$distinct_ids``).
Junk ids are refused before any other check.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final

from idmerge.identity.clusters import Clusters
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
from idmerge.identity.reading import nonempty, properties_of
from idmerge.identity.rules import Rules

if TYPE_CHECKING:  # compiled, a machine integer; at run time, an annotation only
    from mypy_extensions import i64

FAILURE_PROPERTY: Final = "$failure_reason"

# the characters of a GUID, by code point (literals: compiled, they are constants)
_DASH: Final = 0x2D  # -
_DIGIT_0: Final = 0x30
_DIGIT_9: Final = 0x39
_UPPER_A: Final = 0x41
_UPPER_F: Final = 0x46
_LOWER_A: Final = 0x61
_LOWER_F: Final = 0x66
_GUID_DIGITS: Final = 32  # the ungrouped form
_GUID_DASHES: Final = 4  # the grouped form: five groups
_ABSENT: Final = object()


def is_guid(distinct_id: str) -> bool:
    """True when ``distinct_id`` looks like an SDK-generated anonymous id.

    One pass over the characters by code point: compiled, ``ord(s[i])`` reads the
    string's storage directly, with no object per character. This runs for every
    ``$identify``; a regular expression was a tenth of the engine's time on it, and
    byte operations (``encode``, ``translate``) still 270 ns a call, against 60 ns
    for this loop (benchmarks/README.md).
    """
    start: i64 = len(DEVICE_PREFIX) if distinct_id.startswith(DEVICE_PREFIX) else 0
    end: i64 = len(distinct_id)
    dashes: i64 = 0
    after_dash = True  # so that a leading dash, and two in a row, fail
    for i in range(start, end):
        c: i64 = ord(distinct_id[i])
        if c == _DASH:
            if after_dash:
                return False
            dashes += 1
            after_dash = True
        elif _DIGIT_0 <= c <= _DIGIT_9 or _LOWER_A <= c <= _LOWER_F or _UPPER_A <= c <= _UPPER_F:
            after_dash = False
        else:
            return False
    if dashes == 0:
        return end - start == _GUID_DIGITS
    return dashes == _GUID_DASHES and not after_dash


def read_pair(policy: Policy, distinct_id: str, op: Op, first: object, second: object) -> Reading:
    """A two-id identity reading, or the stateless refusal of a malformed one.

    An empty id is not missing: it is a junk id, refused by the rules (``errJunkId``).
    """
    longest = policy.max_id_length
    if (
        type(first) is str
        and type(second) is str
        and len(first) <= longest
        and len(second) <= longest
    ):
        return (distinct_id, NO_ANNOTATIONS, op, (first, second), None, None)
    pair = tuple(x for x in (first, second) if type(x) is str and not policy.id_problem(x))
    present = tuple(x for x in pair if x)
    if first is None or second is None:
        return (distinct_id, NO_ANNOTATIONS, Op.NONE, present, Outcome.REFUSED, Reason.MISSING_ID)
    return (distinct_id, NO_ANNOTATIONS, Op.NONE, present, Outcome.REFUSED, Reason.INVALID_ID)


class OriginalRules(Rules):
    """Reads and decides events under Original ID Merge."""

    failure_property = FAILURE_PROPERTY
    describes_failures = True

    def __init__(self, policy: Policy, clusters: Clusters) -> None:
        super().__init__(policy, clusters)
        self.aliases: set[str] = set()

    def read(self, event: Event) -> Reading:
        props = properties_of(event)
        sent = props.get("distinct_id")
        distinct_id = sent if nonempty(sent) else ""
        name = event.name
        if name == "$identify":
            identified = props.get("$identified_id", sent)
            anon = props.get("$anon_id", _ABSENT)
            if anon is _ABSENT:  # the SDK's name for it, read only when needed
                anon = props.get("$anon_distinct_id")
            if not distinct_id and nonempty(identified):
                distinct_id = identified
            return read_pair(self.policy, distinct_id, Op.IDENTIFY, identified, anon)
        if name == "$create_alias":
            return read_pair(self.policy, distinct_id, Op.ALIAS, sent, props.get("alias"))
        if name == "$merge":
            return self._read_merge(event, props, distinct_id)
        return (distinct_id, NO_ANNOTATIONS, None, (), None, None)

    def _read_merge(self, event: Event, props: dict[str, Any], distinct_id: str) -> Reading:
        pair = props.get("$distinct_ids")
        policy = self.policy
        if not isinstance(pair, list | tuple):
            pair = ()
        ids = tuple(x for x in pair if type(x) is str and not policy.id_problem(x))
        if not distinct_id:
            distinct_id = next((x for x in ids if x), "")
        if not event.trusted:
            reason = Reason.MERGE_REQUIRES_IMPORT
        elif len(pair) != 2:
            reason = Reason.MERGE_NEEDS_TWO_IDS
        elif any(x is None for x in pair):
            reason = Reason.MISSING_ID
        elif len(ids) != 2:
            reason = Reason.INVALID_ID
        else:
            return (distinct_id, NO_ANNOTATIONS, Op.MERGE, ids, None, None)
        present = tuple(x for x in ids if x)
        return (distinct_id, NO_ANNOTATIONS, Op.NONE, present, Outcome.REFUSED, reason)

    def _decide(self, op: Op, ids: tuple[str, ...], *, screened: bool) -> Decision:
        keep, other = ids
        policy = self.policy
        clusters = self.clusters
        mine = clusters.get(keep)
        theirs = clusters.get(other)
        if not screened:
            # an id that belongs to a cluster was admitted already, so it is not junk
            if (mine < 0 and policy.is_junk(keep)) or (theirs < 0 and policy.is_junk(other)):
                return REFUSED_JUNK
            if op is Op.IDENTIFY and keep == other:
                return Outcome.REFUSED, Reason.SAME_IDS
            if op is Op.IDENTIFY and not is_guid(other):
                return Outcome.REFUSED, Reason.ANON_NOT_GUID
        together = mine >= 0 and mine == theirs
        if op is Op.IDENTIFY:
            if together:
                if clusters.identified(mine):
                    return None
                clusters.mark_identified(mine)
                return NOOP
            if clusters.identified(theirs):
                return Outcome.REFUSED, Reason.ANON_ASSIGNED_ALREADY
        elif op is Op.ALIAS:
            if together or keep == other:
                if other in self.aliases:
                    return None
                self.aliases.add(other)
                return NOOP
            if other in self.aliases:
                return Outcome.REFUSED, Reason.ALIAS_ALREADY_EXISTS
        elif together or keep == other:
            return None
        limit = policy.max_cluster_ids
        if limit is not None and clusters.size_of(mine) + clusters.size_of(theirs) > limit:
            return Outcome.REFUSED, Reason.MANY_IDS
        merged = clusters.join(keep, mine, other, theirs)
        if op is Op.IDENTIFY:
            clusters.mark_identified(merged)
        elif op is Op.ALIAS:
            self.aliases.add(other)
        return MERGED
