"""What another identity mode changes: project P against NEW, a replay of P's stored
history under that mode into the same store (``idmerge replay``), report by report.

The rules:

- **Alignment by ordinal.** A replay writes every event of P once, in P's order, so
  the k-th event of P by ``seq`` is the k-th event of NEW by ``seq`` (the seqs
  themselves differ). NEW must hold as many events as P, else it holds no replay of
  P: a 400, as is comparing a project with itself.
- A **person** is the id an event resolves to, as every report counts it
  (:mod:`idmerge.query.resolved`: ``legacy`` reads the stored id). A side's **users**
  are its distinct persons having events.
- Each aligned event pairs its person in P with its person in NEW. A P-person whose
  events land on two or more NEW-persons is **split**; a NEW-person whose events come
  from two or more P-persons is **joined**; a P-person whose events all land on one
  NEW-person holding no one else's is **unchanged** (the same person on both sides).
  A P-person can be split and see a part joined with others: it counts in both; one
  not split whose NEW-person is joined counts only in that join. Examples are the
  largest by events (ties by id), each with its largest parts on the other side.
- An **affected id** is a stored id of P (the ``distinct_id`` P stored an event
  under) with an event belonging to a split P-person or a joined NEW-person; they are
  ranked by their events in P, with their person in P and their person(s) in NEW.
- **Identity events:** each side's identity log counted by (event name, outcome,
  reason). One is **newly ignored** when P logged it ``merged``, ``linked`` or
  ``noop`` and NEW logged the aligned event ``ignored`` or ``refused`` (a log entry
  carries its event's ``seq``, so it aligns through that event's ordinal); the
  examples are the first ones, in P's order.
- **Funnels:** each saved funnel of P beside NEW's funnel of the same name (the first
  by ``funnel_id``), each running its own definition over the range of P's events,
  from the first to the last event day (UTC), as one date bucket, so a user enters
  once. **Decision:** past 3,660 days (the most one ``interval`` spans) the buckets
  are summed, and a user entering in two counts twice. A funnel NEW lacks is reported
  missing; one whose steps or window differ is flagged. A funnel that cannot run on a
  side (a ``where`` saved by an older version, one the data cannot answer) is
  reported with the error's first line, and the comparison goes on.
- **Retention. Decision:** idmerge keeps saved funnels but no saved retention report,
  so compare shows one standard report: birth retention born on a person's first
  event of any name, back in week k when they did any event from k to k+1 weeks (of
  7 days) after their birth millisecond (the events at that millisecond are the
  birth, never a return), for weeks 0 to N, N the whole weeks P's range spans (at
  least 1, at most 52), summed over the weekly cohorts. As the range holds every
  event, everyone is born in it: ``born`` is the side's users. These are the rules
  of :mod:`idmerge.query.retention`, whose ``birth`` needs a named born event, so the
  SQL (small) is here.

The person pairs are built in SQL (a window numbers each side's events, a join on the
number pairs them) and aggregated there; Python only shapes the few rows that remain.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import msgspec

from idmerge.errors import BadRequest, first_line
from idmerge.identity import Outcome, Reason
from idmerge.projects import Project
from idmerge.query.buckets import Unit
from idmerge.query.funnels import FunnelSpec, FunnelStep, funnel, parse_steps
from idmerge.query.params import day_of
from idmerge.query.resolved import resolved_events
from idmerge.query.retention import UNIT_LENGTH_MS
from idmerge.storage.base import SavedFunnel, Store, rows

MAX_TOP = 10_000
#: the most days one funnel date bucket spans (``Buckets``' ``interval`` limit)
MAX_BUCKET_DAYS = 3660
MAX_WEEKS = 52
WEEK_MS = UNIT_LENGTH_MS[Unit.WEEK]
KEPT = (Outcome.MERGED, Outcome.LINKED, Outcome.NOOP)
DROPPED = (Outcome.IGNORED, Outcome.REFUSED)
Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Pair:
    before: int
    after: int


@dataclass(frozen=True, slots=True)
class Side:
    project: str
    mode: str


@dataclass(frozen=True, slots=True)
class Users:
    persons: Pair
    events: Pair  # as stored, retries included
    stored_ids: Pair


@dataclass(frozen=True, slots=True)
class Part:
    person: str
    events: int


@dataclass(frozen=True, slots=True)
class Regrouped:
    """A split person (``person`` is P's, ``parts`` NEW's) or a joined one (the reverse)."""

    person: str
    events: int
    part_count: int
    parts: tuple[Part, ...]  # the largest ones


@dataclass(frozen=True, slots=True)
class Clusters:
    split: int
    joined: int
    unchanged: int
    top_split: tuple[Regrouped, ...]
    top_joined: tuple[Regrouped, ...]


@dataclass(frozen=True, slots=True)
class AffectedId:
    distinct_id: str
    events: int
    person_before: str
    persons_after: tuple[str, ...]  # those with most of its events first


@dataclass(frozen=True, slots=True)
class Affected:
    count: int
    top: tuple[AffectedId, ...]


@dataclass(frozen=True, slots=True)
class IdentityCount:
    event: str
    outcome: str
    reason: str | None
    before: int
    after: int
    description: str | None  # the reason's, in plain words


@dataclass(frozen=True, slots=True)
class IgnoredExample:
    seq_before: int
    seq_after: int
    event: str
    ids: tuple[str, ...]  # as P's log names them
    insert_id: str | None
    time: int
    outcome_before: str
    outcome_after: str
    reason: str | None  # NEW's


@dataclass(frozen=True, slots=True)
class NewlyIgnored:
    count: int
    examples: tuple[IgnoredExample, ...]


@dataclass(frozen=True, slots=True)
class IdentityEvents:
    counts: tuple[IdentityCount, ...]  # the most frequent first
    newly_ignored: NewlyIgnored


@dataclass(frozen=True, slots=True)
class StepCounts:
    event: str  # P's step
    before: int | None  # None: P's funnel could not run
    after: int | None  # None: NEW has no such funnel or no such step, or it could not run


@dataclass(frozen=True, slots=True)
class FunnelSteps:
    name: str
    missing_in_after: bool
    same_definition: bool  # NEW's funnel has P's steps and window
    steps: tuple[StepCounts, ...]
    #: why the funnel could not run in P (in NEW), as its error says; None: it ran
    problem_before: str | None = None
    problem_after: str | None = None


@dataclass(frozen=True, slots=True)
class Week:
    week: int
    before: int
    after: int


@dataclass(frozen=True, slots=True)
class Retention:
    unit: str
    born: Pair
    back: tuple[Week, ...]  # weeks 0 to N


@dataclass(frozen=True, slots=True)
class DayRange:
    from_date: dt.date
    to_date: dt.date


@dataclass(frozen=True, slots=True)
class Comparison:
    before: Side
    after: Side
    range: DayRange | None  # P's first and last event day; None: no events
    users: Users
    clusters: Clusters
    affected_ids: Affected
    identity_events: IdentityEvents
    funnels: tuple[FunnelSteps, ...]
    retention: Retention

    def as_json(self) -> dict[str, Any]:
        """Plain JSON values, keyed as the fields are named (days as ``YYYY-MM-DD``)."""
        answer: dict[str, Any] = msgspec.json.decode(msgspec.json.encode(self))
        return answer


def compare(store: Store, before: Project, after: Project, *, top: int = 10) -> Comparison:
    """What changes from ``before`` (P) to ``after`` (NEW, its replay): see the module."""
    if before.id == after.id:
        raise BadRequest(f"compare needs two projects: {before.name!r} is given twice")
    if not 1 <= top <= MAX_TOP:
        raise BadRequest(f"top must be between 1 and {MAX_TOP:,}, not {top}")
    sides = {"before": before.id, "after": after.id}
    counted = rows(
        store,
        "SELECT project_id = $after, count(*), count(DISTINCT distinct_id), min(time), "
        "max(time) FROM events WHERE project_id IN ($before, $after) GROUP BY ALL",
        sides,
    )
    found = {bool(row[0]): row[1:] for row in counted}
    (n_before, ids_before, first, last), (n_after, ids_after, *_) = (
        found.get(side, (0, 0, None, None)) for side in (False, True)
    )
    if n_before != n_after:
        raise BadRequest(
            f"{after.name} does not hold a replay of {before.name}: "
            f"{n_after:,} events against {n_before:,} in {before.name}"
        )
    days = None if first is None else DayRange(day_of(first), day_of(last))
    persons, clusters = _clusters(store, before, after, sides, top)
    return Comparison(
        before=Side(before.name, before.mode.value),
        after=Side(after.name, after.mode.value),
        range=days,
        users=Users(persons, Pair(n_before, n_after), Pair(ids_before, ids_after)),
        clusters=clusters,
        affected_ids=_affected(store, before, after, sides, top),
        identity_events=IdentityEvents(
            _identity_counts(store, sides), _newly_ignored(store, sides, top)
        ),
        funnels=_funnels(store, before, after, days),
        retention=_retention(store, before, after, days),
    )


def _aligned(before: Project, after: Project) -> str:
    """CTEs: ``pairs`` (P's stored ``id``, its person ``pb``, the NEW-person ``pa`` of
    the aligned events, and ``n`` of them), ``split`` (its ``pb``) and ``joined``
    (``pa``). Each side reads :func:`resolved_events` with its own project parameter."""
    side_b = resolved_events(before, param="before")
    side_a = resolved_events(after, param="after")
    return (
        "WITH b AS (SELECT row_number() OVER (ORDER BY seq) AS k, distinct_id AS p, "
        f"stored_distinct_id AS id FROM ({side_b})), "
        f"a AS (SELECT row_number() OVER (ORDER BY seq) AS k, distinct_id AS p FROM ({side_a})), "
        "pairs AS MATERIALIZED (SELECT b.id, b.p AS pb, a.p AS pa, count(*) AS n "
        "FROM b JOIN a USING (k) GROUP BY ALL), "
        "split AS (SELECT pb FROM pairs GROUP BY pb HAVING count(DISTINCT pa) > 1), "
        "joined AS (SELECT pa FROM pairs GROUP BY pa HAVING count(DISTINCT pb) > 1)"
    )


def _clusters(
    store: Store, before: Project, after: Project, sides: dict[str, int], top: int
) -> tuple[Pair, Clusters]:
    """The users on each side; the split, joined and unchanged persons."""
    sql = _aligned(before, after) + (
        " SELECT (SELECT count(DISTINCT pb) FROM pairs), (SELECT count(DISTINCT pa) FROM pairs),"
        " (SELECT count(*) FROM split), (SELECT count(*) FROM joined),"
        " (SELECT count(DISTINCT pb) FROM pairs"
        "  WHERE pb NOT IN (SELECT pb FROM split) AND pa NOT IN (SELECT pa FROM joined))"
    )
    users_b, users_a, split, joined, unchanged = rows(store, sql, sides)[0]
    top_split, top_joined = _regrouped(store, before, after, sides, top)
    return Pair(users_b, users_a), Clusters(split, joined, unchanged, top_split, top_joined)


def _regrouped(
    store: Store, before: Project, after: Project, sides: dict[str, int], top: int
) -> tuple[tuple[Regrouped, ...], tuple[Regrouped, ...]]:
    """The ``top`` largest split and joined persons, each with its ``top`` largest parts."""
    sql = _aligned(before, after) + (
        ", by_pair AS (SELECT pb, pa, sum(n)::BIGINT AS n FROM pairs GROUP BY pb, pa), "
        "grouped AS (SELECT 'split' AS kind, pb AS person, pa AS part, n FROM by_pair "
        "WHERE pb IN (SELECT pb FROM split) UNION ALL SELECT 'joined', pa, pb, n FROM by_pair "
        "WHERE pa IN (SELECT pa FROM joined)), "
        "sized AS (SELECT *, (sum(n) OVER (PARTITION BY kind, person))::BIGINT AS total, "
        "count(*) OVER (PARTITION BY kind, person) AS parts, "
        "row_number() OVER (PARTITION BY kind, person ORDER BY n DESC, part) AS r FROM grouped), "
        "ranked AS (SELECT *, dense_rank() OVER (PARTITION BY kind ORDER BY total DESC, person) "
        "AS g FROM sized) "
        "SELECT kind, person, total, parts, part, n FROM ranked WHERE g <= $top AND r <= $top "
        "ORDER BY kind, g, r"
    )
    found: dict[str, dict[tuple[str, int, int], list[Part]]] = {"split": {}, "joined": {}}
    for kind, person, total, parts, part, n in rows(store, sql, {**sides, "top": top}):
        found[kind].setdefault((person, total, parts), []).append(Part(part, n))
    split, joined = (
        tuple(Regrouped(*person, tuple(shown)) for person, shown in found[kind].items())
        for kind in ("split", "joined")
    )
    return split, joined


def _affected(
    store: Store, before: Project, after: Project, sides: dict[str, int], top: int
) -> Affected:
    """How many ids are affected, and the ``top`` with most events."""
    sql = _aligned(before, after) + (
        ", hit AS (SELECT *, pb IN (SELECT pb FROM split) OR pa IN (SELECT pa FROM joined) "
        "AS hit FROM pairs), "
        "ids AS (SELECT id, any_value(pb) AS pb, sum(n)::BIGINT AS events, "
        "list(pa ORDER BY n DESC, pa) AS pas FROM hit GROUP BY id HAVING bool_or(hit)) "
        "SELECT id, events, pb, pas, count(*) OVER () FROM ids "
        "QUALIFY row_number() OVER (ORDER BY events DESC, id) <= $top ORDER BY events DESC, id"
    )
    found = rows(store, sql, {**sides, "top": top})
    most = tuple(AffectedId(i, n, pb, tuple(pas)) for i, n, pb, pas, _ in found)
    return Affected(found[0][-1] if found else 0, most)


def _identity_counts(store: Store, sides: dict[str, int]) -> tuple[IdentityCount, ...]:
    """Each side's identity log by (event, outcome, reason), the most frequent first."""
    sql = (
        "SELECT event, outcome, reason, count(*) FILTER (WHERE project_id = $before), "
        "count(*) FILTER (WHERE project_id = $after) FROM identity_log "
        "WHERE project_id IN ($before, $after) GROUP BY ALL"
    )
    counts = [
        IdentityCount(e, o, r, b, a, None if r is None else Reason(r).description)
        for e, o, r, b, a in rows(store, sql, sides)
    ]
    return tuple(
        sorted(counts, key=lambda c: (-c.before - c.after, c.event, c.outcome, c.reason or ""))
    )


