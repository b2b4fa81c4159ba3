"""Fixtures of the SDK tests, beside the live servers of ``tests/conftest.py``.

``server`` is shared by the session, so every test uses ids of its own (see
:func:`.support.unique`); ``fresh_server`` is for the few tests that need projects
nothing else has written to.

The Segment-style modules (Segment's SDK, Customer.io's fork) each name the SDK they
test as ``SDK``, a :class:`.support.SegmentStyleSdk`; ``post_spy`` and
``queued_client`` work with the requesting module's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from .support import PostSpy, SegmentStyleSdk, SendErrors, redirect_alias
from live import LiveServer


@pytest.fixture
def alias_to_server(server: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """``Mixpanel.alias`` posts to the session's server (see :func:`.support.redirect_alias`)."""
    redirect_alias(monkeypatch, server)


@pytest.fixture
def segment_style_sdk(request: pytest.FixtureRequest) -> SegmentStyleSdk:
    """The requesting module's ``SDK``."""
    sdk = getattr(request.module, "SDK", None)
    if not isinstance(sdk, SegmentStyleSdk):
        raise pytest.UsageError(f"{request.module.__name__} names no SegmentStyleSdk as SDK")
    return sdk


@pytest.fixture
def post_spy(segment_style_sdk: SegmentStyleSdk, monkeypatch: pytest.MonkeyPatch) -> PostSpy:
    """Every request the SDK makes (it posts through one module-level session)."""
    return segment_style_sdk.spy_on_posts(monkeypatch)


@pytest.fixture
def queued_client(
    segment_style_sdk: SegmentStyleSdk, server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Any, SendErrors]]:
    """See :meth:`.support.SegmentStyleSdk.queued_client`; start its upload with
    :meth:`~.support.SegmentStyleSdk.start_uploading`."""
    with segment_style_sdk.queued_client(server, monkeypatch) as queued:
        yield queued
