"""The official Mixpanel Python SDK (``mixpanel`` 5.x), unmodified, against a live server.

The SDK posts form ``data=<json>&verbose=1&ip=0`` and raises ``MixpanelException``
unless the answer is ``{"status": 1}``, so every call below that returns normally was
accepted; what it did is then read back from ``GET /api/identity`` (clusters, resolved
id, explain history) and ``GET /api/ingestion/warnings``. The flows are the ones
``spec/identity.md`` and ``reference/mixpanel.md`` §1 and §8 document, per mode.

``alias`` always posts through a fresh ``mixpanel.Consumer()`` to the hosted API; the
``alias_to_server`` fixture redirects it (reference §4.3).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from pathlib import Path

import pytest
from mixpanel import Mixpanel, MixpanelException, ServiceAccountCredentials
from mixpanel_utils import MixpanelUtils

from .support import (
    DAY,
    assert_alone,
    buffered_consumer,
    device,
    guid,
    history,
    mixpanel_client,
    mixpanel_consumer,
    phone_number,
    reasons,
    redirect_alias,
    resolved,
    stored_events,
    unique,
    warnings_naming,
)
from live import MODES, LiveServer, assert_one_user

SIMPLIFIED_IGNORES = "mode_simplified_ignores_event"


def long_ago(days: int = 10) -> int:
    """A timestamp only ``/import`` takes: ``/track`` refuses events older than 5 days."""
    return int(time.time()) - days * DAY


# -- transport: Consumer, BufferedConsumer -----------------------------------------


def test_consumer_track_is_stored_and_applied(server: LiveServer) -> None:
    mp = mixpanel_client(server, "simplified")
    device_id, user = unique("dev"), unique("user")
    insert_id = uuid.uuid4().hex
    mp.track("", "Viewed Page", {"$device_id": device_id})
    mp.track("", "Signed Up", {"$device_id": device_id, "$user_id": user, "$insert_id": insert_id})

    answer = server.identity("simplified", device(device_id))
    assert answer["resolved_distinct_id"] == user
    assert set(answer["cluster"]) == {user, device(device_id)}
    [entry] = answer["history"]
    assert (entry["event"], entry["outcome"], entry["insert_id"]) == (
        "Signed Up",
        "linked",
        insert_id,
    )
    assert set(entry["ids"]) == {user, device(device_id)}
    assert warnings_naming(server, "simplified", device_id, user) == []


def test_buffered_consumer_sends_everything_on_flush(server: LiveServer) -> None:
    consumer = buffered_consumer(server)
    mp = mixpanel_client(server, "simplified", consumer)
    pairs = [(unique("dev"), unique("user")) for _ in range(5)]
    for device_id, user in pairs:
        mp.track("", "Viewed Page", {"$device_id": device_id})
        mp.track("", "Signed Up", {"$device_id": device_id, "$user_id": user})
    assert_alone(server, "simplified", device(pairs[0][0]))  # still in the buffer

    consumer.flush()  # one request: data=[10 events]

    for device_id, user in pairs:
        assert server.cluster("simplified", user) == {user, device(device_id)}
        assert resolved(server, "simplified", device(device_id)) == user
        assert warnings_naming(server, "simplified", device_id, user) == []


def test_buffered_consumer_flushes_a_full_buffer_by_itself(server: LiveServer) -> None:
    consumer = buffered_consumer(server, max_size=3)
    mp = mixpanel_client(server, "simplified", consumer)
    device_id, user = unique("dev"), unique("user")
    mp.track("", "Viewed Page", {"$device_id": device_id})
    mp.track("", "Viewed Pricing", {"$device_id": device_id})
    mp.track("", "Signed Up", {"$device_id": device_id, "$user_id": user})  # the third: sent
    assert server.cluster("simplified", user) == {user, device(device_id)}


def test_cdp_project_reads_mixpanel_events_like_segment_messages(server: LiveServer) -> None:
    mp = mixpanel_client(server, "cdp")
    anonymous, user = guid(), unique("user")
    mp.track("", "Signed Up", {"$device_id": anonymous, "$user_id": user})
    assert resolved(server, "cdp", device(anonymous)) == user
    assert server.cluster("cdp", user) == {user, device(anonymous)}


def test_clean_sdk_traffic_leaves_no_warning(fresh_server: LiveServer) -> None:
    """What the SDK sends in the ordinary way, through both consumers, into a project
    of every mode: not one ingestion warning."""
    server = fresh_server
    for mode in MODES:
        consumer = buffered_consumer(server, max_size=4)
        for mp in (mixpanel_client(server, mode), mixpanel_client(server, mode, consumer)):
            device_id, user = guid(), unique("user")
            mp.track(device(device_id), "Viewed Page", {"$device_id": device_id})
            mp.track(user, "Signed Up", {"$device_id": device_id, "$user_id": user})
            mp.people_set(user, {"plan": "free"})
            mp.people_increment(user, {"logins": 1})
            mp.group_set("company", unique("acme"), {"plan": "team"})
            mp.import_data(None, user, "Old Purchase", long_ago(), api_secret=server.secret(mode))
        consumer.flush()
        assert server.warnings(mode) == [], mode
        if mode in ("simplified", "cdp"):  # the buffered events did arrive
            assert server.cluster(mode, user) == {user, device(device_id)}


# -- /import ---------------------------------------------------------------------


def identify_long_ago(mp: Mixpanel, user: str, anonymous: str, **auth: str) -> None:
    mp.import_data(None, anonymous, "Viewed Page", long_ago(), **auth)
    mp.import_data(
        None,
        user,
        "$identify",
        long_ago() + 60,
        {"$identified_id": user, "$anon_id": anonymous},
        **auth,
    )


def test_import_data_with_the_project_secret(server: LiveServer) -> None:
    mp = mixpanel_client(server, "original")
    anonymous, user = guid(), unique("user")
    identify_long_ago(mp, user, anonymous, api_secret=server.secret("original"))
    assert_one_user(server, "original", {anonymous, user})
    assert history(server, "original", user) == [("$identify", "merged", None)]


def test_import_data_with_service_account_credentials(server: LiveServer) -> None:
    project = server.projects["original"]
    credentials = ServiceAccountCredentials(
        "svc-importer", server.secret("original"), str(project["id"])
    )
    mp = mixpanel_client(server, "original", mixpanel_consumer(server, credentials))
    anonymous, user = guid(), unique("user")
    identify_long_ago(mp, user, anonymous)  # Basic svc-importer:secret, ?project_id=
    assert_one_user(server, "original", {anonymous, user})


@pytest.mark.parametrize("wrong", ["secret", "project_id"])
def test_import_data_with_wrong_credentials_is_refused(server: LiveServer, wrong: str) -> None:
    secret = server.secret("original")
    project_id = str(server.projects["original"]["id"])
    if wrong == "secret":
        secret = secret[::-1]
    else:
        project_id = str(server.projects["simplified"]["id"])
    credentials = ServiceAccountCredentials("svc-importer", secret, project_id)
    mp = mixpanel_client(server, "original", mixpanel_consumer(server, credentials))
    anonymous, user = guid(), unique("user")
    with pytest.raises(MixpanelException):
        identify_long_ago(mp, user, anonymous)
    assert_alone(server, "original", anonymous, user)


def test_import_data_with_a_wrong_api_secret_is_refused(server: LiveServer) -> None:
    mp = mixpanel_client(server, "original")
    anonymous, user = guid(), unique("user")
    with pytest.raises(MixpanelException):
        identify_long_ago(mp, user, anonymous, api_secret=server.secret("simplified") + "x")
    assert_alone(server, "original", anonymous, user)


def test_import_of_an_event_too_old_for_track(server: LiveServer) -> None:
    """The same old event: ``/track`` refuses it (and records why), ``/import`` takes it."""
    mp = mixpanel_client(server, "simplified")
    device_id, user = unique("dev"), unique("user")
    properties = {"$device_id": device_id, "$user_id": user, "time": long_ago(6)}
    with pytest.raises(MixpanelException):
        mp.track(user, "Signed Up", properties)
    assert_alone(server, "simplified", user, device(device_id))
    [warning] = warnings_naming(server, "simplified", device_id)
    assert (warning["endpoint"], warning["event"], warning["event_seq"]) == (
        "/track",
        "Signed Up",
        None,
    )

    secret = server.secret("simplified")
    mp.import_data(None, user, "Signed Up", long_ago(6), properties, api_secret=secret)
    assert server.cluster("simplified", user) == {user, device(device_id)}


@pytest.mark.parametrize("auth", ["api_secret", "service_account"])
def test_mixpanel_utils_import_events(
    server: LiveServer,
    auth: str,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``mixpanel-utils`` has no host argument, but its ``import_api`` attribute (set
    from ``residency`` in the constructor) is read at call time; it swallows every
    failure into its log and ``import_backup.txt`` in the working directory."""
    monkeypatch.chdir(tmp_path)
    extra: dict[str, str] = {}
    if auth == "service_account":
        extra = {
            "service_account_username": "svc-utils",
            "project_id": str(server.projects["original"]["id"]),
        }
    utils = MixpanelUtils(
        server.secret("original"),
        token=server.token("original"),
        pool_size=1,
        max_retries=1,
        **extra,
    )
    utils.import_api = server.url
    pairs = [(guid(), unique("user")) for _ in range(3)]
    events = []
    for n, (anonymous, user) in enumerate(pairs):
        when = long_ago() + n
        events += [
            {
                "event": "Viewed Page",
                "properties": {"distinct_id": anonymous, "time": when, "$insert_id": guid()},
            },
            {
                "event": "$identify",
                "properties": {
                    "distinct_id": user,
                    "time": when + 1,
                    "$insert_id": guid(),
                    "$identified_id": user,
                    "$anon_id": anonymous,
                },
            },
        ]
    with caplog.at_level(logging.WARNING, logger="mixpanel_utils"):
        utils.import_events(events, timezone_offset=0)  # one request of 6 events
    problems = [r.getMessage() for r in caplog.records if r.name == "mixpanel_utils"]
    assert problems == []
    for anonymous, user in pairs:
        assert_one_user(server, "original", {anonymous, user})


