from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from idmerge.storage.base import Store
from idmerge.storage.duckdb import DuckDBStore
from idmerge.storage.memory import MemoryStore


@pytest.fixture(params=["memory", "duckdb"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Every backend, so that one contract suite holds for all of them."""
    backend: Store = (
        MemoryStore() if request.param == "memory" else DuckDBStore(tmp_path / "t.duckdb")
    )
    yield backend
    backend.close()
