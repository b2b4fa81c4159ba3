"""The official Customer.io Data Pipelines Python SDK (``customerio-cdp-analytics``,
module ``customerio.analytics``), unmodified, against a live server.

The SDK is a fork of Segment's: ``Client(write_key, host=...)`` posts
``{host}/v1/batch`` with the write key as the Basic-auth user name (a key shaped like
``pk_us_...`` would go as a Bearer token instead; project tokens are hex). Customer.io's
alias wording: the ``userId`` inherits the traits and activity of the ``previousId``.

Its ``post`` answers a non-200 by reading ``code`` and ``message`` from the JSON body
and raising ``APIError(status, code, message)``; the upload thread gives up at once on
an ``APIError`` 4xx (except 429) and retries anything else with exponential backoff.
"""

from __future__ import annotations

import pytest
from customerio.analytics import Client
from customerio.analytics.request import APIError

from .support import (
    PostSpy,
    SegmentStyleSdk,
    SendErrors,
    assert_alone,
    device,
    guid,
    outcomes,
    reasons,
    resolved,
    unique,
    warnings_naming,
)
from live import LiveServer, assert_one_user

SDK = SegmentStyleSdk("customerio.analytics")  # for post_spy and queued_client too (conftest.py)


def test_identify_links_the_anonymous_id(server: LiveServer) -> None:
    client = SDK.sync_client(server)
    anonymous, user = guid(), unique("user")
    client.page(anonymous_id=anonymous, name="Pricing")
    client.identify(user_id=user, anonymous_id=anonymous, traits={"email": f"{user}@example.com"})
    answer = server.identity("cdp", device(anonymous))
    assert answer["resolved_distinct_id"] == user
    assert set(answer["cluster"]) == {user, device(anonymous)}
    assert outcomes(server, "cdp", user) == [("linked", None)]
    assert warnings_naming(server, "cdp", anonymous, user) == []


def test_track_and_screen_with_both_ids_link(server: LiveServer) -> None:
    client = SDK.sync_client(server)
    user, web, phone = unique("user"), guid(), guid()
    client.track(user_id=user, anonymous_id=web, event="Added to Cart", properties={"sku": "x"})
    client.screen(user_id=user, anonymous_id=phone, name="Cart")
    client.group(user_id=user, group_id=unique("acme"), traits={"plan": "team"})
    assert server.cluster("cdp", user) == {user, device(web), device(phone)}


def test_a_second_user_on_a_linked_anonymous_id_is_refused(server: LiveServer) -> None:
    client = SDK.sync_client(server)
    anonymous, first, second = guid(), unique("user"), unique("user")
    client.track(user_id=first, anonymous_id=anonymous, event="Logged In")
    client.track(user_id=second, anonymous_id=anonymous, event="Logged In")
    assert resolved(server, "cdp", device(anonymous)) == first
    assert_alone(server, "cdp", second)
    assert reasons(warnings_naming(server, "cdp", second)) == ["errAnonDistinctIdAssignedAlready"]


def test_alias_previous_anonymous_id_joins_the_user(server: LiveServer) -> None:
    client = SDK.sync_client(server)
    anonymous, user = guid(), unique("user")
    client.track(anonymous_id=anonymous, event="Viewed Pricing")
    client.alias(previous_id=anonymous, user_id=user)  # "send alias before identify"
    client.identify(user_id=user, traits={"plan": "free"})
    assert server.cluster("cdp", user) == {user, device(anonymous)}
    assert resolved(server, "cdp", device(anonymous)) == user


def test_alias_merges_a_person_with_two_user_ids(server: LiveServer) -> None:
    """Customer.io's second use of alias: the ``userId`` survives and inherits the
    ``previousId``'s cluster."""
    client = SDK.sync_client(server)
    primary, secondary, phone = unique("primary"), unique("secondary"), guid()
    client.identify(user_id=secondary, anonymous_id=phone, traits={"plan": "free"})
    client.identify(user_id=primary, traits={"plan": "team"})
    client.alias(previous_id=secondary, user_id=primary)
    for member in (primary, secondary, device(phone)):
        assert resolved(server, "cdp", member) == primary
    assert server.cluster("cdp", primary) == {primary, secondary, device(phone)}
    assert ("merged", None) in outcomes(server, "cdp", primary)


def test_alias_of_a_new_previous_id(server: LiveServer) -> None:
    client = SDK.sync_client(server)
    previous, user = unique("prev"), unique("user")
    client.alias(previous_id=previous, user_id=user)
    assert resolved(server, "cdp", previous) == user


def test_a_batch_goes_in_one_request(
    server: LiveServer, queued_client: tuple[Client, SendErrors], post_spy: PostSpy
) -> None:
    client, errors = queued_client
    users = [(unique("user"), guid()) for _ in range(5)]
    for user, anonymous in users:
        client.track(anonymous_id=anonymous, event="Viewed Pricing")
        client.identify(user_id=user, anonymous_id=anonymous, traits={"plan": "free"})
    previous = unique("prev")
    client.alias(previous_id=previous, user_id=users[0][0])

    SDK.start_uploading(client)

    assert errors.failures == []
    assert post_spy.urls == [f"{server.url}/v1/batch"]  # eleven messages, one request
    for user, anonymous in users:
        assert resolved(server, "cdp", device(anonymous)) == user
    assert resolved(server, "cdp", previous) == users[0][0]


def test_customerio_alias_in_an_original_project(server: LiveServer) -> None:
    client = SDK.sync_client(server, "original")
    anonymous, user = guid(), unique("user")
    client.alias(previous_id=anonymous, user_id=user)
    assert_one_user(server, "original", {anonymous, user})


# -- a refused upload ------------------------------------------------------------------


def test_a_wrong_write_key_raises_api_error(server: LiveServer) -> None:
    """The SDK reads ``code`` and ``message`` off an error answer; without them it
    raises ``KeyError('code')`` instead of its ``APIError``."""
    client = Client(unique("no-such-key"), host=server.url, sync_mode=True)
    user = unique("user")
    with pytest.raises(APIError) as failure:
        client.track(user_id=user, event="Bought")
    assert failure.value.status == 401
    assert "write key" in failure.value.message


def test_a_wrong_write_key_is_not_retried(server: LiveServer, post_spy: PostSpy) -> None:
    """A 401 is final: the upload thread must give up after one request and report it,
    not back off and retry (it would, for up to ``max_retries`` attempts, on anything
    but an ``APIError`` 4xx)."""
    [(error, _)] = SDK.refused_upload(server, max_retries=2)
    assert isinstance(error, APIError), repr(error)
    assert error.status == 401
    assert len(post_spy.urls) == 1