# -- $merge ------------------------------------------------------------------------


def two_users(server: LiveServer, mp: Mixpanel) -> tuple[tuple[str, str], tuple[str, str]]:
    """Two identified users of Original mode, ``(anonymous id, user id)`` each."""
    first, second = (guid(), unique("user")), (guid(), unique("user"))
    for anonymous, user in (first, second):
        mp.track(user, "$identify", {"$identified_id": user, "$anon_id": anonymous})
        assert_one_user(server, "original", {anonymous, user})
    return first, second


@pytest.mark.parametrize("auth", ["api_secret", "service_account"])
def test_merge_through_import_merges_two_clusters(server: LiveServer, auth: str) -> None:
    consumer = mixpanel_consumer(server)
    secret = {"api_secret": server.secret("original")}
    if auth == "service_account":
        project_id = str(server.projects["original"]["id"])
        credentials = ServiceAccountCredentials("svc", server.secret("original"), project_id)
        consumer, secret = mixpanel_consumer(server, credentials), {}
    mp = mixpanel_client(server, "original", consumer)
    (a1, u1), (a2, u2) = two_users(server, mp)

    mp.merge(None, u1, u2, **secret)  # {"$distinct_ids": [u1, u2], "token": ...} to /import

    assert_one_user(server, "original", {a1, u1, a2, u2})
    assert ("$merge", "merged", None) in history(server, "original", u2)
    assert warnings_naming(server, "original", u1, u2) == []


