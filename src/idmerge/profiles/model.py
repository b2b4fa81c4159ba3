"""Profile updates as decoded from ``/engage``, ``/groups`` and Segment ``identify``/``group``."""

from __future__ import annotations

import enum
from typing import Any, NamedTuple


class ProfileKind(enum.StrEnum):
    USER = "user"  # a person's profile, addressed by $distinct_id
    GROUP = "group"  # a group's profile, addressed by ($group_key, $group_id)


class ProfileOp(enum.StrEnum):
    """The operations ``/engage`` accepts; ``/groups`` accepts all but ADD and APPEND."""

    SET = "$set"
    SET_ONCE = "$set_once"
    ADD = "$add"
    UNION = "$union"
    APPEND = "$append"
    REMOVE = "$remove"
    UNSET = "$unset"
    DELETE = "$delete"


GROUP_OPS = frozenset(ProfileOp) - {ProfileOp.ADD, ProfileOp.APPEND}


class ProfileUpdate(NamedTuple):
    """One profile operation, as sent (one ``/engage`` record may hold several)."""

    kind: ProfileKind
    distinct_id: str  # $distinct_id for a user; $group_id for a group
    op: ProfileOp
    #: the operation's argument as sent: an object for $set/$set_once/$add/$union/
    #: $append/$remove, a list of property names for $unset, ignored for $delete
    value: Any
    time: int  # ms since the epoch: $time when sent, else arrival
    ignore_time: bool = False  # $ignore_time: leave $last_seen alone
    group_key: str = ""  # groups only: $group_key
