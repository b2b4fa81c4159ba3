"""``idmerge replay``: a project's ingested history run again under another identity
mode, into another project of the same store. The source project is only read.

Mixpanel projects can never change identity system in place (``reference/mixpanel.md``
§1.5); this answers "what would Simplified ID Merge do to our data" on the data
itself. Every event, profile update and operator split of the source is read back as
it was sent (:mod:`idmerge.ingest.history`), in the source's ingestion order, and
written through the target project's own writer, so the target's identity engine
decides every link and merge under its mode, exactly as if the history had arrived
there. Each event keeps the time and the arrival time it had in the source. With
``derive_simplified_ids``, the events first get the ``$device_id`` / ``$user_id`` that
Mixpanel's migration recipe derives (:mod:`idmerge.ingest.derive`).

Rules:

- The target is a new project (by default ``<source>-<mode>``, numbered on when
  taken) or an existing one that holds no data, set to the mode; it gets the
  source's junk-id list and limit overrides, fresh credentials (as Mixpanel issues
  for a migrated project), and a copy of each saved funnel.
- Every event of the source is written once, in order, so the k-th event of the
  source is the k-th of the target: :mod:`idmerge.query.compare` pairs them so.
- A split is done again at the same point: an undone identity event is undone in
  the target, a detached id detached. A split that means nothing under the target's
  mode (the event has no identity meaning there, or the id is not linked) is
  skipped, and the report says which and why.
- Writes go :data:`~idmerge.ingest.files.TRANSACTION_RECORDS` at a time, as an
  import does. A replay stopped midway leaves a partial target; replay again into a
  new one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from idmerge.errors import BadRequest, SplitRefused
from idmerge.identity import (
    DEVICE_ID_MODES,
    Event,
    IdentityEngine,
    LogEntry,
    Mode,
    Op,
    paused_gc,
)
from idmerge.ingest.derive import SimplifiedIds
from idmerge.ingest.files import TRANSACTION_RECORDS
from idmerge.ingest.history import Recorded, Split, history
from idmerge.ingest.pipeline import ProjectWriter, Submission
from idmerge.profiles.model import ProfileUpdate
from idmerge.projects import Project, create_project
from idmerge.storage.base import Store, rows

ENDPOINT = "idmerge replay"
_NAME_LIMIT = 64


@dataclass
class ReplayReport:
    """What a replay wrote."""

    source: Project
    target: Project
    derived_ids: bool
    events: int = 0
    profile_updates: int = 0
    #: identity events of the target by outcome ("merged", "ignored", ...)
    outcomes: Counter[str] = field(default_factory=Counter)
    splits: int = 0  # splits of the source done again
    skipped_splits: list[str] = field(default_factory=list)  # why, one sentence each
    derived: int = 0  # events given derived $device_id / $user_id
    funnels: int = 0  # saved funnels copied


def replay(
    store: Store,
    source: Project,
    mode: Mode,
    *,
    into: str | None,
    now: Callable[[], int],
    derive_simplified_ids: bool = False,
    progress: Callable[[int], None] = lambda events: None,
) -> ReplayReport:
    """Replay ``source``'s history under ``mode`` into the project named ``into`` (a
    new scratch project when None); ``progress(events)`` is told after each write."""
    with paused_gc():  # many small tuples, no cycles: see paused_gc
        log = list(store.read_log(source.id))
    ids = _derivation(source, mode, log) if derive_simplified_ids else None
    target = target_project(store, source, mode, into, now())
    report = ReplayReport(source, target, derived_ids=ids is not None)
    report.funnels = _copy_funnels(store, source, target, now())
    undone = {seq for entry in log if entry.op is Op.UNDO for seq in entry.undoes}
    steps = history(store, source, mode, log)
    _Replayer(store, target, report, ids, progress).run(steps, undone)
    if ids is not None:
        report.derived = ids.derived
    return report


def _derivation(source: Project, mode: Mode, log: list[LogEntry]) -> SimplifiedIds:
    # the links come from $identify and $create_alias, which only the modes reading
    # distinct_id have; the derived ids are read only by the others
    if source.mode in DEVICE_ID_MODES:
        raise BadRequest(
            "--derive-simplified-ids derives ids from the $identify and $create_alias "
            f"history of a legacy or original project; {source.name!r} is "
            f"{source.mode.value}, whose events carry their ids already"
        )
    if mode not in DEVICE_ID_MODES:
        raise BadRequest(
            "--derive-simplified-ids writes $device_id and $user_id, which only "
            f"simplified and cdp read; replay --mode {mode.value} would ignore them"
        )
    return SimplifiedIds.of(log, IdentityEngine.replay(source.policy(), log))


def target_project(
    store: Store, source: Project, mode: Mode, into: str | None, now: int
) -> Project:
    """The project a replay writes: ``into`` (created, or set to ``mode`` while it
    holds no data), else the first free scratch name."""
    if into is None:
        return _new_target(store, source, mode, _scratch_name(store, source, mode), now)
    if into == source.name:
        raise BadRequest("replay reads one project and writes another: --into must name another")
    existing = next((p for p in store.projects() if p.name == into), None)
    if existing is None:
        return _new_target(store, source, mode, into, now)
    if store.holds_data(existing.id):
        raise BadRequest(
            f"project {into!r} already holds data: replay into a new or empty project "
            "(or leave --into out for a scratch one)"
        )
    # as a new target: the source's junk list and limits decide the merges
    target = replace(existing, mode=mode, **_settings_of(source))
    store.save_project(target)
    return target


def _new_target(store: Store, source: Project, mode: Mode, name: str, now: int) -> Project:
    return create_project(store, name, mode, now=now, **_settings_of(source))


def _settings_of(source: Project) -> dict[str, Any]:
    """The settings a target takes from its source: the junk list and the limits."""
    return {
        "max_cluster_ids": source.max_cluster_ids,
        "max_merges": source.max_merges,
        "junk_ids": source.junk_ids,
    }


def _scratch_name(store: Store, source: Project, mode: Mode) -> str:
    taken = {p.name for p in store.projects()}
    for number in range(1, len(taken) + 2):
        suffix = f"-{mode.value}" + ("" if number == 1 else f"-{number}")
        name = source.name[: _NAME_LIMIT - len(suffix)] + suffix
        if name not in taken:
            return name
    raise AssertionError("unreachable: one of len(taken) + 1 names is free")


def _copy_funnels(store: Store, source: Project, target: Project, now: int) -> int:
    have = {f.name for f in store.saved_funnels(target.id)}
    copied = 0
    for funnel in store.saved_funnels(source.id):
        if funnel.name not in have:
            store.save_funnel(
                target.id, funnel.name, funnel.steps, funnel.length, funnel.length_unit, now
            )
            copied += 1
    return copied


class _Replayer:
    """Writes the history through the target's writer, a transaction at a time."""

    def __init__(
        self,
        store: Store,
        target: Project,
        report: ReplayReport,
        ids: SimplifiedIds | None,
        progress: Callable[[int], None],
    ) -> None:
        self.writer = ProjectWriter(store, target)
        self.report = report
        self.ids = ids
        self.progress = progress
        self.pending: list[Submission] = []
        self.size = 0  # records in pending
        #: an undone event's seq in the source -> its position among the events
        self.ordinals: dict[int, int] = {}

    def run(self, steps: Iterator[Recorded], undone: set[int]) -> None:
        """Write ``steps``; ``undone``: the source's event seqs some split undoes."""
        ids, report = self.ids, self.report
        events: list[tuple[int, Event]] = []
        updates: list[tuple[int, ProfileUpdate]] = []
        for seq, received_at, item in steps:
            if type(item) is Split:
                self.flush()
                self.split(item.entry)
                continue
            if self.size >= TRANSACTION_RECORDS:
                self.flush()
            pending = self.pending
            if (
                not pending
                or pending[-1].received_at != received_at
                or (type(item) is Event and updates)
            ):
                # a new submission: another arrival, or an event after a profile
                # update (a submission applies its events first)
                events, updates = [], []
                pending.append(Submission(ENDPOINT, received_at, events, updates))
            if type(item) is Event:
                if ids is not None:
                    item = ids.event(item)
                if seq in undone:
                    self.ordinals[seq] = report.events
                events.append((len(events), item))
                report.events += 1
            else:
                assert type(item) is ProfileUpdate
                if ids is not None:
                    item = ids.update(item)
                updates.append((len(updates), item))
                report.profile_updates += 1
            self.size += 1
        self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        for receipt in self.writer.write(self.pending):
            self.report.outcomes.update(o.value for o in receipt.outcomes if o is not None)
        self.pending, self.size = [], 0
        self.progress(self.report.events)

    def split(self, entry: LogEntry) -> None:
        """Do one of the source's splits again in the target, or say why not."""
        split = partial(self.writer.split, time=entry.time)
        if entry.op is Op.DETACH:
            self._split(f"detaching {entry.ids[0]!r}", partial(split, detach=entry.ids[0]))
            return
        for seq in entry.undoes:
            ordinal = self.ordinals[seq]
            self._split(
                f"undoing event #{ordinal + 1} (seq {seq} of the source)",
                partial(split, event_seq=self._target_seq(ordinal)),
            )

    def _split(self, what: str, split: Callable[[], object]) -> None:
        try:
            split()
        except SplitRefused as refused:
            mode = self.writer.project.mode.value
            self.report.skipped_splits.append(f"{what} does not apply under {mode}: {refused}")
        else:
            self.report.splits += 1

    def _target_seq(self, ordinal: int) -> int:
        """The target's sequence number of its ``ordinal``-th event (from 0)."""
        sql = "SELECT seq FROM events WHERE project_id = $p ORDER BY seq LIMIT 1 OFFSET $k"
        params = {"p": self.writer.project.id, "k": ordinal}
        found = rows(self.writer.store, sql, params)
        if not found:
            raise AssertionError(f"the target lost its event #{ordinal + 1}")
        return int(found[0][0])
