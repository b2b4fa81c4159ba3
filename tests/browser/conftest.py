"""Fixtures of the browser tests: Chromium, the test page's server, a live idmerge.

The tests skip when Chromium or the SDK's ``node_modules`` are missing, unless
``IDMERGE_REQUIRE_BROWSER=1`` (set by ``.ci/run``, which installs both): then they fail.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from .harness import REQUIRE_ENV, Chromium, PageServer, SdkPage, missing_prerequisites

MODES = ("simplified", "original")


@pytest.fixture(scope="session", autouse=True)
def browser_prerequisites() -> None:
    reason = missing_prerequisites()
    if reason is None:
        return
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1, but {reason}", pytrace=False)
    pytest.skip(reason)


class IdmergeServer:
    """``idmerge serve`` in a child process over a fresh data directory, with one
    project per mode in :data:`MODES`, each named after its mode."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port: int = sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir / "server.log"
        self.projects = {mode: self._create_project(mode) for mode in MODES}
        self.process: subprocess.Popen[bytes] | None = None

    def _create_project(self, mode: str) -> dict[str, Any]:
        command = ["project", "create", mode, "--mode", mode, "--data-dir", str(self.data_dir)]
        done = subprocess.run(
            [sys.executable, "-m", "idmerge", *command], check=False, capture_output=True, text=True
        )
        if done.returncode != 0:
            raise RuntimeError(f"idmerge {' '.join(command)} failed:\n{done.stderr}")
        project: dict[str, Any] = json.loads(done.stdout)
        return project

    def start(self, timeout: float = 30.0) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "idmerge", "serve", "--data-dir", str(self.data_dir),
                 "--host", "127.0.0.1", "--port", str(self.port)],
                stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"idmerge serve exited early:\n{self.log()}")
            with (
                contextlib.suppress(OSError),
                urllib.request.urlopen(self.url + "/health", timeout=1) as answer,
            ):
                if answer.status == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"idmerge serve was not healthy after {timeout} s:\n{self.log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def token(self, mode: str) -> str:
        return str(self.projects[mode]["token"])

    def secret(self, mode: str) -> str:
        return str(self.projects[mode]["secret"])

    def identity(self, mode: str, distinct_id: str) -> dict[str, Any]:
        """``GET /api/identity`` with the project's secret."""
        query = urllib.parse.urlencode({"distinct_id": distinct_id})
        request = urllib.request.Request(f"{self.url}/api/identity?{query}")
        credentials = base64.b64encode(f"{self.secret(mode)}:".encode()).decode()
        request.add_header("Authorization", f"Basic {credentials}")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                found: dict[str, Any] = json.load(answer)
                return found
        except urllib.error.HTTPError as exc:
            body = exc.read().decode(errors="replace")
            raise AssertionError(f"GET /api/identity?{query} answered {exc.code}: {body}") from exc


@pytest.fixture(scope="session")
def idmerge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdmergeServer]:
    """One server for the session; tests keep apart by using ids of their own."""
    server = IdmergeServer(tmp_path_factory.mktemp("idmerge"))
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def chromium() -> Iterator[Chromium]:
    with Chromium() as browser:
        yield browser


@pytest.fixture(scope="session")
def page_server() -> Iterator[PageServer]:
    server = PageServer()
    yield server
    server.close()


OpenPage = Callable[..., AbstractContextManager[SdkPage]]

DEFAULT_SDK_CONFIG: dict[str, Any] = {
    "batch_requests": True,
    "batch_flush_interval_ms": 100,
    "api_payload_format": "base64",
    "debug": True,  # the SDK's log lands in the page console, shown when a step fails
}


@pytest.fixture
def open_page(chromium: Chromium, page_server: PageServer, idmerge: IdmergeServer) -> OpenPage:
    """``open_page(mode, **sdk_config)``: a fresh browser context (a new visitor) on the
    test page, with the SDK initialised for the mode's project against the server."""

    def opener(mode: str, **config: Any) -> AbstractContextManager[SdkPage]:
        return chromium.sdk_page(
            page_server.url,
            token=idmerge.token(mode),
            api_host=idmerge.url,
            config={**DEFAULT_SDK_CONFIG, **config},
        )

    return opener
