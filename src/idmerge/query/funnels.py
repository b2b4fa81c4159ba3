"""Funnels on resolved ids (Mixpanel's ``/funnels``), saved or ad hoc.

The counting rules are those of ``reference/mixpanel_query.md`` §4.2, in Mixpanel's
default ("uniques", ordered) mode:

- A user **enters** a date bucket at their first step-1 event in it (matching that
  step's ``where`` and the funnel's). Only that attempt counts: a later step-1 in the
  same bucket is no second chance, and does not restart the clock. A user can enter
  once per bucket; with ``on``, once per segment of the bucket too (the segment is the
  ``on`` value of the entering step-1 event).
- From the entry at ``t0``, the steps must follow **in order** by ``t0 + length``
  (inclusive); other events, and repeats of step events, may come in between.
- **Two-second grace:** step k+1 may come up to 2 s *before* step k (consecutive steps
  within 2 s count in either order).
- Each step takes the earliest event that qualifies; that choice never loses a
  conversion, since every later step only needs to come after it (less 2 s).
- **Decision:** a step needs an occurrence of its own: when two steps name the same
  event, the event that matched one step cannot match another, and retries of an
  event (same name, stored id, time and ``$insert_id``) are one occurrence.
- **Decision:** a retry whose properties differ from the original's is read as the
  last one stored (as segmentation reads it), by every ``where`` and by ``on``.
- ``avg_time`` is the mean time in seconds from the previous step, and
  ``avg_time_from_start`` from the entry, over the users who reached the step
  (**Decision**: both null at step 1 and where no one reached the step).
  ``analysis.worst`` is the step with the lowest ``step_conv_ratio`` (its index, 1 for
  the drop from the first step to the second: index and transition number agree).

How it runs: one SQL statement. ``ev`` holds the events of the funnel's steps on
resolved ids (each row flags the steps it can be); ``entry`` picks each user's entry
per bucket (and segment); then one join per step finds, for every attempt still
going, the earliest event of the next step in the window. A user has few events per
step, so each join touches one person's rows at a time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from idmerge.errors import BadRequest, NotFound
from idmerge.projects import Project
from idmerge.query import params as p
from idmerge.query.buckets import DAY_MS, Buckets, Unit
from idmerge.query.compile import Scope, compile_on, compile_where
from idmerge.query.resolved import deduplicated, resolved_events
from idmerge.query.typed_sql import sql_string
from idmerge.storage.base import SavedFunnel, Store

GRACE_MS = 2_000
MAX_STEPS = 20
MAX_LENGTH_MS = 90 * DAY_MS  # Mixpanel's API caps a funnel's window at 90 days
LENGTH_UNITS = {"second": 1_000, "minute": 60_000, "hour": 3_600_000, "day": DAY_MS}
UNITS = (Unit.DAY, Unit.WEEK, Unit.MONTH)
#: What a segment is called where ``on`` is undefined for the entering event.
UNDEFINED_SEGMENT = "undefined"
OVERALL = "$overall"


@dataclass(frozen=True, slots=True)
class FunnelStep:
    event: str
    where: str | None = None


@dataclass(frozen=True, slots=True)
class FunnelSpec:
    steps: tuple[FunnelStep, ...]
    buckets: Buckets  # entry dates
    length_ms: int = 7 * DAY_MS  # the conversion window, from the entry
    on: str | None = None
    where: str | None = None
    limit: int = 255  # top segments by entries, with ``on``

    def __post_init__(self) -> None:
        check_funnel(self.steps, self.length_ms)

    @classmethod
    def from_params(cls, params: p.Params, saved: SavedFunnel | None = None) -> FunnelSpec:
        """The funnel ``params`` ask for: the steps of ``saved`` (a ``funnel_id``
        query) or of ``steps`` (an ad-hoc one), with ``length`` / ``length_unit``
        overriding the saved window."""
        if saved is not None:
            steps = parse_steps(saved.steps)
            length, unit = _window(params, saved.length, saved.length_unit)
        else:
            steps = parse_steps(params.get("steps"))
            length, unit = _window(params)
        return cls(
            steps=steps,
            buckets=Buckets.from_params(params, UNITS),
            length_ms=length * LENGTH_UNITS[unit],
            on=p.text(params, "on"),
            where=p.text(params, "where"),
            limit=p.integer(params, "limit", 255, 1, 10_000),
        )


def _window(params: p.Params, length: int = 7, unit: str = "day") -> tuple[int, str]:
    """``length`` and ``length_unit`` as ``params`` give them, else as given here."""
    length = p.integer(params, "length", length, 1, 90 * 86_400)
    return length, p.choice(params, "length_unit", unit, tuple(LENGTH_UNITS))


def check_funnel(steps: tuple[FunnelStep, ...], length_ms: int) -> None:
    """Refuse a funnel that cannot run: too few or many steps, a window out of range,
    a step's ``where`` that does not compile."""
    if not 2 <= len(steps) <= MAX_STEPS:
        raise BadRequest(f"a funnel has 2 to {MAX_STEPS} steps, not {len(steps)}")
    if not 0 < length_ms <= MAX_LENGTH_MS:
        raise BadRequest("length must be more than 0 and at most 90 days")
    for k, step in enumerate(steps):
        if step.where is not None:
            _step_where(k, step.where)


