"""The README's first command: `idmerge serve` on an empty data directory needs no
set-up — it creates a project and says how to reach it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx

from live import free_port


def test_serve_on_an_empty_store_creates_a_default_project(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "idmerge", "serve", "--data-dir", str(tmp_path / "data"),
             "--port", str(port)],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health").status_code == 200:
                    break
            except httpx.TransportError:
                assert server.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.05)
    finally:
        server.terminate()
        server.wait(timeout=30)
    listed = subprocess.run(
        [sys.executable, "-m", "idmerge", "project", "list", "--json",
         "--data-dir", str(tmp_path / "data")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    [project] = json.loads(listed.stdout)
    assert (project["name"], project["mode"]) == ("default", "simplified")
    said = log.read_text()
    assert project["token"] in said and project["secret"] in said
