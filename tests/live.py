"""A real idmerge server in a child process, over loopback, for integration tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import httpx

MODES = ("simplified", "original", "legacy", "cdp")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def create_project(data_dir: Path, name: str, mode: str, *extra: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "idmerge", "project", "create", name, "--mode", mode,
         "--data-dir", str(data_dir), *extra],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    project: dict[str, Any] = json.loads(done.stdout)
    return project


class LiveServer:
    """``idmerge serve`` on a free port, over its own data directory; one project per
    identity mode, named after the mode."""

    def __init__(self, data_dir: Path, modes: tuple[str, ...] = MODES) -> None:
        """``modes``: the projects to create first (none: the server starts empty)."""
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.projects = {mode: create_project(data_dir, mode, mode) for mode in modes}
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "server.log"

    def start(self, timeout: float = 30.0) -> None:
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the file
            self.process = subprocess.Popen(
                [sys.executable, "-m", "idmerge", "serve", "--data-dir", str(self.data_dir),
                 "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
                stdout=log, stderr=log, env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"idmerge serve exited early:\n{self.log()}")
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"idmerge serve did not become healthy:\n{self.log()}")

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            self.process.wait(timeout=30)
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def token(self, mode: str) -> str:
        token: str = self.projects[mode]["token"]
        return token

    def secret(self, mode: str) -> str:
        secret: str = self.projects[mode]["secret"]
        return secret

    def import_events(self, mode: str, events: list[dict[str, Any]]) -> None:
        """``POST /import`` (strict) of ``events`` into the mode's project; it must
        accept them all."""
        answer = httpx.post(
            self.url + "/import",
            params={"strict": "1"},
            json=events,
            auth=(self.secret(mode), ""),
            timeout=30,
        )
        assert answer.status_code == 200, answer.text

    def api(self, mode: str, path: str, **params: Any) -> Any:
        """GET one of the server's own endpoints with the project's secret."""
        response = httpx.get(
            self.url + path, params=params, auth=(self.secret(mode), ""), timeout=30
        )
        response.raise_for_status()
        return response.json()

    def identity(self, mode: str, distinct_id: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.api(mode, "/api/identity", distinct_id=distinct_id)
        return answer

    def cluster(self, mode: str, distinct_id: str) -> set[str]:
        return set(self.identity(mode, distinct_id)["cluster"])

    def warnings(self, mode: str, **params: Any) -> list[dict[str, Any]]:
        results: list[dict[str, Any]] = self.api(mode, "/api/ingestion/warnings", **params)[
            "results"
        ]
        return results


def assert_one_user(server: LiveServer, mode: str, ids: Iterable[str]) -> str:
    """Every id of ``ids`` has exactly ``ids`` as its cluster and all of them resolve to
    one member of it (which member is not asserted: in ``original`` mode it is not
    promised); answers that resolved id."""
    expected = set(ids)
    found: set[str] = set()
    for distinct_id in sorted(expected):
        answer = server.identity(mode, distinct_id)
        assert answer["distinct_id"] == distinct_id, f"asked for {distinct_id!r}: {answer}"
        assert set(answer["cluster"]) == expected, f"cluster of {distinct_id!r}"
        found.add(answer["resolved_distinct_id"])
    assert len(found) == 1, f"{sorted(expected)} resolve to {sorted(found)}"
    (one,) = found
    assert one in expected
    return one
