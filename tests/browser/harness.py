"""Drive the official ``mixpanel-browser`` SDK in Debian's headless Chromium.

Three pieces, each usable on its own:

* :class:`PageServer` serves the test page, the SDK bundle and ``driver.js`` on a
  loopback port of its own, so that the SDK calls the idmerge server cross-origin,
  with credentials, as it does on a real site.
* :class:`Chromium` starts ``/usr/bin/chromium --headless=new`` with a throw-away
  profile and speaks the DevTools protocol to it over ``--remote-debugging-pipe``
  (NUL-separated JSON on file descriptors 3 and 4: no port to discover, no
  websocket library, nothing that outlives the browser).
* :class:`SdkPage` is one page in a fresh browser context (its own cookies and
  local storage, so one test's anonymous id never leaks into the next); its
  :meth:`SdkPage.run` runs a step of a scenario and returns what the SDK sent, once
  the server has answered all of it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

HERE = Path(__file__).resolve().parent
SDK_PACKAGE = HERE / "node_modules" / "mixpanel-browser"
# The UMD build carries everything in one file and sets ``window.mixpanel``;
# ``mixpanel.globals.js`` and ``mixpanel.min.js`` expect the loader snippet instead.
SDK_BUNDLE = SDK_PACKAGE / "dist" / "mixpanel.umd.js"
DRIVER = HERE / "driver.js"
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser")
REQUIRE_ENV = "IDMERGE_REQUIRE_BROWSER"

PAGE = b"""<!doctype html>
<html><head><meta charset="utf-8"><title>idmerge browser test</title>
<script src="/mixpanel.umd.js"></script>
<script src="/driver.js"></script>
</head><body>idmerge browser test</body></html>
"""


class BrowserError(RuntimeError):
    """Chromium or the page did not do what the harness asked, with the reason."""


def find_chromium() -> str | None:
    for candidate in CHROMIUM_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def missing_prerequisites() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if find_chromium() is None:
        return "Chromium is not installed (apt-get install chromium)"
    if not SDK_BUNDLE.is_file():
        return f"{SDK_BUNDLE} is missing (run: npm ci --prefix tests/browser)"
    return None


# -- the test page -------------------------------------------------------------------


class PageServer:
    """Serves ``/`` (the page), the SDK bundle and the driver on ``127.0.0.1``."""

    def __init__(self) -> None:
        files = {
            "/": (PAGE, "text/html; charset=utf-8"),
            "/mixpanel.umd.js": (SDK_BUNDLE.read_bytes(), "text/javascript"),
            "/driver.js": (DRIVER.read_bytes(), "text/javascript"),
        }

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                if path not in files:
                    self.send_error(HTTPStatus.NOT_FOUND)
                    return
                body, content_type = files[path]
                self.send_response(HTTPStatus.OK)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


# -- the browser ---------------------------------------------------------------------


CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",  # CI runs as root
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    # This machine reaches no outside host: without these, Chromium keeps trying.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-extensions",
    "--disable-default-apps",
    # The SDK flushes on timers: a page Chromium thinks is in the background would
    # have them slowed to one a second or worse.
    "--disable-background-timer-throttling",
    "--disable-backgrounding-occluded-windows",
    "--disable-renderer-backgrounding",
    "--mute-audio",
    "--remote-debugging-pipe",
)


class Chromium:
    """A headless Chromium, driven over the DevTools protocol on a pipe.

    Use as a context manager: the browser (with its whole process group) and its
    profile directory are removed on exit, whatever happened.
    """

    def __init__(self, executable: str | None = None, *, start_timeout: float = 30.0) -> None:
        self.executable = executable or find_chromium() or "/usr/bin/chromium"
        self.start_timeout = start_timeout
        self._profile = Path(tempfile.mkdtemp(prefix="idmerge-chromium-"))
        self._proc: subprocess.Popen[bytes] | None = None
        self._to_browser = -1
        self._from_browser = -1
        self._buffer = b""
        self._next_id = 0
        self._responses: dict[int, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []
        self.version = ""

    def __enter__(self) -> Chromium:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> None:
        # Chromium reads commands from fd 3 and writes answers to fd 4.
        commands_read, commands_write = os.pipe()
        answers_read, answers_write = os.pipe()
        stderr = (self._profile / "stderr.log").open("wb")
        # bash, not sh: dash takes only one-digit descriptors in a redirection. The
        # write end is always the higher number, so it is never 3 and survives ``3<&``.
        argv = [
            "/bin/bash",
            "-c",
            f'exec "$0" "$@" 3<&{commands_read} 4>&{answers_write}',
            self.executable,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={self._profile / 'profile'}",
            "about:blank",
        ]
        try:
            self._proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                pass_fds=(commands_read, answers_write),
                start_new_session=True,
            )
        finally:
            stderr.close()
            os.close(commands_read)
            os.close(answers_write)
        self._to_browser, self._from_browser = commands_write, answers_read
        version = self.call("Browser.getVersion", timeout=self.start_timeout)
        self.version = str(version.get("product", "?"))

    def close(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(BrowserError, OSError):
                self.call("Browser.close", timeout=5)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)
        if self._proc is not None:
            # Renderers and helpers share the browser's process group (its own session).
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self._proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._proc.wait(timeout=5)
        for fd in (self._to_browser, self._from_browser):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._to_browser = self._from_browser = -1
        shutil.rmtree(self._profile, ignore_errors=True)

    # -- the protocol ----------------------------------------------------------------

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        *,
        session: str | None = None,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """Send one command and wait for its answer; a protocol error raises."""
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        self._write(json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while self._next_id not in self._responses:
            self._read(deadline, f"the answer to {method}")
        answer = self._responses.pop(self._next_id)
        if "error" in answer:
            raise BrowserError(f"{method} failed: {answer['error']}")
        result: dict[str, Any] = answer.get("result", {})
        return result

    def wait_event(self, method: str, *, session: str | None, timeout: float) -> dict[str, Any]:
        """The first not yet taken event ``method`` of ``session``; taken events are removed."""
        deadline = time.monotonic() + timeout
        while True:
            for index, event in enumerate(self._events):
                if event.get("method") == method and event.get("sessionId") == session:
                    del self._events[index]
                    params: dict[str, Any] = event.get("params", {})
                    return params
            self._read(deadline, f"the event {method}")

    def take_events(self, session: str) -> list[dict[str, Any]]:
        """Remove and return every event received so far for ``session``."""
        self._read_ready()
        mine = [e for e in self._events if e.get("sessionId") == session]
        self._events = [e for e in self._events if e.get("sessionId") != session]
        return mine

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._to_browser, view) :]
        except OSError as exc:
            raise BrowserError(f"Chromium is gone ({exc}){self._stderr_tail()}") from exc

    def _read(self, deadline: float, waiting_for: str) -> None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise BrowserError(f"timed out waiting for {waiting_for}{self._stderr_tail()}")
        ready, _, _ = select.select([self._from_browser], [], [], remaining)
        if ready:
            self._consume(os.read(self._from_browser, 1 << 20))

    def _read_ready(self) -> None:
        while select.select([self._from_browser], [], [], 0)[0]:
            self._consume(os.read(self._from_browser, 1 << 20))

    def _consume(self, chunk: bytes) -> None:
        if not chunk:
            code = self._proc.poll() if self._proc else None
            raise BrowserError(f"Chromium exited (status {code}){self._stderr_tail()}")
        self._buffer += chunk
        *messages, self._buffer = self._buffer.split(b"\0")
        for raw in messages:
            message = json.loads(raw)
            if "id" in message:
                self._responses[message["id"]] = message
            else:
                self._events.append(message)

    def _stderr_tail(self) -> str:
        try:
            text = (self._profile / "stderr.log").read_text(errors="replace")
        except OSError:
            return ""
        lines = [line for line in text.splitlines() if line.strip()][-15:]
        return "\nChromium's last output:\n  " + "\n  ".join(lines) if lines else ""

    # -- pages -----------------------------------------------------------------------

    @contextlib.contextmanager
    def page(self, url: str, *, step_timeout: float = 20.0) -> Iterator[SdkPage]:
        """A page showing ``url`` in a new browser context (cookies and storage of its
        own), 1280 x 900 CSS pixels."""
        context = self.call("Target.createBrowserContext", {"disposeOnDetach": True})
        context_id = context["browserContextId"]
        page: SdkPage | None = None
        try:
            target = self.call(
                "Target.createTarget", {"url": "about:blank", "browserContextId": context_id}
            )
            attached = self.call(
                "Target.attachToTarget", {"targetId": target["targetId"], "flatten": True}
            )
            page = SdkPage(self, attached["sessionId"], step_timeout)
            self.call(
                "Emulation.setDeviceMetricsOverride",
                {"width": 1280, "height": 900, "deviceScaleFactor": 1, "mobile": False},
                session=page.session,
            )
            page.open(url)
            yield page
        finally:
            with contextlib.suppress(BrowserError):
                self.call("Target.disposeBrowserContext", {"browserContextId": context_id})
            # Drop the closed page's events, and the browser's own (attached, detached...).
            gone = {None, page.session if page else None}
            self._events = [e for e in self._events if e.get("sessionId") not in gone]

    @contextlib.contextmanager
    def sdk_page(
        self,
        page_url: str,
        *,
        token: str,
        api_host: str,
        config: dict[str, Any],
        step_timeout: float = 20.0,
    ) -> Iterator[SdkPage]:
        """A page in a new browser context with the SDK initialised by ``config``."""
        with self.page(page_url, step_timeout=step_timeout) as page:
            page.start_sdk(token=token, api_host=api_host, config=config)
            yield page


# -- one page with the SDK -------------------------------------------------------------


@dataclass(frozen=True)
class SdkRequest:
    """One request the page made, as the page saw it."""

    method: str
    url: str
    body: str | None
    status: int
    response: str

    @property
    def path(self) -> str:
        return urlsplit(self.url).path

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.url).query)

    @property
    def data(self) -> str:
        """The raw ``data`` parameter, as sent."""
        fields = parse_qs(self.body) if self.body is not None else self.query
        return fields["data"][0]

    @property
    def payload_format(self) -> str:
        return "json" if self.data[:1] in ("[", "{") else "base64"

    @property
    def payload(self) -> Any:
        """The decoded ``data``: one object, or a list of them (a batch)."""
        raw = self.data
        if self.payload_format == "base64":
            raw = base64.b64decode(raw, validate=True).decode()
        return json.loads(raw)

    @property
    def items(self) -> list[dict[str, Any]]:
        payload = self.payload
        return payload if isinstance(payload, list) else [payload]


@dataclass
class Step:
    """What one :meth:`SdkPage.run` did: the script's value and what the SDK sent."""

    value: Any
    requests: list[SdkRequest]
    tracked: list[dict[str, Any]]
    distinct_id: str
    device_id: str
    console: list[str] = field(default_factory=list)

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """Events the SDK delivered to ``/track`` during the step, in sending order."""
        found = [
            item for r in self.requests if r.path.rstrip("/").endswith("/track") for item in r.items
        ]
        return [e for e in found if name is None or e.get("event") == name]


