"""Fixtures of the browser tests: Chromium and the test page's server; the live idmerge
is the session's ``server`` of ``tests/conftest.py``.

The tests skip when Chromium or the SDK's ``node_modules`` are missing, unless
``IDMERGE_REQUIRE_BROWSER=1`` (set by ``.ci/run``, which installs both): then they fail.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from .harness import REQUIRE_ENV, Chromium, PageServer, SdkPage, missing_prerequisites
from live import LiveServer


@pytest.fixture(scope="session", autouse=True)
def browser_prerequisites() -> None:
    reason = missing_prerequisites()
    if reason is None:
        return
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{REQUIRE_ENV}=1, but {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def chromium() -> Iterator[Chromium]:
    with Chromium() as browser:
        yield browser


@pytest.fixture(scope="session")
def page_server() -> Iterator[PageServer]:
    pages = PageServer()
    yield pages
    pages.close()


OpenPage = Callable[..., AbstractContextManager[SdkPage]]

DEFAULT_SDK_CONFIG: dict[str, Any] = {
    "batch_requests": True,
    "batch_flush_interval_ms": 100,
    "api_payload_format": "base64",
    "debug": True,  # the SDK's log lands in the page console, shown when a step fails
}


@pytest.fixture
def open_page(chromium: Chromium, page_server: PageServer, server: LiveServer) -> OpenPage:
    """``open_page(mode, **sdk_config)``: a fresh browser context (a new visitor) on the
    test page, with the SDK initialised for the mode's project against the session's
    server (``tests/conftest.py``)."""

    def opener(mode: str, **config: Any) -> AbstractContextManager[SdkPage]:
        return chromium.sdk_page(
            page_server.url,
            token=server.token(mode),
            api_host=server.url,
            config={**DEFAULT_SDK_CONFIG, **config},
        )

    return opener