def _newly_ignored(store: Store, sides: dict[str, int], top: int) -> NewlyIgnored:
    """How many identity events P kept and NEW ignored or refused; the first ``top``."""

    def logged(side: str, outcomes: tuple[Outcome, ...]) -> str:
        listed = ", ".join(f"'{o.value}'" for o in outcomes)
        return (
            f"SELECT o.k, l.* FROM identity_log l JOIN (SELECT seq, row_number() OVER "
            f"(ORDER BY seq) AS k FROM events WHERE project_id = ${side}) o ON o.seq = l.seq "
            f"WHERE l.project_id = ${side} AND l.outcome IN ({listed})"
        )

    sql = (
        f"SELECT lb.seq, la.seq, lb.event, lb.ids, lb.insert_id, lb.time, lb.outcome, "
        f"la.outcome, la.reason, count(*) OVER () FROM ({logged('before', KEPT)}) lb "
        f"JOIN ({logged('after', DROPPED)}) la ON la.k = lb.k "
        "QUALIFY row_number() OVER (ORDER BY lb.k) <= $top ORDER BY lb.k"
    )
    found = rows(store, sql, {**sides, "top": top})
    examples = tuple(
        IgnoredExample(sb, sa, event, tuple(ids), insert_id, time, ob, oa, reason)
        for sb, sa, event, ids, insert_id, time, ob, oa, reason, _ in found
    )
    return NewlyIgnored(found[0][-1] if found else 0, examples)


