"""The identity tools the hosted systems lack, as library functions the HTTP API and
the CLI share: explain an id, split a merge.

Both work on a project's :class:`~idmerge.ingest.pipeline.ProjectWriter` under its
lock, so an explanation agrees with every acknowledged request and a split lands
between two batches, never inside one.
"""

from __future__ import annotations

from typing import Any

from idmerge.identity import LogEntry, Mode
from idmerge.ingest.pipeline import ProjectWriter
from idmerge.query.typed_sql import sql_string


def entry_json(entry: LogEntry) -> dict[str, Any]:
    """One identity-log entry as the API shows it."""
    answer: dict[str, Any] = {
        "seq": entry.seq,
        "time": entry.time,
        "event": entry.event,
        "insert_id": entry.insert_id,
        "outcome": entry.outcome.value,
        "reason": None if entry.reason is None else entry.reason.value,
        "ids": list(entry.ids),
    }
    if entry.undoes:
        answer["undoes"] = list(entry.undoes)
    return answer


def explain(writer: ProjectWriter, distinct_id: str) -> dict[str, Any]:
    """``distinct_id``'s resolved id, cluster and the ordered history of every
    identity outcome that touched an id of the cluster. An unknown id is a cluster of
    one with no history (every id is a user)."""
    with writer.lock:
        explanation = writer.engine.explain(distinct_id)
    return {
        "distinct_id": explanation.distinct_id,
        "resolved_distinct_id": explanation.resolved_distinct_id,
        "cluster": explanation.cluster,
        "history": [entry_json(e) for e in explanation.history],
    }


def split(
    writer: ProjectWriter,
    *,
    now_ms: int,
    insert_id: str | None = None,
    event_seq: int | None = None,
    detach: str | None = None,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Undo the identity event ``insert_id`` (or the one stored as ``event_seq``), or
    detach the id ``detach``; every report re-attributes at once. Answers the split
    as logged, the new cluster of every id the split touched, and which ids and how
    many events change person. With ``dry_run`` nothing is written: the answer is a
    preview of the same split (``"dry_run": true``)."""
    result = writer.split(
        time=now_ms, insert_id=insert_id, event_seq=event_seq, detach=detach, dry_run=dry_run
    )
    moving = sorted(x for x, was in result.before.items() if result.resolved[x] != was)
    answer: dict[str, Any] = {
        "split": entry_json(result.entry),
        "clusters": {
            distinct_id: {
                "resolved_distinct_id": result.resolved[distinct_id],
                "cluster": cluster,
            }
            for distinct_id, cluster in result.clusters.items()
        },
        "moved_ids": moving,
        "moved_events": _events_moving(writer, moving),
    }
    if dry_run:
        answer["dry_run"] = True
    return answer


def _events_moving(writer: ProjectWriter, ids: list[str]) -> int:
    """How many events change person when ``ids`` change resolved id: those stored
    under them, except in ``legacy``, whose events keep the id resolved at ingestion."""
    if not ids or writer.project.mode is Mode.LEGACY:
        return 0
    literals = ", ".join(sql_string(x) for x in ids)  # IN a literal list reads the index
    sql = f"SELECT count(*) FROM events WHERE project_id = $project AND distinct_id IN ({literals})"
    batches = list(writer.store.query(sql, {"project": writer.project.id}))
    return int(batches[0].column(0)[0].as_py()) if batches else 0
