"""The identity tools the hosted systems lack, as library functions the HTTP API and
the CLI share: explain an id, split a merge.

Both work on a project's :class:`~idmerge.ingest.pipeline.ProjectWriter` under its
lock, so an explanation agrees with every acknowledged request and a split lands
between two batches, never inside one.
"""

from __future__ import annotations

from typing import Any

from idmerge.identity import LogEntry
from idmerge.ingest.pipeline import ProjectWriter


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
) -> dict[str, Any]:
    """Undo the identity event ``insert_id`` (or the one stored as ``event_seq``), or
    detach the id ``detach``; every report re-attributes at once. Answers the split
    as logged and the new cluster of every id the split touched."""
    result = writer.split(time=now_ms, insert_id=insert_id, event_seq=event_seq, detach=detach)
    return {
        "split": entry_json(result.entry),
        "clusters": {
            distinct_id: {
                "resolved_distinct_id": result.resolved[distinct_id],
                "cluster": cluster,
            }
            for distinct_id, cluster in result.clusters.items()
        },
    }
