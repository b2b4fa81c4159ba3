"""The official Segment Python SDK (``segment-analytics-python``), unmodified, against a
live server, with ``host`` set to it.

The client always posts ``/v1/batch`` (``writeKey`` in the body and as the Basic-auth
user name). In ``sync_mode`` every call uploads at once and raises on a failed upload;
otherwise a background thread batches the queue and reports failures only to
``on_error``, so those tests attach a :class:`~.support.SendErrors` and assert it
stayed empty. The ``cdp`` project gets Segment semantics (``identity.md``, mode
``cdp``); the Mixpanel-mode projects get the equivalent Mixpanel identity events.
"""

from __future__ import annotations

import uuid

import pytest
from segment.analytics import Client
from segment.analytics.request import APIError

from .support import (
    PostSpy,
    SegmentStyleSdk,
    SendErrors,
    assert_alone,
    device,
    guid,
    history,
    outcomes,
    reasons,
    resolved,
    unique,
    warnings_naming,
)
from live import LiveServer, assert_one_user

SDK = SegmentStyleSdk("segment.analytics")  # for post_spy and queued_client too (conftest.py)


# -- cdp: identify, track, page, screen, group -------------------------------------


def test_identify_links_the_anonymous_id_into_the_users_cluster(server: LiveServer) -> None:
    client = SDK.sync_client(server)
    anonymous, user, message_id = guid(), unique("user"), str(uuid.uuid4())
    client.track(anonymous_id=anonymous, event="Viewed Pricing")
    client.identify(
        user_id=user,
        anonymous_id=anonymous,
        traits={"email": f"{user}@example.com", "plan": "free"},
        message_id=message_id,
    )

    answer = server.identity("cdp", device(anonymous))
    assert answer["resolved_distinct_id"] == user
    assert set(answer["cluster"]) == {user, device(anonymous)}
    [entry] = answer["history"]
    assert (entry["outcome"], entry["insert_id"]) == ("linked", message_id)
    assert warnings_naming(server, "cdp", anonymous, user) == []


def test_track_page_and_screen_carrying_both_ids_link_too(server: LiveServer) -> None:
    client = SDK.sync_client(server)
    user = unique("user")
    web, phone, tablet = guid(), guid(), guid()
    client.track(user_id=user, anonymous_id=web, event="Bought", properties={"revenue": 9.5})
    client.page(user_id=user, anonymous_id=phone, category="Docs", name="Home")
    client.screen(user_id=user, anonymous_id=tablet, name="Settings")
    assert server.cluster("cdp", user) == {user, device(web), device(phone), device(tablet)}
    assert outcomes(server, "cdp", user) == [("linked", None)] * 3


def test_gzip_uploads_are_accepted(server: LiveServer) -> None:
    client = SDK.sync_client(server, gzip=True)
    anonymous, user = guid(), unique("user")
    client.identify(user_id=user, anonymous_id=anonymous, traits={"name": "Gzip"})
    assert resolved(server, "cdp", device(anonymous)) == user


def test_group_is_accepted(server: LiveServer) -> None:
    client = SDK.sync_client(server)
    user, company = unique("user"), unique("acme")
    client.group(user_id=user, group_id=company, traits={"name": "Acme", "employees": 12})
    assert warnings_naming(server, "cdp", user, company) == []
    assert_alone(server, "cdp", user)  # a group call links nobody


def test_first_link_of_an_anonymous_id_wins(server: LiveServer) -> None:
    client = SDK.sync_client(server)
    anonymous, first, second = guid(), unique("user"), unique("user")
    client.identify(user_id=first, anonymous_id=anonymous)
    client.identify(user_id=second, anonymous_id=anonymous)  # 200 all the same

    assert resolved(server, "cdp", device(anonymous)) == first
    assert_alone(server, "cdp", second)
    assert outcomes(server, "cdp", second) == [("refused", "errAnonDistinctIdAssignedAlready")]
    assert reasons(warnings_naming(server, "cdp", second)) == ["errAnonDistinctIdAssignedAlready"]


@pytest.mark.parametrize("junk", ["undefined", "null", "anonymous"])
def test_a_junk_user_id_links_nothing(server: LiveServer, junk: str) -> None:
    client = SDK.sync_client(server)
    anonymous = guid()
    client.identify(user_id=junk, anonymous_id=anonymous)
    assert_alone(server, "cdp", device(anonymous))
    assert reasons(warnings_naming(server, "cdp", anonymous)) == ["errJunkId"]


# -- cdp: alias --------------------------------------------------------------------


def test_alias_of_an_anonymous_id(server: LiveServer) -> None:
    client = SDK.sync_client(server)
    anonymous, user = guid(), unique("user")
    client.track(anonymous_id=anonymous, event="Viewed Pricing")
    client.alias(previous_id=anonymous, user_id=user)
    assert server.cluster("cdp", user) == {user, device(anonymous)}
    assert resolved(server, "cdp", device(anonymous)) == user
    assert outcomes(server, "cdp", user) == [("merged", None)]


