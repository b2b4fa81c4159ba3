"""The web console: ``idmerge serve`` answers ``/`` with a single page of four views:
a person (identity graph, history, profile, timeline, and a split with its preview),
the ingestion warnings, the reports (funnel, retention, segmentation) and the
project's overview.

The page is plain HTML, CSS and JavaScript shipped inside the package (no build step,
nothing fetched from elsewhere), so it works offline: ``console.js`` holds the shared
helpers and the router, and each view is a script of its own (``person.js``,
``warnings.js``, ``reports.js``, ``overview.js``). It asks for the project's secret
once, keeps it in the browser session (``sessionStorage``), and calls only the
documented API with it, as any client would: ``/api/identity`` (and its ``split``),
``/api/2.0/engage``, ``stream/query``, ``events/names``, ``segmentation``,
``retention``, ``/api/query/funnels``, ``/api/ingestion/warnings`` and
``/api/overview``.
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
