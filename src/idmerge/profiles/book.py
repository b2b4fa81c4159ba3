"""Profiles folded from their updates in ``$time`` order, and the book that keeps them.

A profile's state is the fold of its updates sorted by ``(time, seq)``: the update
time first, as Mixpanel applies updates in ``$time`` order; the ingestion sequence
breaks ties. The fold (:func:`fold_update`) adds what the operations alone do not say:

- ``$delete`` removes the profile; it stays gone (``deleted``) until an operation that
  creates a profile starts a fresh one.
- ``$set``, ``$set_once``, ``$add``, ``$union`` and ``$append`` create a missing
  profile. **Decision:** ``$unset`` and ``$remove`` do not: on a missing or deleted
  profile they change nothing (not even ``$last_seen``).
- Every update that changes an existing or new profile sets ``$last_seen`` to its time
  (see :func:`~idmerge.profiles.operations.last_seen_text`), unless it was sent with
  ``$ignore_time``.
- Groups have no ``$add`` or ``$append``; the wire layer refuses them, and the fold
  raises :class:`ValueError` should one reach it.

:class:`ProfileBook` holds one project's profiles in memory. An update arriving late
(older than the newest already folded into its profile) makes that profile re-fold
all its updates, so the state never depends on arrival order.
"""

from __future__ import annotations

import functools
import heapq
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import msgspec

from idmerge.profiles.model import GROUP_OPS, ProfileKind, ProfileOp
from idmerge.profiles.operations import LAST_SEEN, apply_changes, compute_changes, last_seen_text
from idmerge.storage.base import StoredProfile, StoredProfileUpdate

ProfileKey = tuple[str, str, str]  # (kind, group_key, target), as the profiles table

#: The operations that bring a missing (or deleted) profile into being.
CREATING_OPS = frozenset(
    {ProfileOp.SET, ProfileOp.SET_ONCE, ProfileOp.ADD, ProfileOp.UNION, ProfileOp.APPEND}
)

_decode_value = msgspec.json.decode
_encode = msgspec.json.Encoder().encode


class ProfileState(NamedTuple):
    """A profile after some updates. Treat ``properties`` as read-only."""

    properties: dict[str, Any] | None  # None: no profile (never created, or deleted)
    deleted: bool  # the latest word was $delete, and nothing recreated it since
    updated_at: int  # the time of the latest update folded in
    updated_seq: int  # its seq: (updated_at, updated_seq) orders profiles by recency


NO_PROFILE = ProfileState(None, False, -1, -1)


class FoldStep(NamedTuple):
    """One update as the fold needs it: decoded and checked."""

    time: int
    seq: int
    op: ProfileOp
    value: Any  # the operation's argument, decoded
    ignore_time: bool = False


def _order(step: FoldStep) -> tuple[int, int]:
    return step.time, step.seq


def fold_update(state: ProfileState, step: FoldStep) -> ProfileState:
    """The profile after ``step``: compute the changes, then apply them."""
    if step.op is ProfileOp.DELETE:
        return ProfileState(None, True, step.time, step.seq)
    properties = state.properties
    if properties is None:
        if step.op not in CREATING_OPS:
            return state._replace(updated_at=step.time, updated_seq=step.seq)
        properties = {}
    changes = compute_changes(properties, step.op, step.value)
    if not step.ignore_time:
        changes = changes._replace(set={**changes.set, LAST_SEEN: last_seen_text(step.time)})
    return ProfileState(apply_changes(properties, changes), False, step.time, step.seq)


def fold_steps(steps: Iterable[FoldStep], start: ProfileState = NO_PROFILE) -> ProfileState:
    """Fold steps, in the order given, onto ``start``."""
    return functools.reduce(fold_update, steps, start)


def fold_step_of(update: StoredProfileUpdate) -> FoldStep:
    """Decode and check a stored update; raises ValueError on one that cannot apply."""
    op = ProfileOp(update.op)
    if ProfileKind(update.kind) is ProfileKind.GROUP and op not in GROUP_OPS:
        raise ValueError(f"profile update {update.seq}: groups have no {op.value}")
    try:
        value = _decode_value(update.value)
    except msgspec.DecodeError as exc:
        raise ValueError(f"profile update {update.seq}: value is not JSON: {exc}") from exc
    return FoldStep(update.time, update.seq, op, value, update.ignore_time)


