"""The ``$device_id`` + ``$user_id`` link, shared by ``simplified`` and ``cdp``.

Both modes store an event under its user id, else under ``$device:`` + its device id,
and both link a device to the first user it is seen with, for ever.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from idmerge.identity.clusters import Clusters
from idmerge.identity.model import LINKED, REFUSED_JUNK, Decision, Op, Outcome, Reading, Reason
from idmerge.identity.policy import DEVICE_PREFIX, Policy


def stored_id(props: dict[str, Any]) -> tuple[str, Any, Any]:
    """``(stored distinct_id, $user_id, $device_id)`` of an event's properties."""
    user = props.get("$user_id")
    device = props.get("$device_id")
    if type(user) is str and user:
        return user, user, device
    if type(device) is str and device:
        return DEVICE_PREFIX + device, user, device
    sent = props.get("distinct_id")
    return (sent if type(sent) is str else ""), user, device


def read_link(
    policy: Policy, distinct_id: str, annotations: Mapping[str, str], user: Any, device: Any
) -> Reading:
    """The reading of an event that may pair a user with a device."""
    if user is None or device is None:
        return (distinct_id, annotations, None, (), None, None)
    if policy.id_problem(user) or policy.id_problem(device):
        named = (("", user), (DEVICE_PREFIX, device))
        ids = tuple(prefix + x for prefix, x in named if not policy.id_problem(x))
        return (distinct_id, annotations, Op.NONE, ids, Outcome.REFUSED, Reason.INVALID_ID)
    return (distinct_id, annotations, Op.LINK, (user, DEVICE_PREFIX + device), None, None)


def decide_link(
    clusters: Clusters,
    policy: Policy,
    limit: int | None,
    screened: bool,
    ids: tuple[str, ...],
) -> Decision:
    """Link the device ``ids[1]`` into the cluster of the user ``ids[0]`` unless it is
    linked already, keeping the cluster within ``limit`` ids. ``screened``: the ids
    are known not to be junk (a replay)."""
    user, device = ids
    owner = clusters.get(device)
    mine = clusters.get(user)
    if owner >= 0 and owner == mine:
        return None  # linked already: the common case once a user has logged in
    if owner < 0 and user == device:
        return None  # the user id is the device's own stored id: nothing to link
    is_junk = policy.is_junk
    # an id that belongs to a cluster was admitted already, so it is not junk
    if not screened and ((mine < 0 and is_junk(user)) or (owner < 0 and is_junk(device))):
        return REFUSED_JUNK
    if owner >= 0:
        return Outcome.REFUSED, Reason.ANON_ASSIGNED_ALREADY
    if limit is not None and clusters.size_of(mine) + 1 > limit:
        return Outcome.REFUSED, Reason.MANY_IDS
    clusters.attach(user, mine, device)
    return LINKED