def test_merge_through_track_is_refused(server: LiveServer) -> None:
    mp = mixpanel_client(server, "original")
    first, second = unique("user"), unique("user")
    mp.track(first, "$merge", {"$distinct_ids": [first, second]})  # answered 1 all the same

    assert_alone(server, "original", first, second)
    refused = ("$merge", "refused", "merge_requires_import")
    assert history(server, "original", first) == [refused]
    assert history(server, "original", second) == [refused]
    [warning] = warnings_naming(server, "original", first)
    assert (warning["endpoint"], warning["event"], warning["reason"]) == (
        "/track",
        "$merge",
        "merge_requires_import",
    )
    assert warning["event_seq"] is not None  # stored as an event, without identity effect


# -- alias -----------------------------------------------------------------------


@pytest.mark.usefixtures("alias_to_server")
def test_alias_chains_make_one_cluster_in_original_mode(server: LiveServer) -> None:
    mp = mixpanel_client(server, "original")
    existing, new, newer, another = (unique(label) for label in ("a", "b", "c", "e"))
    mp.alias(new, existing)
    mp.alias(newer, new)  # daisy-chained
    assert_one_user(server, "original", {existing, new, newer})
    mp.alias(another, existing)  # many aliases may point at one id
    assert_one_user(server, "original", {existing, new, newer, another})
    assert history(server, "original", existing) == [("$create_alias", "merged", None)] * 3

    stranger = unique("d")
    mp.alias(new, stranger)  # an alias maps to one id for ever
    assert_alone(server, "original", stranger)
    assert server.cluster("original", new) == {existing, new, newer, another}
    assert history(server, "original", stranger) == [
        ("$create_alias", "refused", "errAliasAlreadyExists")
    ]
    assert reasons(warnings_naming(server, "original", stranger)) == ["errAliasAlreadyExists"]


