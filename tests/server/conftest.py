from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from live import LiveServer


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real server for the session; tests keep apart by using their own ids."""
    live = LiveServer(tmp_path_factory.mktemp("server"))
    live.start()
    yield live
    live.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server of the test's own, for tests that stop, kill or count everything."""
    live = LiveServer(tmp_path)
    live.start()
    yield live
    live.stop(kill=True)
