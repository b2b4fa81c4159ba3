"""Helpers the SDK tests share: unique ids, clients pointed at the server, and short
ways to read ``/api/identity`` and ``/api/ingestion/warnings``."""

from __future__ import annotations

import contextlib
import importlib
import random
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import mixpanel
import pytest
from mixpanel import BufferedConsumer, Consumer, Mixpanel, ServiceAccountCredentials

from idmerge.storage.base import StoredEvent
from idmerge.storage.duckdb import open_store

from live import LiveServer

DAY = 86_400


def unique(label: str) -> str:
    """An id no other test uses: the session's server is shared."""
    return f"{label}-{uuid.uuid4().hex[:12]}"


def guid() -> str:
    """A GUID-shaped anonymous id, as the SDKs generate."""
    return str(uuid.uuid4())


def phone_number() -> str:
    """A Singapore-style phone number, like the spec's ``+6512345678``, of this test's own."""
    return "+65" + "".join(random.choice("0123456789") for _ in range(8))


def device(device_id: str) -> str:
    """How a ``$device_id`` / ``anonymousId`` is named inside a cluster."""
    return f"$device:{device_id}"


# -- Mixpanel --------------------------------------------------------------------


def mixpanel_urls(server: LiveServer) -> dict[str, str]:
    """Full ``http://`` URLs: the SDK's ``api_host`` would build ``https://`` ones."""
    return {
        "events_url": f"{server.url}/track",
        "people_url": f"{server.url}/engage",
        "groups_url": f"{server.url}/groups",
        "import_url": f"{server.url}/import",
    }


def mixpanel_consumer(
    server: LiveServer, credentials: ServiceAccountCredentials | None = None
) -> Consumer:
    return Consumer(
        **mixpanel_urls(server), request_timeout=30, retry_limit=0, credentials=credentials
    )


def redirect_alias(monkeypatch: pytest.MonkeyPatch, server: LiveServer) -> None:
    """Make ``Mixpanel.alias`` post to ``server``.

    ``alias`` ignores the client's consumer and always sends through a fresh
    ``mixpanel.Consumer()``, i.e. to ``https://api.mixpanel.com`` (reference
    ``mixpanel.md`` §4.3); it looks the name up at call time, so replacing the
    module's ``Consumer`` redirects it and nothing else.
    """
    consumer = mixpanel_consumer(server)
    monkeypatch.setattr(mixpanel, "Consumer", lambda *args, **kwargs: consumer)


def buffered_consumer(server: LiveServer, max_size: int = 50) -> BufferedConsumer:
    return BufferedConsumer(
        max_size=max_size, **mixpanel_urls(server), request_timeout=30, retry_limit=0
    )


def mixpanel_client(
    server: LiveServer, mode: str, consumer: Consumer | BufferedConsumer | None = None
) -> Mixpanel:
    """The SDK's client for the project of ``mode``, posting to ``server``."""
    return Mixpanel(server.token(mode), consumer=consumer or mixpanel_consumer(server))


# -- reading the server's answers ------------------------------------------------


def resolved(server: LiveServer, mode: str, distinct_id: str) -> str:
    answer: str = server.identity(mode, distinct_id)["resolved_distinct_id"]
    return answer


def assert_alone(server: LiveServer, mode: str, *ids: str) -> None:
    """Each of ``ids`` is a cluster of its own that resolves to itself."""
    for distinct_id in ids:
        answer = server.identity(mode, distinct_id)
        assert answer["cluster"] == [distinct_id], f"cluster of {distinct_id!r}"
        assert answer["resolved_distinct_id"] == distinct_id


def history(server: LiveServer, mode: str, distinct_id: str) -> list[tuple[str, str, str | None]]:
    """``(event, outcome, reason)`` of every entry of the explain history of the id."""
    return [
        (entry["event"], entry["outcome"], entry["reason"])
        for entry in server.identity(mode, distinct_id)["history"]
    ]


def outcomes(server: LiveServer, mode: str, distinct_id: str) -> list[tuple[str, str | None]]:
    """``(outcome, reason)`` of every explain-history entry, without the event names
    (which the Segment translation chooses)."""
    return [(outcome, reason) for _, outcome, reason in history(server, mode, distinct_id)]


def warnings_naming(server: LiveServer, mode: str, *needles: str) -> list[dict[str, Any]]:
    """The project's ingestion warnings that mention any of ``needles`` (in the id,
    insert_id, message or the record kept), newest first."""
    found = []
    keys = ("distinct_id", "insert_id", "message", "payload")
    for warning in server.warnings(mode, limit=1000):
        text = " ".join(str(warning.get(key) or "") for key in keys)
        if any(needle in text for needle in needles):
            found.append(warning)
    return found


