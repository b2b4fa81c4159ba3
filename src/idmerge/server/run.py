"""Running the server under uvicorn, with httptools and uvloop (see DESIGN.md: the
pure-Python HTTP parser serves about half as many requests and stalls under load)."""

from __future__ import annotations

import logging

import uvicorn

from idmerge.server.app import create_app
from idmerge.settings import Settings
from idmerge.storage.duckdb import open_store


def run(settings: Settings, *, log_level: str = "info") -> None:
    """Serve until interrupted. The store is opened first, so that a database held by
    another process is reported as one clear line before anything starts."""
    store = open_store(settings.data_dir, memory_limit=settings.memory_limit)
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    app = create_app(store_factory=lambda: store)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_level=log_level,
        access_log=log_level == "debug",
        timeout_graceful_shutdown=10,
    )