@pytest.mark.usefixtures("alias_to_server")
def test_alias_links_two_identified_ids_in_original_mode(server: LiveServer) -> None:
    """The spec's phone-number case, Original flavour: ``$identify`` will not take a
    phone number as an anonymous id (``errAnonDistinctIdNonGUIDForm``), but
    ``$create_alias`` links two known ids, which is why one stays on Original."""
    mp = mixpanel_client(server, "original")
    charlie, phone, anonymous = unique("charlie"), phone_number(), guid()
    mp.track(charlie, "$identify", {"$identified_id": charlie, "$anon_id": anonymous})
    mp.track(charlie, "$identify", {"$identified_id": charlie, "$anon_id": phone})
    assert_alone(server, "original", phone)
    assert ("$identify", "refused", "errAnonDistinctIdNonGUIDForm") in history(
        server, "original", charlie
    )

    mp.alias(phone, charlie)
    assert_one_user(server, "original", {charlie, anonymous, phone})


@pytest.mark.usefixtures("alias_to_server")
def test_alias_in_legacy_mode_resolves_the_alias_to_the_original_id(server: LiveServer) -> None:
    mp = mixpanel_client(server, "legacy")
    original, alias = guid(), unique("user")
    mp.track(original, "Viewed Page")
    mp.alias(alias, original)
    mp.track(alias, "Purchased")  # stored under the original id, at ingestion

    answer = server.identity("legacy", alias)
    assert answer["resolved_distinct_id"] == original
    assert set(answer["cluster"]) == {original, alias}
    assert resolved(server, "legacy", original) == original
    assert history(server, "legacy", alias) == [("$create_alias", "merged", None)]

    newer = unique("user")
    mp.alias(newer, alias)  # chains collapse to the original id
    assert resolved(server, "legacy", newer) == original

    other_device = guid()
    mp.alias(alias, other_device)  # already an alias of another id: refused
    assert resolved(server, "legacy", alias) == original
    assert_alone(server, "legacy", other_device)
    assert reasons(warnings_naming(server, "legacy", other_device)) == ["errAliasAlreadyExists"]
    assert warnings_naming(server, "legacy", original) == []