def test_alias_unifies_two_user_ids(server: LiveServer) -> None:
    """A person known under an old user id (with its device) and a new one: the old
    cluster folds into the new, whose id survives."""
    client = SDK.sync_client(server)
    old, new, old_device = unique("old"), unique("new"), guid()
    client.identify(user_id=old, anonymous_id=old_device, traits={"plan": "free"})
    client.identify(user_id=new, traits={"plan": "team"})
    client.alias(previous_id=old, user_id=new)
    for member in (old, new, device(old_device)):
        answer = server.identity("cdp", member)
        assert set(answer["cluster"]) == {new, old, device(old_device)}
        assert answer["resolved_distinct_id"] == new


def test_alias_of_an_id_never_seen_sends_it_to_the_user(server: LiveServer) -> None:
    client = SDK.sync_client(server)
    previous, user = unique("prev"), unique("user")
    client.alias(previous_id=previous, user_id=user)
    client.track(user_id=previous, event="Purchased")  # later messages sent as P
    assert resolved(server, "cdp", previous) == user
    assert server.cluster("cdp", user) == {user, previous}


def test_alias_folds_the_id_used_both_as_user_and_anonymous_id(server: LiveServer) -> None:
    client = SDK.sync_client(server)
    previous, user = unique("prev"), unique("user")
    client.track(user_id=previous, event="Logged In")
    client.track(anonymous_id=previous, event="Viewed Page")
    client.alias(previous_id=previous, user_id=user)
    assert server.cluster("cdp", user) == {user, previous, device(previous)}
    assert resolved(server, "cdp", device(previous)) == user


# -- cdp: batching and failures -------------------------------------------------------


def test_a_batch_of_every_call_in_one_request(
    server: LiveServer, queued_client: tuple[Client, SendErrors], post_spy: PostSpy
) -> None:
    client, errors = queued_client
    user, web, phone, previous = unique("user"), guid(), guid(), unique("prev")
    client.track(anonymous_id=web, event="Viewed Pricing")
    client.identify(user_id=user, anonymous_id=web, traits={"plan": "free"})
    client.page(user_id=user, anonymous_id=phone, name="Home")
    client.screen(user_id=user, name="Settings")
    client.group(user_id=user, group_id=unique("acme"), traits={"name": "Acme"})
    client.alias(previous_id=previous, user_id=user)
    client.track(user_id=user, event="Bought", properties={"revenue": 12})

    SDK.start_uploading(client)

    assert errors.failures == []
    assert post_spy.urls == [f"{server.url}/v1/batch"]  # seven messages, one request
    assert server.cluster("cdp", user) == {user, device(web), device(phone), previous}
    assert resolved(server, "cdp", previous) == user
    assert warnings_naming(server, "cdp", user, web, phone, previous) == []


def test_a_wrong_write_key_fails_the_upload(server: LiveServer) -> None:
    client = Client(unique("no-such-key"), host=server.url, sync_mode=True)
    anonymous, user = guid(), unique("user")
    with pytest.raises(APIError) as failure:
        client.identify(user_id=user, anonymous_id=anonymous)
    assert failure.value.status == 401
    assert_alone(server, "cdp", user, device(anonymous))


def test_a_wrong_write_key_reaches_on_error(server: LiveServer, post_spy: PostSpy) -> None:
    """The check the batching tests rely on: a refused upload does reach ``on_error``
    (once: a 401 is not retried)."""
    [(error, batch)] = SDK.refused_upload(server, max_retries=3)
    assert isinstance(error, APIError)
    assert error.status == 401
    assert [message["event"] for message in batch] == ["Bought"]
    assert len(post_spy.urls) == 1


# -- Mixpanel-mode projects --------------------------------------------------------------


def test_alias_in_an_original_project_is_create_alias(server: LiveServer) -> None:
    client = SDK.sync_client(server, "original")
    anonymous, user = guid(), unique("user")
    client.track(anonymous_id=anonymous, event="Viewed Pricing")
    client.alias(previous_id=anonymous, user_id=user)
    assert_one_user(server, "original", {anonymous, user})
    assert history(server, "original", user) == [("$create_alias", "merged", None)]


def test_identify_in_an_original_project_is_identify(server: LiveServer) -> None:
    client = SDK.sync_client(server, "original")
    anonymous, user = guid(), unique("user")
    client.identify(user_id=user, anonymous_id=anonymous, traits={"plan": "free"})
    assert_one_user(server, "original", {anonymous, user})
    assert history(server, "original", user) == [("$identify", "merged", None)]


def test_alias_in_a_legacy_project_makes_the_user_id_an_alias(server: LiveServer) -> None:
    client = SDK.sync_client(server, "legacy")
    anonymous, user = guid(), unique("user")
    client.track(anonymous_id=anonymous, event="Viewed Pricing")
    client.alias(previous_id=anonymous, user_id=user)
    assert resolved(server, "legacy", user) == anonymous  # the original id stays


def test_alias_in_a_simplified_project_is_ignored(server: LiveServer) -> None:
    client = SDK.sync_client(server, "simplified")
    previous, user = unique("prev"), unique("user")
    client.alias(previous_id=previous, user_id=user)
    assert_alone(server, "simplified", previous, user)
    assert history(server, "simplified", user) == [
        ("$create_alias", "ignored", "mode_simplified_ignores_event")
    ]
