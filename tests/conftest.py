from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import idmerge.identity
from idmerge.storage.base import Store
from idmerge.storage.duckdb import DuckDBStore
from idmerge.storage.memory import MemoryStore

from live import LiveServer


@pytest.fixture(params=["memory", "duckdb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Every backend, so that one contract suite holds for all of them."""
    backend: Store = (
        MemoryStore() if request.param == "memory" else DuckDBStore(tmp_path / "t.duckdb")
    )
    yield backend
    backend.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One real ``idmerge serve`` for the whole session (tests/server, tests/sdk and
    tests/browser share it); tests keep apart by using ids of their own."""
    live = LiveServer(tmp_path_factory.mktemp("server"))
    live.start()
    yield live
    live.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server of the test's own, with four empty projects, for tests that stop, kill
    or count everything."""
    live = LiveServer(tmp_path)
    live.start()
    yield live
    live.stop(kill=True)


def _stale_compiled_modules() -> list[str]:
    """Engine modules whose compiled build is older than their source."""
    package = Path(idmerge.identity.__file__).parent
    stale = []
    for source in package.glob("*.py"):
        for built in package.glob(f"{source.stem}.*.so"):
            if built.stat().st_mtime < source.stat().st_mtime:
                stale.append(source.name)
    return stale


def pytest_configure(config: pytest.Config) -> None:
    stale = _stale_compiled_modules()
    if stale:
        raise pytest.UsageError(
            f"the compiled identity engine is older than {', '.join(sorted(stale))}: the "
            "tests would run the old code. Rebuild with `pip install -e '.[test]'`, or "
            "work in pure Python with `IDMERGE_PURE_PYTHON=1 pip install -e '.[test]'`."
        )