def test_legacy_alias_resolves_at_ingestion_and_not_retroactively(
    fresh_server: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Events sent as the alias after ``alias()`` are stored under the original id;
    one sent before stays where it was (reference §1.3, §8 scenario 23)."""
    redirect_alias(monkeypatch, fresh_server)
    mp = mixpanel_client(fresh_server, "legacy")
    original, alias = guid(), unique("user")
    mp.track(alias, "Before Alias")
    mp.alias(alias, original)
    mp.track(alias, "After Alias")

    events = stored_events(fresh_server, "legacy")
    assert events["Before Alias"].distinct_id == alias
    assert events["After Alias"].distinct_id == original
    after = json.loads(events["After Alias"].properties)
    assert after["$distinct_id_before_identity"] == alias


def test_stored_events_carry_the_ids_and_failure_reasons(fresh_server: LiveServer) -> None:
    """What ``identity.md`` promises on the stored events themselves: ``$user_id``
    overrides a ``distinct_id`` sent alongside (Simplified), and a refused identity
    event keeps its reason (``$identity_failure_reason`` in Simplified,
    ``$failure_reason`` and ``$failure_description`` in Original)."""
    simplified = mixpanel_client(fresh_server, "simplified")
    device_id, charlie, taylor = guid(), unique("charlie"), unique("taylor")
    simplified.track("something-else", "Sign Up", {"$device_id": device_id, "$user_id": charlie})
    simplified.track("", "Sign In", {"$device_id": device_id, "$user_id": taylor})
    original = mixpanel_client(fresh_server, "original")
    user = unique("user")
    original.track(user, "$identify", {"$identified_id": user, "$anon_id": unique("bob")})

    events = stored_events(fresh_server, "simplified")
    assert events["Sign Up"].distinct_id == charlie
    assert "$identity_failure_reason" not in json.loads(events["Sign Up"].properties)
    assert events["Sign In"].distinct_id == taylor
    refused = json.loads(events["Sign In"].properties)
    assert refused["$identity_failure_reason"] == "errAnonDistinctIdAssignedAlready"

    identify = json.loads(stored_events(fresh_server, "original")["$identify"].properties)
    assert identify["$failure_reason"] == "errAnonDistinctIdNonGUIDForm"
    assert identify["$failure_description"]


def test_legacy_mode_ignores_identify(server: LiveServer) -> None:
    mp = mixpanel_client(server, "legacy")
    anonymous, user = guid(), unique("user")
    mp.track(user, "$identify", {"$identified_id": user, "$anon_id": anonymous})
    assert_alone(server, "legacy", user, anonymous)
    assert history(server, "legacy", user) == [
        ("$identify", "ignored", "mode_legacy_ignores_event")
    ]


@pytest.mark.usefixtures("alias_to_server")
def test_alias_is_ignored_in_simplified_mode(server: LiveServer) -> None:
    mp = mixpanel_client(server, "simplified")
    existing, alias = unique("user"), unique("user")
    mp.alias(alias, existing)  # Mixpanel answers 1 and does nothing
    assert_alone(server, "simplified", existing, alias)
    ignored = ("$create_alias", "ignored", SIMPLIFIED_IGNORES)
    assert history(server, "simplified", existing) == [ignored]
    assert history(server, "simplified", alias) == [ignored]


def test_merge_is_ignored_in_simplified_mode(server: LiveServer) -> None:
    mp = mixpanel_client(server, "simplified")
    first, second = unique("user"), unique("user")
    mp.merge(None, first, second, api_secret=server.secret("simplified"))
    assert_alone(server, "simplified", first, second)
    assert history(server, "simplified", first) == [("$merge", "ignored", SIMPLIFIED_IGNORES)]


# -- profiles and groups -------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_people_updates_are_accepted(server: LiveServer, mode: str) -> None:
    mp = mixpanel_client(server, mode)
    user = unique("user")
    mp.people_set(user, {"plan": "free", "$email": f"{user}@example.com"})
    mp.people_set_once(user, {"first_seen": "2024-01-01T00:00:00"})
    mp.people_increment(user, {"logins": 1, "credits": -2.5})
    mp.people_append(user, {"pages": "home"})
    mp.people_union(user, {"tags": ["a", "b"]})
    mp.people_remove(user, {"tags": "a"})
    mp.people_unset(user, ["first_seen"])
    mp.people_track_charge(user, 9.99, {"sku": "starter"})
    mp.people_clear_charges(user)
    mp.people_set(user, {"plan": "team"}, meta={"$ignore_time": True, "$ip": "0"})
    mp.people_delete(user)
    assert warnings_naming(server, mode, user) == []


@pytest.mark.parametrize("mode", MODES)
def test_group_updates_are_accepted(server: LiveServer, mode: str) -> None:
    mp = mixpanel_client(server, mode)
    company = unique("acme")
    mp.group_set("company", company, {"name": "Acme", "seats": 10})
    mp.group_set_once("company", company, {"founded": 1999})
    mp.group_union("company", company, {"regions": ["eu", "us"]})
    mp.group_remove("company", company, {"regions": "us"})
    mp.group_unset("company", company, ["founded"])
    mp.group_delete("company", company)
    assert warnings_naming(server, mode, company) == []


def test_buffered_profile_updates_are_accepted(server: LiveServer) -> None:
    consumer = buffered_consumer(server)
    mp = mixpanel_client(server, "original", consumer)
    users = [unique("user") for _ in range(4)]
    company = unique("acme")
    for user in users:
        mp.people_set(user, {"plan": "free"})
        mp.people_append(user, {"pages": "home"})
        mp.group_union("company", company, {"members": [user]})
    consumer.flush()  # data=[8 updates] to /engage, data=[4 updates] to /groups
    assert warnings_naming(server, "original", company, *users) == []


def test_a_profile_update_with_an_unknown_token_raises(server: LiveServer) -> None:
    mp = Mixpanel(unique("no-such-token"), consumer=mixpanel_consumer(server))
    marker = unique("marker")
    with pytest.raises(MixpanelException, match="token"):
        mp.people_set(unique("user"), {"marker": marker})
    with pytest.raises(MixpanelException, match="token"):
        mp.track(unique("user"), "Signed Up", {"marker": marker})
    for mode in MODES:  # nothing was stored in, or charged to, any project
        assert warnings_naming(server, mode, marker) == []


def test_a_profile_update_without_distinct_id_raises_and_is_recorded(server: LiveServer) -> None:
    mp = mixpanel_client(server, "simplified")
    marker = unique("marker")
    with pytest.raises(MixpanelException, match="distinct_id"):
        mp.people_set("", {"marker": marker})
    [warning] = warnings_naming(server, "simplified", marker)
    assert warning["endpoint"] == "/engage"
    assert warning["event_seq"] is None  # rejected, not stored


def test_a_bad_record_in_a_buffered_batch_raises(server: LiveServer) -> None:
    consumer = buffered_consumer(server)
    mp = mixpanel_client(server, "simplified", consumer)
    good, marker = unique("user"), unique("marker")
    mp.people_set(good, {"plan": "free"})
    mp.people_set("", {"marker": marker})
    with pytest.raises(MixpanelException):
        consumer.flush()
    [warning] = warnings_naming(server, "simplified", marker)
    assert warning["record_index"] == 1  # its place in the request
    assert warnings_naming(server, "simplified", good) == []


# -- Simplified ID Merge: the documented flows ----------------------------------------


def test_simplified_new_user_then_returning_user_on_a_new_device(server: LiveServer) -> None:
    """Flows A and B of reference §1.1.4 (and §8 scenarios 1-2)."""
    mp = mixpanel_client(server, "simplified")
    d1, d2, u1 = unique("d1"), unique("d2"), unique("u1")
    mp.track("", "E1", {"$device_id": d1})
    mp.track("", "E2", {"$device_id": d1})
    assert_alone(server, "simplified", device(d1))
    mp.track("", "E3", {"$device_id": d1, "$user_id": u1})  # identify(U1)
    assert server.cluster("simplified", device(d1)) == {u1, device(d1)}

    mp.track("", "E4", {"$device_id": d2})
    mp.track("", "E5", {"$device_id": d2})
    assert_alone(server, "simplified", device(d2))
    mp.track("", "E6", {"$device_id": d2, "$user_id": u1})  # identify(U1), new device

    for member in (u1, device(d1), device(d2)):
        answer = server.identity("simplified", member)
        assert set(answer["cluster"]) == {u1, device(d1), device(d2)}
        assert answer["resolved_distinct_id"] == u1  # always the $user_id
    assert history(server, "simplified", u1) == [("E3", "linked", None), ("E6", "linked", None)]


def test_simplified_several_users_on_one_device_with_reset(server: LiveServer) -> None:
    """Flow C: after logout ``reset()`` gives a new device id; two clusters result."""
    mp = mixpanel_client(server, "simplified")
    d1, d2, u1, u2 = unique("d1"), unique("d2"), unique("u1"), unique("u2")
    mp.track("", "E1", {"$device_id": d1})
    mp.track("", "E2", {"$device_id": d1, "$user_id": u1})
    mp.track("", "E3", {"$device_id": d2})
    mp.track("", "E4", {"$device_id": d2})
    mp.track("", "E5", {"$device_id": d2, "$user_id": u2})
    assert server.cluster("simplified", u1) == {u1, device(d1)}
    assert server.cluster("simplified", u2) == {u2, device(d2)}
    assert resolved(server, "simplified", device(d2)) == u2


def test_simplified_second_user_on_a_linked_device_is_refused(server: LiveServer) -> None:
    """Without ``reset()`` the device stays U1's: a second user on it links nothing."""
    mp = mixpanel_client(server, "simplified")
    d1, u1, u2 = unique("d1"), unique("u1"), unique("u2")
    mp.track("", "Logged In", {"$device_id": d1, "$user_id": u1})
    mp.track("", "Logged In", {"$device_id": d1, "$user_id": u2})  # still answered 1

    assert server.cluster("simplified", u1) == {u1, device(d1)}
    assert_alone(server, "simplified", u2)
    mp.track("", "Viewed Page", {"$device_id": d1})
    assert resolved(server, "simplified", device(d1)) == u1

    refused = ("Logged In", "refused", "errAnonDistinctIdAssignedAlready")
    assert history(server, "simplified", u2) == [refused]
    assert refused in history(server, "simplified", u1)  # it touched U1's device
    [warning] = warnings_naming(server, "simplified", u2)
    assert (warning["endpoint"], warning["reason"], warning["distinct_id"]) == (
        "/track",
        "errAnonDistinctIdAssignedAlready",
        u2,  # the event is attributed to the user it names
    )


def test_simplified_never_merges_two_user_ids(server: LiveServer) -> None:
    """Reference §1.1.3 and §8 scenario 5: ``+6512345678`` sent as charlie's device id
    joins charlie's cluster as ``$device:+6512345678``; sent later as a user id it is a
    new user, not charlie."""
    mp = mixpanel_client(server, "simplified")
    phone, charlie = phone_number(), unique("charlie")
    mp.track("", "Signed Up", {"$device_id": phone, "$user_id": charlie})
    mp.track("", "Logged In", {"$user_id": phone})
    mp.track(phone, "Viewed Page")  # a bare distinct_id is a $user_id here

    assert server.cluster("simplified", charlie) == {charlie, device(phone)}
    assert resolved(server, "simplified", device(phone)) == charlie
    assert_alone(server, "simplified", phone)


def test_simplified_identify_event_links_nothing(server: LiveServer) -> None:
    """§8 scenario 10: the SDK's own ``$identify`` carries both ids but has no meaning
    here; the next ordinary event with both links them."""
    mp = mixpanel_client(server, "simplified")
    device_id, user = guid(), unique("user")
    mp.track(
        user,
        "$identify",
        {"$device_id": device_id, "$user_id": user, "$anon_distinct_id": device(device_id)},
    )
    assert_alone(server, "simplified", user, device(device_id))
    assert history(server, "simplified", user) == [("$identify", "ignored", SIMPLIFIED_IGNORES)]
    assert warnings_naming(server, "simplified", user) == []  # ignored is not a warning

    mp.track(user, "Logged In", {"$device_id": device_id, "$user_id": user})
    assert server.cluster("simplified", user) == {user, device(device_id)}


# -- Original ID Merge ------------------------------------------------------------------


@pytest.mark.parametrize("form", ["identified_id", "sdk", "sdk-device-prefix"])
def test_original_identify_merges_anonymous_and_known_ids(server: LiveServer, form: str) -> None:
    mp = mixpanel_client(server, "original")
    anonymous = device(guid()) if form == "sdk-device-prefix" else guid()
    user = unique("user")
    mp.track(anonymous, "Viewed Page")
    if form == "identified_id":
        mp.track(user, "$identify", {"$identified_id": user, "$anon_id": anonymous})
    else:  # what the JS and Android SDKs send: distinct_id + $anon_distinct_id
        mp.track(user, "$identify", {"$anon_distinct_id": anonymous})
    assert_one_user(server, "original", {anonymous, user})
    assert history(server, "original", anonymous) == [("$identify", "merged", None)]


def test_original_returning_user_on_a_new_device(server: LiveServer) -> None:
    mp = mixpanel_client(server, "original")
    d1, d2, user = guid(), guid(), unique("user")
    mp.track(user, "$identify", {"$identified_id": user, "$anon_id": d1})
    mp.track(d2, "Viewed Page")
    mp.track(user, "$identify", {"$identified_id": user, "$anon_id": d2})
    assert_one_user(server, "original", {d1, d2, user})


@pytest.mark.parametrize(
    "case", ["errSameIDs", "errAnonDistinctIdNonGUIDForm", "errAnonDistinctIdAssignedAlready"]
)
def test_original_identify_refusals(server: LiveServer, case: str) -> None:
    mp = mixpanel_client(server, "original")
    user, anonymous = unique("user"), guid()
    if case == "errSameIDs":
        user = anonymous
    elif case == "errAnonDistinctIdNonGUIDForm":
        anonymous = unique("bob")  # a name, not an SDK-made id: shared-device guard
    else:
        first_user = unique("user")
        mp.track(first_user, "$identify", {"$identified_id": first_user, "$anon_id": anonymous})
    mp.track(user, "$identify", {"$identified_id": user, "$anon_id": anonymous})

    if case == "errAnonDistinctIdAssignedAlready":
        assert_one_user(server, "original", {first_user, anonymous})
        assert_alone(server, "original", user)
    else:
        assert_alone(server, "original", user, anonymous)
    assert ("$identify", "refused", case) in history(server, "original", user)
    [warning] = warnings_naming(server, "original", user)
    assert (warning["endpoint"], warning["event"], warning["reason"]) == (
        "/track",
        "$identify",
        case,
    )


# -- junk ids, every mode ---------------------------------------------------------------


@pytest.mark.parametrize("junk", ["undefined", "null", "Anonymous", "'none'", '"0"', " "])
def test_simplified_junk_user_id_never_links(server: LiveServer, junk: str) -> None:
    mp = mixpanel_client(server, "simplified")
    device_id = unique("dev")
    mp.track("", "Signed Up", {"$device_id": device_id, "$user_id": junk})
    assert_alone(server, "simplified", device(device_id))
    [warning] = warnings_naming(server, "simplified", device_id)
    assert (warning["endpoint"], warning["reason"]) == ("/track", "errJunkId")
    assert warning["event_seq"] is not None  # the event itself is stored


@pytest.mark.usefixtures("alias_to_server")
def test_original_junk_ids_never_merge(server: LiveServer) -> None:
    mp = mixpanel_client(server, "original")
    user = unique("user")
    mp.track(user, "$identify", {"$identified_id": user, "$anon_id": "undefined"})
    mp.alias("undefined", user)
    mp.alias(user, "null")
    assert_alone(server, "original", user, "undefined", "null")
    assert reasons(warnings_naming(server, "original", user)) == ["errJunkId"] * 3


@pytest.mark.usefixtures("alias_to_server")
def test_legacy_junk_alias_is_refused(server: LiveServer) -> None:
    mp = mixpanel_client(server, "legacy")
    user = unique("user")
    mp.alias("undefined", user)
    assert_alone(server, "legacy", user, "undefined")
    assert reasons(warnings_naming(server, "legacy", user)) == ["errJunkId"]


@pytest.mark.parametrize("mode", MODES)
def test_import_of_a_junk_distinct_id_is_a_failed_record(server: LiveServer, mode: str) -> None:
    mp = mixpanel_client(server, mode)
    insert_id = uuid.uuid4().hex
    with pytest.raises(MixpanelException):
        mp.import_data(
            None,
            "undefined",
            "Purchased",
            long_ago(),
            {"$insert_id": insert_id},
            api_secret=server.secret(mode),
        )
    [warning] = warnings_naming(server, mode, insert_id)
    assert warning["endpoint"] == "/import"
    assert warning["event_seq"] is None  # a failed record is not stored
    assert "distinct_id" in (warning["field"] or "")