def _funnels(
    store: Store, before: Project, after: Project, days: DayRange | None
) -> tuple[FunnelSteps, ...]:
    theirs: dict[str, SavedFunnel] = {}
    for saved in store.saved_funnels(after.id):
        theirs.setdefault(saved.name, saved)
    compared = []
    for saved in store.saved_funnels(before.id):
        other = theirs.get(saved.name)
        counts, problem = _counts_or_problem(store, before, saved, days)
        other_counts, other_problem = (
            ((), None) if other is None else _counts_or_problem(store, after, other, days)
        )
        steps = tuple(
            StepCounts(
                event,
                counts[k] if k < len(counts) else None,
                other_counts[k] if k < len(other_counts) else None,
            )
            for k, event in enumerate(step.event for step in _steps(saved) or ())
        )
        same = other is not None and _definition(other) == _definition(saved)
        compared.append(FunnelSteps(saved.name, other is None, same, steps, problem, other_problem))
    return tuple(compared)


def _counts_or_problem(
    store: Store, project: Project, saved: SavedFunnel, days: DayRange | None
) -> tuple[tuple[int, ...], str | None]:
    """``_funnel_counts``, or no counts and why: one saved funnel that cannot run does
    not end the comparison of everything else."""
    try:
        return _funnel_counts(store, project, saved, days), None
    except BadRequest as exc:  # a store that fails is no answer about this funnel
        return (), first_line(exc).rstrip(":")


