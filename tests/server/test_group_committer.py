"""The group-commit thread: a request fails alone, as a clear 503-class error, and its
neighbours in the same group are still written."""

from __future__ import annotations

import asyncio
from pathlib import Path

from idmerge.errors import StoreUnavailable
from idmerge.identity import Event
from idmerge.ingest import ProjectWriter
from idmerge.ingest.pipeline import Submission
from idmerge.projects import create_project
from idmerge.server.writer import GroupCommitter
from idmerge.storage.base import WriteBatch
from idmerge.storage.duckdb import DuckDBStore


class RefusingStore(DuckDBStore):
    """The real DuckDB store, refusing any batch that holds an event named ``poison``
    (as a full disk or a broken file would refuse it)."""

    def commit(self, project_id: int, batch: WriteBatch) -> None:
        if any(event.name == "poison" for event in batch.events):
            raise OSError("No space left on device")
        super().commit(project_id, batch)


def submission(name: str, distinct_id: str) -> Submission:
    event = Event(name, {"distinct_id": distinct_id}, 1, f"i-{distinct_id}")
    return Submission("/import", 1, events=[(0, event)])


def test_a_failing_request_fails_alone_and_names_the_problem(tmp_path: Path) -> None:
    store = RefusingStore(tmp_path / "t.duckdb")
    writer = ProjectWriter(store, create_project(store, "app", now=0))
    committer = GroupCommitter()

    async def send_together() -> list[object]:
        jobs = [
            committer.submit(writer, submission("view", "a")),
            committer.submit(writer, submission("poison", "b")),
            committer.submit(writer, submission("view", "c")),
        ]
        return await asyncio.gather(*jobs, return_exceptions=True)

    try:
        results = asyncio.run(send_together())
    finally:
        committer.close()
    assert isinstance(results[1], StoreUnavailable)
    assert "No space left on device" in results[1].message
    assert not isinstance(results[0], BaseException)
    assert not isinstance(results[2], BaseException)
    assert sorted(e.distinct_id for e in store.read_events(1)) == ["a", "c"]
    # the failed request left nothing behind, in the store or in memory
    assert writer.next_seq == store.last_seq(1) + 1
    store.close()
