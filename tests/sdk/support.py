"""Helpers the SDK tests share: unique ids, clients pointed at the server, and short
ways to read ``/api/identity`` and ``/api/ingestion/warnings``."""

from __future__ import annotations

import random
import threading
import uuid
from collections.abc import Callable, Iterable
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


def assert_one_user(server: LiveServer, mode: str, ids: Iterable[str]) -> str:
    """Every id of ``ids`` has exactly ``ids`` as its cluster and all of them resolve to
    one member of it (which member is not asserted: in ``original`` mode it is not
    promised); answers that resolved id."""
    expected = set(ids)
    found: set[str] = set()
    for distinct_id in sorted(expected):
        answer = server.identity(mode, distinct_id)
        assert set(answer["cluster"]) == expected, f"cluster of {distinct_id!r}"
        found.add(answer["resolved_distinct_id"])
    assert len(found) == 1, f"{sorted(expected)} resolve to {sorted(found)}"
    (one,) = found
    assert one in expected
    return one


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