def fold_profile(updates: Iterable[StoredProfileUpdate]) -> ProfileState:
    """One profile's state from all its updates, in whatever order they come."""
    return fold_steps(sorted(map(fold_step_of, updates), key=_order))


def profile_row(key: ProfileKey, state: ProfileState) -> StoredProfile | None:
    """The profiles-table row of a state; None while no profile ever existed."""
    if state.properties is None and not state.deleted:
        return None
    properties = _encode(state.properties or {}).decode()
    return StoredProfile(*key, properties, state.deleted, state.updated_at)


@dataclass(slots=True)
class _Profile:
    steps: list[FoldStep] = field(default_factory=list)  # sorted by (time, seq)
    state: ProfileState = NO_PROFILE

    def add(self, new: list[FoldStep]) -> None:
        """Fold in ``new`` (sorted): onto the state when all come after what is
        folded, else by re-folding every step."""
        if self.steps and _order(new[0]) < _order(self.steps[-1]):
            self.steps = list(heapq.merge(self.steps, new, key=_order))
            self.state = fold_steps(self.steps)
        else:
            self.steps.extend(new)
            self.state = fold_steps(new, self.state)


class ProfileBook:
    """One project's profiles in memory: each profile's updates and its state.

    A profile is keyed by ``(kind, group_key, target)``: users by the id their updates
    were resolved to, groups by their key and id. An update whose seq the book already
    holds is skipped, so loading and then applying overlapping updates is harmless.
    """

    def __init__(self) -> None:
        self._profiles: dict[ProfileKey, _Profile] = {}
        self._seqs: set[int] = set()

    @classmethod
    def load(cls, updates: Iterable[StoredProfileUpdate]) -> ProfileBook:
        """A book holding ``updates`` (e.g. ``store.read_profile_updates(project)``)."""
        book = cls()
        book._fold_in(updates)
        return book

    def apply(self, updates: Sequence[StoredProfileUpdate]) -> list[StoredProfile]:
        """Fold in ``updates``; answer the new row of each profile they changed, in the
        order the profiles first appear in ``updates``.

        Every update is decoded and checked before any is folded in: on ValueError the
        book is as it was.
        """
        changed = []
        for key, (before, profile) in self._fold_in(updates).items():
            row = profile_row(key, profile.state)
            # equal states may still differ in key order after a re-fold: the row tells
            if row is not None and (profile.state != before or row != profile_row(key, before)):
                changed.append(row)
        return changed

    def state(self, kind: ProfileKind, group_key: str, target: str) -> ProfileState:
        """A profile's state (:data:`NO_PROFILE` for one the book never saw)."""
        profile = self._profiles.get((kind.value, group_key, target))
        return NO_PROFILE if profile is None else profile.state

    def rows(self) -> Iterator[StoredProfile]:
        """The profiles-table rows the book's state amounts to, by key."""
        for key in sorted(self._profiles):
            row = profile_row(key, self._profiles[key].state)
            if row is not None:
                yield row

    def __len__(self) -> int:
        """How many profiles have updates (deleted and never created ones included)."""
        return len(self._profiles)

    def _fold_in(
        self, updates: Iterable[StoredProfileUpdate]
    ) -> dict[ProfileKey, tuple[ProfileState, _Profile]]:
        """Fold in the updates; answer each touched profile with its state before."""
        grouped: dict[ProfileKey, list[FoldStep]] = {}
        seqs: set[int] = set()
        for update in updates:
            if update.seq in self._seqs or update.seq in seqs:
                continue
            seqs.add(update.seq)
            key = (update.kind, update.group_key, update.target)
            grouped.setdefault(key, []).append(fold_step_of(update))
        self._seqs |= seqs
        touched = {}
        for key, steps in grouped.items():
            steps.sort(key=_order)
            profile = self._profiles.setdefault(key, _Profile())
            touched[key] = (profile.state, profile)
            profile.add(steps)
        return touched