def _steps(saved: SavedFunnel) -> tuple[FunnelStep, ...] | None:
    """The saved steps, or None when they cannot be read at all (``_counts_or_problem``
    reports why)."""
    try:
        return parse_steps(saved.steps)
    except BadRequest:
        return None


def _definition(saved: SavedFunnel) -> tuple[Any, ...]:
    # unreadable steps: only the very same text is the same definition
    return _steps(saved) or saved.steps, saved.length, saved.length_unit


def _funnel_counts(
    store: Store, project: Project, saved: SavedFunnel, days: DayRange | None
) -> tuple[int, ...]:
    """Users reaching each step of ``saved`` over ``days``, its date buckets summed."""
    counts = [0] * len(parse_steps(saved.steps))
    if days is None:
        return tuple(counts)
    span = (days.to_date - days.from_date).days + 1
    params = {
        "from_date": str(days.from_date),
        "to_date": str(days.to_date),
        "interval": min(span, MAX_BUCKET_DAYS),
    }
    answer = funnel(store, project, FunnelSpec.from_params(params, saved))
    for found in answer["data"].values():
        counts = [n + step["count"] for n, step in zip(counts, found["steps"], strict=True)]
    return tuple(counts)


def _retention(store: Store, before: Project, after: Project, days: DayRange | None) -> Retention:
    span = 0 if days is None else (days.to_date - days.from_date).days
    weeks = min(MAX_WEEKS, max(1, span // 7))
    born_b, back_b = _born_and_back(store, before, weeks)
    born_a, back_a = _born_and_back(store, after, weeks)
    back = (Week(k, b, a) for k, (b, a) in enumerate(zip(back_b, back_a, strict=True)))
    return Retention("week", Pair(born_b, born_a), tuple(back))


def _born_and_back(store: Store, project: Project, weeks: int) -> tuple[int, list[int]]:
    """Users born (on their first event) and back in each week 0..``weeks`` after."""
    sql = (
        f"WITH ev AS MATERIALIZED (SELECT e.person AS u, e.time AS t "
        f"FROM ({resolved_events(project)}) e), "
        "birth AS (SELECT u, min(t) AS t0 FROM ev GROUP BY u), "
        "back AS (SELECT DISTINCT b.u, (e.t - b.t0) // $week AS k FROM birth b JOIN ev e "
        "ON e.u = b.u AND e.t > b.t0 AND e.t < b.t0 + $span) "
        "SELECT -1 AS k, count(*) FROM birth UNION ALL SELECT k, count(*) FROM back GROUP BY k"
    )
    values = {"project": project.id, "week": WEEK_MS, "span": (weeks + 1) * WEEK_MS}
    counts: dict[int, int] = dict(rows(store, sql, values))
    return counts.pop(-1), [counts.get(k, 0) for k in range(weeks + 1)]