def stored_events(server: LiveServer, mode: str) -> dict[str, StoredEvent]:
    """Stop ``server`` (a test's own) and read back the events of the project of
    ``mode`` by name: how they were stored is not yet visible over HTTP."""
    server.stop()
    store = open_store(server.data_dir)
    try:
        (project,) = (p for p in store.projects() if p.name == mode)
        return {event.name: event for event in store.read_events(project.id)}
    finally:
        store.close()


def reasons(warnings: list[dict[str, Any]]) -> list[str]:
    return [warning["reason"] for warning in warnings]


# -- Segment / Customer.io ---------------------------------------------------------


class SendErrors:
    """An ``on_error`` callback for the Segment-style clients, which otherwise only log
    a failed upload: records each failure so that a test can assert there was none.

    (No ``__bool__``: the clients call ``on_error`` only ``if self.on_error``.)
    """

    def __init__(self) -> None:
        self.failures: list[tuple[Exception, list[dict[str, Any]]]] = []
        self._lock = threading.Lock()

    def __call__(self, error: Exception, batch: list[dict[str, Any]]) -> None:
        with self._lock:
            self.failures.append((error, batch))

    def __repr__(self) -> str:
        return f"SendErrors({[repr(error) for error, _ in self.failures]})"


class PostSpy:
    """Wraps a ``requests.Session.post`` to count the requests a client makes."""

    def __init__(self, post: Callable[..., Any]) -> None:
        self._post = post
        self.urls: list[str] = []
        self.bodies: list[Any] = []

    def __call__(self, url: str, *args: Any, **kwargs: Any) -> Any:
        self.urls.append(url)
        self.bodies.append(kwargs.get("data"))
        return self._post(url, *args, **kwargs)


def stop_consumers(client: Any) -> None:
    """Stop an asynchronous Segment-style client's upload threads without waiting for
    their current (possibly long) queue poll: they are daemons and exit when it ends."""
    for consumer in client.consumers or ():
        consumer.pause()


class SegmentStyleSdk:
    """Segment's Python SDK or Customer.io's fork of it, named by its package
    (``segment.analytics``, ``customerio.analytics``): both have ``Client(write_key,
    host=...)``, upload threads of class ``consumer.Consumer``, and post through the
    module-level session ``request._session``."""

    def __init__(self, package: str) -> None:
        self.client_class: Any = importlib.import_module(package).Client
        self.consumer_class: Any = importlib.import_module(f"{package}.consumer").Consumer
        self.session: Any = importlib.import_module(f"{package}.request")._session

    def sync_client(self, server: LiveServer, mode: str = "cdp", **options: Any) -> Any:
        """A client of the project of ``mode`` that uploads each call at once and raises
        on a failed upload."""
        return self.client_class(server.token(mode), host=server.url, sync_mode=True, **options)

    def spy_on_posts(self, monkeypatch: pytest.MonkeyPatch) -> PostSpy:
        """Every request the SDK makes from now on."""
        spy = PostSpy(self.session.post)
        monkeypatch.setattr(self.session, "post", spy)
        return spy

    @contextlib.contextmanager
    def queued_client(
        self, server: LiveServer, monkeypatch: pytest.MonkeyPatch
    ) -> Iterator[tuple[Any, SendErrors]]:
        """An asynchronous client of the ``cdp`` project whose upload thread starts only
        at :meth:`start_uploading`, so that what the test queued goes out as one batch
        (otherwise the thread's polling window may split it)."""
        errors = SendErrors()
        with monkeypatch.context() as patch:
            patch.setattr(self.consumer_class, "start", lambda consumer: None)
            client = self.client_class(
                server.token("cdp"),
                host=server.url,
                on_error=errors,
                max_retries=0,
                upload_size=100,
            )
        try:
            yield client, errors
        finally:
            stop_consumers(client)

    def start_uploading(self, client: Any) -> None:
        """Start the upload threads of a :meth:`queued_client`; returns once the queue is
        uploaded (or failed, into ``on_error``)."""
        for consumer in client.consumers:
            self.consumer_class.start(consumer)
        client.flush()

    def refused_upload(
        self, server: LiveServer, *, max_retries: int
    ) -> list[tuple[Exception, list[dict[str, Any]]]]:
        """Track one ``Bought`` through an asynchronous client whose write key the server
        does not know, allowed ``max_retries`` retries; answers what ``on_error`` got."""
        errors = SendErrors()
        client = self.client_class(
            unique("no-such-key"), host=server.url, on_error=errors, max_retries=max_retries
        )
        try:
            client.track(user_id=unique("user"), event="Bought")
            client.flush()
        finally:
            stop_consumers(client)
        return errors.failures