def _step_where(k: int, where: str) -> str:
    return compile_where(where, Scope("e.properties", "e.time", label=f"step {k + 1}'s where"))


def parse_steps(raw: object) -> tuple[FunnelStep, ...]:
    """Steps from JSON (text or decoded): ``[{"event": name, "where"?: expr}, ...]``;
    a bare name stands for ``{"event": name}``."""
    if isinstance(raw, str):
        try:
            raw = msgspec.json.decode(raw)
        except msgspec.DecodeError as exc:
            raise BadRequest(f"steps is not valid JSON: {exc}") from None
    if not isinstance(raw, list) or not raw:
        raise BadRequest('steps must be a JSON array of {"event": name, "where": expression}')
    steps = []
    for n, item in enumerate(raw, 1):
        if isinstance(item, str):
            item = {"event": item}
        if not isinstance(item, dict) or not isinstance(item.get("event"), str):
            raise BadRequest(f'step {n} must be an object with an "event" name')
        where = item.get("where")
        if where is not None and not isinstance(where, str):
            raise BadRequest(f"step {n}'s where must be an expression (text)")
        unknown = set(item) - {"event", "where"}
        if unknown:
            raise BadRequest(f"step {n} has unknown field(s): {', '.join(sorted(unknown))}")
        if not item["event"]:
            raise BadRequest(f"step {n} has an empty event name")
        steps.append(FunnelStep(item["event"], where or None))
    return tuple(steps)


def steps_json(steps: tuple[FunnelStep, ...]) -> str:
    return msgspec.json.encode([{"event": s.event, "where": s.where} for s in steps]).decode()


