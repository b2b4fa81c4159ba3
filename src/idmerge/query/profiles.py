"""Profiles as Mixpanel's ``engage`` reads them: one per person, on resolved ids.

A cluster can hold several stored profiles (one per id that was resolved when an
update arrived). Which one a reader sees follows ``profiles/reading.py``, here in SQL:
in the Mixpanel modes only the resolved id's profile; in ``cdp`` the cluster's
profiles combined, the resolved id's winning each key it has and the most recently
updated other profile filling the rest. Deleted profiles are not shown. Any id of a
cluster finds the cluster's profile, always answered under the resolved id.

Paging: the first page fixes the ordered list of matching ids under a
``session_id``; later pages of that session read the same list, so the concurrent
paging of ``mixpanel-utils`` sees each profile exactly once even while profiles
change. A session unknown here (expired, or from before a restart) is recomputed in
the same order.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from idmerge.errors import BadRequest
from idmerge.identity import Mode
from idmerge.projects import Project
from idmerge.query import params as p
from idmerge.query.compile import Scope, compile_where
from idmerge.query.resolved import resolve_ids_sql
from idmerge.storage.base import Store

DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class EngageSpec:
    distinct_ids: tuple[str, ...] | None = None  # distinct_id / distinct_ids
    where: str | None = None  # where, or its legacy name selector
    output_properties: tuple[str, ...] | None = None
    group_key: str | None = None  # data_group_id: group profiles of this key
    page: int = 0
    page_size: int = DEFAULT_PAGE_SIZE
    session_id: str | None = None

    @classmethod
    def from_params(cls, params: p.Params) -> EngageSpec:
        ids = p.string_list(params, "distinct_ids")
        one = p.text(params, "distinct_id")
        if one is not None:
            ids = [one, *(ids or [])]
        if p.text(params, "filter_by_cohort") is not None:
            raise BadRequest(
                "filter_by_cohort: this project has no cohorts (cohorts/list is empty)"
            )
        if p.text(params, "behaviors") is not None:
            raise BadRequest("behaviors is not supported; filter on profile properties with where")
        output = p.string_list(params, "output_properties")
        return cls(
            distinct_ids=None if ids is None else tuple(ids),
            where=p.text(params, "where") or p.text(params, "selector"),
            output_properties=None if output is None else tuple(output),
            group_key=p.text(params, "data_group_id"),
            page=p.integer(params, "page", 0, 0, 10**9) or 0,
            page_size=p.integer(params, "page_size", DEFAULT_PAGE_SIZE, 1, MAX_PAGE_SIZE)
            or DEFAULT_PAGE_SIZE,
            session_id=p.text(params, "session_id"),
        )


def visible_profiles(project: Project, group_key: str | None = None) -> str:
    """SQL of the profiles readers see: ``distinct_id`` (the resolved id, or the group
    id) and ``properties`` (JSON text). Parameters ``$project`` (and ``$group_key``
    when ``group_key`` is given)."""
    if group_key is not None:
        return (
            "SELECT target AS distinct_id, properties FROM profiles WHERE project_id = $project "
            "AND kind = 'group' AND group_key = $group_key AND NOT deleted"
        )
    if project.mode is not Mode.CDP:
        return (
            "SELECT p.target AS distinct_id, p.properties FROM profiles p "
            "WHERE p.project_id = $project AND p.kind = 'user' AND NOT p.deleted "
            "AND NOT EXISTS (SELECT 1 FROM identity_mapping m WHERE m.project_id = $project "
            "AND m.distinct_id = p.target)"
        )
    # cdp: one row per person, each key from the first profile that has it in the
    # order primary, then latest update time, then latest ingestion seq
    return (
        "WITH latest AS (SELECT target, max(seq) AS seq FROM profile_updates "
        "WHERE project_id = $project AND kind = 'user' GROUP BY target), "
        "owned AS (SELECT coalesce(m.resolved_distinct_id, p.target) AS person, "
        "m.resolved_distinct_id IS NULL AS is_primary, p.updated_at, "
        "coalesce(l.seq, -1) AS last_seq, p.properties FROM profiles p "
        "LEFT JOIN identity_mapping m ON m.project_id = $project AND m.distinct_id = p.target "
        "LEFT JOIN latest l ON l.target = p.target "
        "WHERE p.project_id = $project AND p.kind = 'user' AND NOT p.deleted), "
        "pairs AS (SELECT o.person, j.key, j.value, row_number() OVER (PARTITION BY o.person, "
        "j.key ORDER BY o.is_primary DESC, o.updated_at DESC, o.last_seq DESC) AS rank "
        "FROM owned o, json_each(o.properties) j), "
        "combined AS (SELECT person, json_group_object(key, value)::VARCHAR AS properties "
        "FROM pairs WHERE rank = 1 GROUP BY person) "
        "SELECT o.person AS distinct_id, coalesce(c.properties, '{}') AS properties "
        "FROM (SELECT DISTINCT person FROM owned) o LEFT JOIN combined c ON c.person = o.person"
    )


def engage_sql(project: Project, spec: EngageSpec) -> tuple[str, dict[str, Any]]:
    """SQL of the matching profiles' ``distinct_id``, in answer order."""
    values: dict[str, Any] = {"project": project.id}
    if spec.group_key is not None:
        values["group_key"] = spec.group_key
    filters = []
    if spec.distinct_ids is not None:
        values["ids"] = list(spec.distinct_ids)
        if spec.group_key is None:
            filters.append(f"v.distinct_id IN (SELECT resolved FROM ({resolve_ids_sql()}))")
        else:
            filters.append("v.distinct_id IN (SELECT unnest($ids::VARCHAR[]))")
    if spec.where is not None:
        filters.append(compile_where(spec.where, Scope(properties="v.properties")))
    where = " WHERE " + " AND ".join(filters) if filters else ""
    sql = (
        f"SELECT v.distinct_id FROM ({visible_profiles(project, spec.group_key)}) v{where} "
        "ORDER BY v.distinct_id"
    )
    return sql, values


