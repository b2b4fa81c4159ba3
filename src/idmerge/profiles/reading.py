"""Which profile a reader sees for a person or a group (``spec/identity.md``, Profiles).

An update lands on the profile of the id its ``$distinct_id`` resolved to when it was
applied, so a cluster may hold several profiles: one per id that was resolved at some
point. What a reader sees depends on the mode:

- Mixpanel modes (``simplified``, ``original``, ``legacy``): only the resolved id's
  profile. The others are kept but hidden; Mixpanel does not combine them.
- ``cdp``: the cluster's profiles combine, "primary wins, fill the gaps" (Customer.io's
  merge): the resolved id's profile wins every key it has; a key it lacks comes from
  another profile. **Decision:** when several other profiles have that key, the most
  recently updated one wins (latest update ``$time``, then the higher ingestion seq).

A deleted profile counts as no profile. The answer is a fresh dict the caller owns.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from idmerge.identity import Mode
from idmerge.profiles.book import ProfileBook, ProfileState
from idmerge.profiles.model import ProfileKind


def combine_profiles(
    primary: Mapping[str, Any] | None, others: Iterable[Mapping[str, Any]]
) -> dict[str, Any]:
    """``primary``'s properties, then each key it lacks from the first of ``others``
    (in precedence order) that has it."""
    combined = dict(primary or {})
    for other in others:
        for key, value in other.items():
            combined.setdefault(key, value)
    return combined


def person_profile(
    book: ProfileBook, cluster_ids: Sequence[str], resolved: str, mode: Mode
) -> dict[str, Any] | None:
    """The profile a reader sees for the person whose cluster is ``cluster_ids``
    (``resolved`` among them), or None when there is none."""
    primary = book.state(ProfileKind.USER, "", resolved).properties
    if mode is not Mode.CDP:
        return None if primary is None else copy.deepcopy(primary)
    others: list[ProfileState] = []
    for distinct_id in dict.fromkeys(cluster_ids):  # in order, without repeats
        state = book.state(ProfileKind.USER, "", distinct_id)
        if distinct_id != resolved and state.properties is not None:
            others.append(state)
    if primary is None and not others:
        return None
    others.sort(key=lambda s: (s.updated_at, s.updated_seq), reverse=True)
    combined = combine_profiles(primary, (s.properties for s in others if s.properties))
    return copy.deepcopy(combined)


def group_profile(book: ProfileBook, group_key: str, group_id: str) -> dict[str, Any] | None:
    """The profile of the group ``group_id`` under ``group_key``, or None."""
    properties = book.state(ProfileKind.GROUP, group_key, group_id).properties
    return None if properties is None else copy.deepcopy(properties)
