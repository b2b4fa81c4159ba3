"""Fixtures of the SDK tests: a live ``idmerge serve`` with one project per mode.

``server`` is shared by the session, so every test uses ids of its own (see
:func:`.support.unique`); ``fresh_server`` is for the few tests that need projects
nothing else has written to.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .support import redirect_alias
from live import LiveServer


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real server for the session; tests keep apart by using their own ids."""
    live = LiveServer(tmp_path_factory.mktemp("sdk-server"))
    live.start()
    yield live
    live.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server of the test's own, with four empty projects."""
    live = LiveServer(tmp_path)
    live.start()
    yield live
    live.stop(kill=True)


@pytest.fixture
def alias_to_server(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """``Mixpanel.alias`` posts to the session's server (see :func:`.support.redirect_alias`)."""
    redirect_alias(monkeypatch, server)
