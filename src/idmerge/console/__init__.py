"""The web console: ``idmerge serve`` answers ``/`` with a single page that looks up a
person's identity graph and timeline, and lists the ingestion warnings.

The page is plain HTML, CSS and JavaScript shipped inside the package (no build step,
nothing fetched from elsewhere), so it works offline. It asks for the project's
secret once, keeps it in the browser session (``sessionStorage``), and calls only the
documented API (``/api/identity``, ``/api/2.0/engage``, ``/api/2.0/stream/query``,
``/api/ingestion/warnings``) with it, as any client would.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

STATIC = Path(__file__).parent / "static"


async def index(request: Request) -> Response:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")


def routes() -> list[BaseRoute]:
    return [
        Route("/", index, methods=["GET"]),
        Mount("/console", app=StaticFiles(directory=STATIC), name="console"),
    ]