def funnel_sql(project: Project, spec: FunnelSpec) -> tuple[str, dict[str, Any]]:
    """The funnel's SQL, answering rows ``(b, g, step, n, from_prev_ms, from_start_ms)``:
    per bucket start ``b`` and segment ``g`` (NULL: all users), how many attempts
    reached ``step`` (0-based) and their mean times; and its parameters."""
    scope = Scope(properties="e.properties", time_ms="e.time")
    names = [step.event for step in spec.steps]
    flags = []
    for k, step in enumerate(spec.steps):
        cond = f"e.event = {sql_string(step.event)}"
        if step.where is not None:
            cond += f" AND {_step_where(k, step.where)}"
        flags.append(f"({cond}) AS s{k}")
    filters = [
        "e.event IN (" + ", ".join(sql_string(n) for n in sorted(set(names))) + ")",
        "e.time >= $lo",
        "e.time <= $hi",
    ]
    where = None if spec.where is None else compile_where(spec.where, scope)
    segment = ""
    if spec.on is not None:
        on = compile_on(spec.on, Scope("e.properties", "e.time", label="on"))
        segment = f", CASE WHEN s0 THEN {on} END AS seg"
    # Steps sharing an event could match one occurrence twice: count retries once and
    # keep each matched row's seq to tell occurrences apart. A where or on reads a
    # retry's own properties, which may differ: retries once then too (only then: it
    # costs; otherwise a retry is the same person at the same time, and changes nothing).
    shared = len(set(names)) < len(names)
    reads_properties = (
        spec.on is not None
        or spec.where is not None
        or any(step.where is not None for step in spec.steps)
    )
    relation = f"SELECT * FROM ({resolved_events(project)}) e WHERE " + " AND ".join(filters)
    if shared or reads_properties:
        relation = deduplicated(relation)
    if where is not None:  # reads what stands for the event: after the retries are dropped
        relation = f"SELECT * FROM ({relation}) e WHERE {where}"
    seq = ", e.seq AS q" if shared else ""
    ev = f"SELECT e.person AS u, e.time AS t{seq}, {', '.join(flags)}{segment} FROM ({relation}) e"
    bucket = spec.buckets.sql("t")
    entering = "FROM ev WHERE s0 AND t >= $start AND t < $end"
    first = "min(t) AS t0" + (", arg_min(q, t) AS q0" if shared else "")
    overall = f"SELECT u, {bucket} AS b, NULL::VARCHAR AS g, {first} {entering} GROUP BY u, b"
    ctes = [f"ev AS MATERIALIZED ({ev})"]
    if spec.on is None:
        ctes.append(f"entry AS ({overall})")
    else:
        undefined = sql_string(UNDEFINED_SEGMENT)
        ctes += [
            f"by_segment AS (SELECT u, {bucket} AS b, coalesce(seg, {undefined}) AS g, "
            f"{first} {entering} GROUP BY u, b, g)",
            # ranked, not ORDER BY ... LIMIT: DuckDB 2.0 can drop a LIMIT under IN
            "top AS (SELECT g, row_number() OVER (ORDER BY count(*) DESC, g) AS r "
            "FROM by_segment GROUP BY g)",
            f"entry AS ({overall} UNION ALL SELECT * FROM by_segment "
            f"WHERE g IN (SELECT g FROM top WHERE r <= {int(spec.limit)}))",
        ]
    previous = "entry"
    for k in range(1, len(spec.steps)):
        carried = ", ".join(f"n.t{j}" for j in range(k)) + (
            "".join(f", n.q{j}" for j in range(k)) if shared else ""
        )
        found = f"min(e.t) AS t{k}" + (f", arg_min(e.q, e.t) AS q{k}" if shared else "")
        distinct = "".join(
            f" AND e.q <> n.q{j}" for j in range(k) if spec.steps[j].event == spec.steps[k].event
        )
        ctes.append(
            f"c{k} AS (SELECT n.u, n.b, n.g, {carried}, {found} FROM {previous} n "
            f"JOIN ev e ON e.u = n.u AND e.s{k} AND e.t >= n.t{k - 1} - {GRACE_MS} "
            f"AND e.t <= n.t0 + $length{distinct} GROUP BY ALL)"
        )
        previous = f"c{k}"
    counts = [
        "SELECT b, g, 0 AS step, count(*) AS n, NULL::DOUBLE AS from_prev_ms, "
        "NULL::DOUBLE AS from_start_ms FROM entry GROUP BY b, g"
    ]
    counts += [
        f"SELECT b, g, {k}, count(*), avg(t{k} - t{k - 1}), avg(t{k} - t0) FROM c{k} GROUP BY b, g"
        for k in range(1, len(spec.steps))
    ]
    sql = "WITH " + ",\n".join(ctes) + "\n" + "\nUNION ALL ".join(counts)
    start, end = spec.buckets.start_ms, spec.buckets.end_ms
    values: dict[str, Any] = {
        "project": project.id,
        "lo": start - GRACE_MS * (len(spec.steps) - 1),
        "hi": end + spec.length_ms,
        "start": start,
        "end": end,
        "length": spec.length_ms,
    }
    return sql, values


