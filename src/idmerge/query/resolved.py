"""The relation every reader starts from: a project's events on resolved ids.

Events keep the id they were stored under; who they belong to is decided here, at
query time, by joining the identity mapping (an id without a row resolves to
itself). A merge made today therefore re-attributes last month's events, and a split
gives them back. ``legacy`` is the exception: it resolved ids at ingestion, as
Mixpanel's legacy system does, and is never re-attributed, so its events are read as
stored.
"""

from __future__ import annotations

from idmerge.identity import Mode
from idmerge.projects import Project


def resolved_events(project: Project, *, param: str = "project") -> str:
    """SQL of the project's events, one row each (duplicates included, as export
    shows them), with columns ``seq``, ``event``, ``distinct_id`` (resolved),
    ``stored_distinct_id``, ``time`` (ms), ``insert_id``, ``properties`` (JSON text),
    ``received_at`` (ms) and ``person``, the integer key of the resolved id: the
    column to count and join people on (integers join and group faster than strings;
    a key means something only within its project). The project id is the parameter
    named ``param`` (two projects in one query need two names)."""
    if project.mode is Mode.LEGACY:
        return (
            "SELECT e.seq, e.event, e.distinct_id, e.distinct_id AS stored_distinct_id, "
            "e.time, e.insert_id, e.properties, e.received_at, e.id_key AS person "
            f"FROM events e WHERE e.project_id = ${param}"
        )
    return (
        "SELECT e.seq, e.event, coalesce(m.resolved_distinct_id, e.distinct_id) AS distinct_id, "
        "e.distinct_id AS stored_distinct_id, e.time, e.insert_id, e.properties, e.received_at, "
        "coalesce(m.resolved_key, e.id_key) AS person "
        "FROM events e LEFT JOIN identity_mapping m "
        "ON m.project_id = e.project_id AND m.id_key = e.id_key "
        f"WHERE e.project_id = ${param}"
    )


def deduplicated(relation: str) -> str:
    """SQL of ``relation`` (rows of :func:`resolved_events`, or a filtered subset of
    them) with retries counted once: rows that share ``event``, stored id, ``time``
    and ``$insert_id`` are one event (the last stored stands for it); a row without
    ``$insert_id`` is always its own. Filtering by event name or time before this is
    safe, since duplicates share both."""
    return (
        f"SELECT * FROM ({relation}) d QUALIFY d.insert_id IS NULL OR row_number() OVER ("
        "PARTITION BY d.event, d.stored_distinct_id, d.time, d.insert_id ORDER BY d.seq DESC) = 1"
    )


def resolve_ids_sql() -> str:
    """SQL of ``(asked, resolved)`` for the ids of the ``$ids`` list parameter."""
    return (
        "SELECT w.id AS asked, coalesce(m.resolved_distinct_id, w.id) AS resolved "
        "FROM unnest($ids::VARCHAR[]) AS w(id) LEFT JOIN identity_mapping m "
        "ON m.project_id = $project AND m.distinct_id = w.id"
    )
