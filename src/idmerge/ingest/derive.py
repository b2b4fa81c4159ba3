"""``--derive-simplified-ids``: Mixpanel's migration recipe, as an option of replay.

Simplified ID Merge reads only ``$device_id`` and ``$user_id``. Events from client
SDKs carry both already; events a server sent with a bare ``distinct_id`` do not, and
Mixpanel's migration guide says to add them before backfilling a Simplified project
(``reference/mixpanel.md`` §1.5). The links to derive them from are the ones Legacy
and Original made: each ``$identify`` (``$anon_id`` → ``$identified_id``) and each
``$create_alias`` whose ``distinct_id`` is an anonymous id (``alias`` is then the user
id the SDK's ``alias()`` gave it).

The recipe, over the source project's history:

1. From its identity log, every such pair ``(anonymous id A, user id U)`` that still
   holds in the project (both ids resolve together now: a pair a split undid is
   left out), the first pair of each anonymous id winning (Simplified links a
   device to one user, for ever).
2. Every event sent with ``distinct_id`` A and neither ``$device_id`` nor
   ``$user_id`` gets ``$device_id`` = A (less a ``$device:`` prefix) and ``$user_id``
   = U: Simplified then stores it under U and links the device on the first one,
   so A's history stays U's, as it was in the source project.
3. A profile update sent to A is sent to U (the profile Original showed it on).

Events already carrying ``$device_id`` or ``$user_id`` are left as they are, and so
is every other id: Simplified takes a bare ``distinct_id`` for a user id. What the
recipe cannot carry over, by Simplified's design, is two user ids of one person (an
alias or ``$merge`` between identified ids): they become two users, which ``idmerge
compare`` lists.

**Decision.** An anonymous id is one Original would take for an ``$anon_id``
(GUID-shaped, with or without ``$device:``; see :func:`~idmerge.identity.original.is_guid`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from idmerge.identity import DEVICE_PREFIX, Event, IdentityEngine, LogEntry, Op, Outcome
from idmerge.identity.original import is_guid
from idmerge.identity.reading import nonempty
from idmerge.profiles.model import ProfileKind, ProfileUpdate

_HOLDING = frozenset({Outcome.MERGED, Outcome.NOOP})


@dataclass
class SimplifiedIds:
    """The anonymous id → user id pairs of a source project, and their use."""

    users: dict[str, str]  # anonymous id -> the user id it was identified as
    derived: int = field(default=0)  # events given derived ids so far

    @classmethod
    def of(cls, log: Iterable[LogEntry], engine: IdentityEngine) -> SimplifiedIds:
        """The pairs of a project's identity ``log`` that its ``engine`` still holds."""
        users: dict[str, str] = {}
        for entry in log:
            if entry.outcome not in _HOLDING:
                continue
            if entry.op is Op.IDENTIFY:
                user, anonymous = entry.ids
            elif entry.op is Op.ALIAS and is_guid(entry.ids[0]) and not is_guid(entry.ids[1]):
                anonymous, user = entry.ids
            else:
                continue
            if anonymous not in users and engine.resolve(anonymous) == engine.resolve(user):
                users[anonymous] = user
        return cls(users)

    def event(self, event: Event) -> Event:
        """``event`` with the ids step 2 derives, or as it is."""
        props = event.properties
        sent = props.get("distinct_id")
        if type(sent) is not str or sent not in self.users:
            return event
        if nonempty(props.get("$device_id")) or nonempty(props.get("$user_id")):
            return event
        self.derived += 1
        device = sent.removeprefix(DEVICE_PREFIX)
        derived = {**props, "$device_id": device, "$user_id": self.users[sent]}
        return event._replace(properties=derived)

    def update(self, update: ProfileUpdate) -> ProfileUpdate:
        """``update`` sent to the user its anonymous id was identified as (step 3)."""
        if update.kind is ProfileKind.USER and update.distinct_id in self.users:
            return update._replace(distinct_id=self.users[update.distinct_id])
        return update
