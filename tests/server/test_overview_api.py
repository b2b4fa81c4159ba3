"""``GET /api/overview`` over the session's real server: a visitor who logs in and a
second user refused on the same device, sent through ``/import``, show up in the
day's counts, the refusals by reason and the totals; the answer matches the OpenAPI
document; no secret is a 401; a bad day is a 400 naming the parameter.

The server is shared, so the tests read the overview before and after sending their
own events, on days of their own, and compare the difference.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import httpx
import pytest

from documented import documented

from live import LiveServer

MODE = "simplified"
PATH = "/api/overview"
#: days no other test sends events on
DAY_1 = dt.datetime(2009, 2, 13, tzinfo=dt.UTC)
RANGE = {"from_date": "2009-02-13", "to_date": "2009-02-15"}


def get(server: LiveServer, *, secret: str | None = None, **params: Any) -> httpx.Response:
    return httpx.get(
        server.url + PATH,
        params=params,
        auth=(server.secret(MODE) if secret is None else secret, ""),
        timeout=60,
    )


def event(name: str, hours: float, distinct_id: str, **properties: Any) -> dict[str, Any]:
    """An event ``hours`` after 2009-02-13 00:00 UTC."""
    at = int((DAY_1 + dt.timedelta(hours=hours)).timestamp())
    props = {"time": at, "distinct_id": distinct_id, "$insert_id": uuid.uuid4().hex}
    return {"event": name, "properties": {**props, **properties}}


def send(server: LiveServer, events: list[dict[str, Any]]) -> None:
    server.import_events(MODE, events)


def minus(after: dict[str, Any], before: dict[str, Any]) -> dict[str, Any]:
    """What changed between two answers of the same range: per day and in total."""
    changed: dict[str, Any] = {
        day_after["day"]: {k: v - day_before[k] for k, v in day_after.items() if k != "day"}
        for day_after, day_before in zip(after["days"], before["days"], strict=True)
    }
    changed["totals"] = {k: v - before["totals"][k] for k, v in after["totals"].items()}
    reasons = after["refused_by_reason"]
    changed["refused_by_reason"] = {
        reason: n - before["refused_by_reason"].get(reason, 0)
        for reason, n in reasons.items()
        if n != before["refused_by_reason"].get(reason, 0)
    }
    return changed


def test_counts_a_login_and_a_refused_one(server: LiveServer) -> None:
    device = str(uuid.uuid4())
    anonymous = f"$device:{device}"
    first, second = f"ann-{uuid.uuid4().hex[:8]}", f"bob-{uuid.uuid4().hex[:8]}"
    before = documented(get(server, **RANGE))

    send(
        server,
        [
            event("App Open", 9, anonymous, **{"$device_id": device}),
            event("Log In", 10, first, **{"$device_id": device, "$user_id": first}),
            event("Purchase", 11, first, **{"$user_id": first}),
            # two days later, another user on the same device: refused
            event("Log In", 50, second, **{"$device_id": device, "$user_id": second}),
        ],
    )
    after = documented(get(server, **RANGE))

    assert (after["from_date"], after["to_date"]) == ("2009-02-13", "2009-02-15")
    assert [d["day"] for d in after["days"]] == ["2009-02-13", "2009-02-14", "2009-02-15"]
    zero = dict.fromkeys(["events", "stored_ids", "people", "merges", "refused"], 0)
    assert minus(after, before) == {
        "2009-02-13": {"events": 3, "stored_ids": 2, "people": 1, "merges": 1, "refused": 0},
        "2009-02-14": zero,
        "2009-02-15": {"events": 1, "stored_ids": 1, "people": 1, "merges": 0, "refused": 1},
        "totals": {"events": 4, "stored_ids": 3, "people": 2, "merges": 1, "refused": 1},
        "refused_by_reason": {"errAnonDistinctIdAssignedAlready": 1},
    }


def test_without_dates_the_30_days_up_to_the_newest_event(server: LiveServer) -> None:
    answer = documented(get(server))

    start, end = (dt.date.fromisoformat(answer[k]) for k in ("from_date", "to_date"))
    assert (end - start).days == 29
    assert len(answer["days"]) == 30
    asked = documented(get(server, from_date=answer["from_date"], to_date=answer["to_date"]))
    assert asked["days"] == answer["days"]


def test_no_secret_is_401(server: LiveServer) -> None:
    answer = httpx.get(server.url + PATH, params=RANGE, timeout=30)
    assert answer.status_code == 401
    assert "secret" in documented(answer)["error"]
    assert get(server, secret="not-a-secret", **RANGE).status_code == 401


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"from_date": "13/02/2009"}, "from_date must be a day as YYYY-MM-DD"),
        ({"to_date": "2009-02-30"}, "to_date must be a day as YYYY-MM-DD"),
        ({"from_date": "2009-02-15", "to_date": "2009-02-13"}, "to_date (2009-02-13) is before"),
        ({"from_date": "1990-01-01", "to_date": "2009-02-13"}, "at most 3,660"),
    ],
)
def test_bad_dates_are_400_naming_the_parameter(
    server: LiveServer, params: dict[str, str], named: str
) -> None:
    answer = get(server, **params)
    assert answer.status_code == 400
    body = documented(answer)
    assert named in body["error"]
    assert body["request"].startswith(PATH)
