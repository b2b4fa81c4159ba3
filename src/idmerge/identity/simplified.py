"""Mode ``simplified``: Mixpanel Simplified ID Merge.

Only ``$device_id`` (anonymous) and ``$user_id`` (identified) mean anything.

Stored distinct_id, in this order:

1. ``$user_id`` present: ``$user_id`` (whatever ``distinct_id`` was sent).
2. else ``$device_id`` present: ``"$device:" + $device_id``.
3. else ``distinct_id`` as sent; ``$device:X`` sets ``$device_id = X`` on the event,
   anything else sets ``$user_id``.

Linking: the first event carrying both ``$device_id`` D and ``$user_id`` U links
``$device:D`` into U's cluster (``linked``). A device links to one user for ever: a
later event pairing D with another user is stored under that user, links nothing,
and gets ``$identity_failure_reason = errAnonDistinctIdAssignedAlready``. A user may
have any number of devices; two ``$user_id``s never merge; a cluster resolves to its
``$user_id``. Junk ids never link (``errJunkId``).

Events named ``$identify``, ``$create_alias`` and ``$merge`` have no identity meaning
here even when they carry both properties: they are stored as ordinary events and
logged as ``ignored`` (``mode_simplified_ignores_event``), so that "why did my alias
do nothing" has an answer.
"""

from __future__ import annotations

from typing import Final

from idmerge.identity.device_links import decide_link, read_link, stored_id
from idmerge.identity.model import (
    NO_ANNOTATIONS,
    Decision,
    Event,
    Op,
    Outcome,
    Reading,
    Reason,
)
from idmerge.identity.policy import DEVICE_PREFIX
from idmerge.identity.reading import (
    MIXPANEL_IDENTITY_EVENTS,
    named_ids,
    nonempty,
    properties_of,
)
from idmerge.identity.rules import Rules

FAILURE_PROPERTY: Final = "$identity_failure_reason"
IGNORED_HERE: Final = Reason.SIMPLIFIED_IGNORES_EVENT


class SimplifiedRules(Rules):
    """Reads and decides events under Simplified ID Merge."""

    failure_property = FAILURE_PROPERTY
    describes_failures = False

    def read(self, event: Event) -> Reading:
        props = properties_of(event)
        distinct_id, user, device = stored_id(props)
        annotations = NO_ANNOTATIONS
        if not nonempty(user) and not nonempty(device):  # rule 3: only a distinct_id
            if distinct_id.startswith(DEVICE_PREFIX):
                annotations = {"$device_id": distinct_id[len(DEVICE_PREFIX) :]}
            elif distinct_id:
                annotations = {"$user_id": distinct_id}
        if event.name in MIXPANEL_IDENTITY_EVENTS:
            ids = named_ids(props, distinct_id)
            return (distinct_id, annotations, Op.NONE, ids, Outcome.IGNORED, IGNORED_HERE)
        return read_link(self.policy, distinct_id, annotations, user, device)

    def _decide(self, op: Op, ids: tuple[str, ...], *, screened: bool) -> Decision:
        # links are the only decision here; a user may have any number of devices, so
        # there is no limit
        return decide_link(self.clusters, self.policy, None, screened, ids)
