"""The README's first command: `idmerge serve` on an empty data directory needs no
set-up — it creates a project and says how to reach it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from live import LiveServer


def test_serve_on_an_empty_store_creates_a_default_project(tmp_path: Path) -> None:
    server = LiveServer(tmp_path, modes=())
    server.start()
    server.stop()
    listed = subprocess.run(
        [sys.executable, "-m", "idmerge", "project", "list", "--json",
         "--data-dir", str(tmp_path)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    [project] = json.loads(listed.stdout)
    assert (project["name"], project["mode"]) == ("default", "simplified")
    said = server.log()
    assert project["token"] in said and project["secret"] in said