class SdkPage:
    def __init__(self, browser: Chromium, session: str, step_timeout: float) -> None:
        self.browser = browser
        self.session = session
        self.step_timeout = step_timeout
        self.console: list[str] = []

    def open(self, url: str) -> None:
        for domain in ("Page", "Runtime", "Log"):
            self.browser.call(f"{domain}.enable", session=self.session)
        navigated = self.browser.call("Page.navigate", {"url": url}, session=self.session)
        if navigated.get("errorText"):
            raise BrowserError(f"could not load {url}: {navigated['errorText']}")
        self.browser.wait_event("Page.loadEventFired", session=self.session, timeout=15)

    def start_sdk(self, *, token: str, api_host: str, config: dict[str, Any]) -> None:
        options = {
            "token": token,
            "apiHost": api_host,
            "config": config,
            "timeoutMs": int(self.step_timeout * 1000),
            # Longer than the batch flush interval, so a queued item shows up in time.
            "quietMs": max(300, 3 * int(config.get("batch_flush_interval_ms", 0))),
        }
        self.evaluate(f"window.idmergeStart({json.dumps(options)})", timeout=10)

    def run(self, script: str) -> Step:
        """Run ``script`` (the body of an async function of ``mp`` and ``h``) and wait
        until the server has answered every event the SDK produced meanwhile."""
        answer = self.evaluate(
            f"window.idmergeRun({json.dumps(script)})", timeout=self.step_timeout + 10
        )
        return Step(
            value=answer["value"],
            requests=[SdkRequest(**r) for r in answer["requests"]],
            tracked=answer["tracked"],
            distinct_id=answer["distinct_id"],
            device_id=answer["device_id"],
            console=list(self.console),
        )

    def evaluate(self, expression: str, *, timeout: float) -> Any:
        result = self.browser.call(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
            session=self.session,
            timeout=timeout,
        )
        self._collect_console()
        if "exceptionDetails" in result:
            details = result["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise BrowserError(f"the page failed: {text}{self.console_tail()}")
        return result["result"].get("value")

    def screenshot(self, path: Path) -> None:
        """The whole page (past the viewport too) as a PNG file."""
        shot = self.browser.call(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True},
            session=self.session,
            timeout=20,
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    def console_tail(self, lines: int = 25) -> str:
        if not self.console:
            return ""
        return "\npage console (last lines):\n  " + "\n  ".join(self.console[-lines:])

    def _collect_console(self) -> None:
        for event in self.browser.take_events(self.session):
            params = event.get("params", {})
            if event["method"] == "Runtime.consoleAPICalled":
                args = [_console_text(a) for a in params.get("args", [])]
                self.console.append(f"console.{params.get('type')}: {' '.join(args)}")
            elif event["method"] == "Log.entryAdded":
                entry = params.get("entry", {})
                self.console.append(
                    f"{entry.get('source')} {entry.get('level')}: {entry.get('text')}"
                )
            elif event["method"] == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                self.console.append(f"uncaught: {details.get('text')}")


def _console_text(arg: dict[str, Any]) -> str:
    if "value" in arg:
        value = arg["value"]
        return value if isinstance(value, str) else json.dumps(value)
    return str(arg.get("description", arg.get("type", "?")))