def funnel(store: Store, project: Project, spec: FunnelSpec) -> dict[str, Any]:
    """The funnel in Mixpanel's answer shape: ``{"meta": {"dates": [...]}, "data":
    {date: {"steps": [...], "analysis": {...}}}}``; with ``on``, each date maps to
    ``{"$overall": [steps], "<segment>": [steps], ...}`` instead."""
    sql, values = funnel_sql(project, spec)
    found: dict[tuple[int, str | None], dict[int, tuple[int, float | None, float | None]]] = {}
    totals: dict[str, int] = {}
    for batch in store.query(sql, values):
        for b, g, step, n, prev_ms, start_ms in zip(*batch.to_pydict().values(), strict=True):
            found.setdefault((b, g), {})[step] = (n, prev_ms, start_ms)
            if g is not None and step == 0:
                totals[g] = totals.get(g, 0) + n
    segments = sorted(totals, key=lambda g: (-totals[g], g))
    data: dict[str, Any] = {}
    for start in spec.buckets.starts():
        label = spec.buckets.label(start)
        overall = _steps(spec.steps, found.get((start, None), {}))
        if spec.on is None:
            data[label] = {"steps": overall, "analysis": _analysis(overall)}
        else:
            data[label] = {OVERALL: overall} | {
                g: _steps(spec.steps, found.get((start, g), {})) for g in segments
            }
    return {"meta": {"dates": list(data)}, "data": data}


def _seconds(ms: float | None) -> float | None:
    return None if ms is None or math.isnan(ms) else round(ms / 1000, 3)


def _steps(
    steps: tuple[FunnelStep, ...], reached: Mapping[int, tuple[int, float | None, float | None]]
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    first = reached.get(0, (0, None, None))[0]
    for k, step in enumerate(steps):
        count, prev_ms, start_ms = reached.get(k, (0, None, None))
        before = out[-1]["count"] if out else count
        out.append(
            {
                "count": count,
                "avg_time": _seconds(prev_ms) if k else None,
                "avg_time_from_start": _seconds(start_ms) if k else None,
                "step_conv_ratio": 1.0 if k == 0 else (count / before if before else 0.0),
                "overall_conv_ratio": 1.0 if k == 0 else (count / first if first else 0.0),
                "goal": step.event,
                "event": step.event,
            }
        )
    return out


def _analysis(steps: list[dict[str, Any]]) -> dict[str, int]:
    ratios = [step["step_conv_ratio"] for step in steps[1:]]
    return {
        "completion": steps[-1]["count"],
        "starting_amount": steps[0]["count"],
        "steps": len(steps),
        "worst": 1 + ratios.index(min(ratios)),
    }


# -- saved funnels ----------------------------------------------------------------


def save_funnel(store: Store, project: Project, params: p.Params, now_ms: int) -> dict[str, Any]:
    """Keep the funnel ``params`` describe (``name``, ``steps``, and optionally
    ``length`` and ``length_unit``, default 7 days) and answer it as listed."""
    name = p.text(params, "name", required=True)
    steps = parse_steps(params.get("steps"))
    length, unit = _window(params)
    check_funnel(steps, length * LENGTH_UNITS[unit])  # refused now, not at query time
    saved = store.save_funnel(project.id, name, steps_json(steps), length, unit, now_ms)
    return described(saved)


def described(saved: SavedFunnel) -> dict[str, Any]:
    return {
        "funnel_id": saved.funnel_id,
        "name": saved.name,
        "steps": msgspec.json.decode(saved.steps),
        "length": saved.length,
        "length_unit": saved.length_unit,
        "created_at": saved.created_at,
    }


def saved_funnel(store: Store, project: Project, funnel_id: int) -> SavedFunnel:
    for saved in store.saved_funnels(project.id):
        if saved.funnel_id == funnel_id:
            return saved
    raise NotFound(f"this project has no funnel with funnel_id {funnel_id}")


def funnel_of(store: Store, project: Project, params: p.Params) -> FunnelSpec:
    """The funnel a query asks for: by ``funnel_id`` (saved), or by ``steps`` (ad hoc)."""
    funnel_id = p.integer(params, "funnel_id", None, 1, 2**31 - 1)
    has_steps = params.get("steps") not in (None, "")
    if funnel_id is None:
        if not has_steps:
            raise BadRequest("funnel_id is required (or steps, for an ad-hoc funnel)")
        return FunnelSpec.from_params(params)
    if has_steps:
        raise BadRequest("give funnel_id or steps, not both")
    return FunnelSpec.from_params(params, saved_funnel(store, project, funnel_id))