@dataclass(frozen=True, slots=True)
class _Session:
    ids: list[str]
    created: float


class EngageSessions:
    """The id lists of recent first pages, by session_id (a bounded, expiring cache)."""

    def __init__(self, capacity: int = 32, ttl_seconds: float = 1800.0) -> None:
        self._sessions: OrderedDict[str, _Session] = OrderedDict()
        self._lock = threading.Lock()
        self.capacity = capacity
        self.ttl = ttl_seconds

    def put(self, ids: list[str]) -> str:
        session_id = secrets.token_hex(8)
        with self._lock:
            self._sessions[session_id] = _Session(ids, time.monotonic())
            while len(self._sessions) > self.capacity:
                self._sessions.popitem(last=False)
        return session_id

    def get(self, session_id: str) -> list[str] | None:
        with self._lock:
            found = self._sessions.get(session_id)
            if found is None or time.monotonic() - found.created > self.ttl:
                self._sessions.pop(session_id, None)
                return None
            self._sessions.move_to_end(session_id)
            return found.ids


def engage(
    store: Store, project: Project, spec: EngageSpec, sessions: EngageSessions
) -> dict[str, Any]:
    """One page of the answer, in Mixpanel's shape."""
    ids = sessions.get(spec.session_id) if spec.session_id else None
    session_id = spec.session_id
    if ids is None:
        sql, values = engage_sql(project, spec)
        ids = [x for batch in store.query(sql, values) for x in batch.column(0).to_pylist()]
        if session_id is None or spec.page == 0:
            session_id = sessions.put(ids)
    start = spec.page * spec.page_size
    page_ids = ids[start : start + spec.page_size]
    return {
        "page": spec.page,
        "page_size": spec.page_size,
        "session_id": session_id,
        "status": "ok",
        "total": len(ids),
        "results": profile_rows(store, project, spec, page_ids),
    }


def profile_rows(
    store: Store, project: Project, spec: EngageSpec, ids: Sequence[str]
) -> list[dict[str, Any]]:
    """``{"$distinct_id", "$properties"}`` of the profiles ``ids`` (in that order) as
    they are now; a profile deleted since its session began is left out."""
    if not ids:
        return []
    values: dict[str, Any] = {"project": project.id, "page_ids": list(ids)}
    if spec.group_key is not None:
        values["group_key"] = spec.group_key
    sql = (
        f"SELECT v.distinct_id, v.properties FROM ({visible_profiles(project, spec.group_key)}) v "
        "WHERE v.distinct_id IN (SELECT unnest($page_ids::VARCHAR[]))"
    )
    found: dict[str, str] = {}
    for batch in store.query(sql, values):
        found.update(zip(batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True))
    wanted = spec.output_properties
    rows = []
    for distinct_id in ids:
        text = found.get(distinct_id)
        if text is None:
            continue
        properties: dict[str, Any] = msgspec.json.decode(text)
        if wanted is not None:
            properties = {k: properties[k] for k in wanted if k in properties}
        rows.append({"$distinct_id": distinct_id, "$properties": properties})
    return rows
