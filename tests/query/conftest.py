"""Fixtures of the report tests: the server's clock in several time zones, and a
project in a real DuckDB file."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from idmerge.identity import Mode
from idmerge.ingest import ProjectWriter
from idmerge.projects import create_project
from idmerge.storage.duckdb import DuckDBStore, open_store

#: UTC, a zone behind it and the one furthest ahead (+14:00): reports bucket by UTC
#: days, so the server's own zone must change nothing.
ZONES = ("UTC", "America/Los_Angeles", "Pacific/Kiritimati")


@pytest.fixture(params=ZONES)
def server_tz(request: pytest.FixtureRequest) -> Iterator[str]:
    """Runs the test with the process's local time zone set to each of :data:`ZONES`
    (DuckDB connections opened during the test take it as their ``TimeZone``)."""
    before = os.environ.get("TZ")
    os.environ["TZ"] = request.param
    time.tzset()
    try:
        yield request.param
    finally:
        if before is None:
            del os.environ["TZ"]
        else:
            os.environ["TZ"] = before
        time.tzset()


@pytest.fixture
def project_writer(server_tz: str, tmp_path: Path) -> Iterator[Callable[[Mode], ProjectWriter]]:
    """``make(mode)``: a new project of that mode in a DuckDB file opened in the zone
    of :func:`server_tz`, and its writer (``writer.store``, ``writer.project``)."""
    store: DuckDBStore = open_store(tmp_path)
    names = iter(range(1_000))

    def make(mode: Mode) -> ProjectWriter:
        project = create_project(store, f"p{next(names)}-{mode.value}", mode, now=0)
        return ProjectWriter(store, project)

    yield make
    store.close()
