"""The reports over a real server: segmentation (and numeric, sum, average),
retention and funnels, saved and ad hoc, and idmerge's own saved-funnel API.

Each report counts people by the id they resolve to at query time, so the tests
send a device's anonymous events and the user's own, read the report, then send the
login that links the two and read it again: the same events now count as one user.
Every test uses event names and ids of its own (the server is shared) and reads the
days its events carry.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import httpx
import jsonschema
import pytest

from documented import documented
from idmerge.server.openapi import document

from live import LiveServer

FAMILIES = ("/api/2.0", "/api/query")
JUNE_3 = int(dt.datetime(2024, 6, 3, tzinfo=dt.UTC).timestamp())  # a Monday
DAY_S = 86_400
DAY_1, DAY_2 = "2024-06-03", "2024-06-04"
RANGE = {"from_date": DAY_1, "to_date": DAY_2}
#: the Mixpanel reports, under both families
REPORTS = (
    "segmentation",
    "segmentation/numeric",
    "segmentation/sum",
    "segmentation/average",
    "retention",
    "funnels",
    "funnels/list",
)


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def event(name: str, at: int, **properties: Any) -> dict[str, Any]:
    """An event at ``at`` seconds after 2024-06-03 00:00 UTC."""
    return {"event": name, "properties": {"time": JUNE_3 + at, **properties}}


def send(server: LiveServer, mode: str, events: list[dict[str, Any]]) -> None:
    for record in events:
        record["properties"].setdefault("$insert_id", uuid.uuid4().hex)
    server.import_events(mode, events)


class Person:
    """A device that acts anonymously, and the user who later logs in on it."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.device = str(uuid.uuid4())
        self.user = uid("user")

    def anonymous(self, name: str, at: int, **properties: Any) -> dict[str, Any]:
        if self.mode == "original":
            return event(name, at, distinct_id=self.device, **properties)
        return event(
            name, at, distinct_id=f"$device:{self.device}", **{"$device_id": self.device},
            **properties,
        )  # fmt: skip

    def identified(self, name: str, at: int, **properties: Any) -> dict[str, Any]:
        return event(name, at, distinct_id=self.user, **properties)

    def login(self, at: int) -> dict[str, Any]:
        """The identity event that makes the device and the user one person."""
        if self.mode == "original":
            return event(
                "$identify", at, distinct_id=self.user, **{"$anon_distinct_id": self.device}
            )
        ids = {"$device_id": self.device, "$user_id": self.user}
        return event(uid("Login"), at, distinct_id=self.user, **ids)


def call(
    server: LiveServer, mode: str, path: str, method: str = "GET", **kwargs: Any
) -> httpx.Response:
    return httpx.request(
        method, server.url + path, auth=(server.secret(mode), ""), timeout=60, **kwargs
    )


def ok(server: LiveServer, mode: str, path: str, **params: Any) -> Any:
    answer = call(server, mode, path, params=params)
    assert answer.status_code == 200, f"{path}: {answer.text}"
    return documented(answer)


def assert_api_error(answer: httpx.Response, status: int, *words: str) -> dict[str, Any]:
    """The API's error shape, with ``words`` in its message."""
    assert answer.status_code == status, answer.text
    documented(answer)
    body: dict[str, Any] = answer.json()
    assert set(body) == {"request", "error", "status"}, body
    assert body["status"] == "error"
    assert body["request"].startswith(answer.request.url.path)
    for word in words:
        assert word in body["error"], body["error"]
    return body


# -- segmentation --------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["simplified", "original", "cdp"])
def test_segmentation_counts_a_device_and_its_user_as_one(server: LiveServer, mode: str) -> None:
    name, person = uid("Opened"), Person(mode)
    send(server, mode, [
        person.anonymous(name, 10, plan="free"),
        person.identified(name, 3600, plan="pro"),
        person.identified(name, DAY_S + 5, plan="pro"),
    ])  # fmt: skip
    path = FAMILIES[0] + "/segmentation"
    unique = ok(server, mode, path, event=name, type="unique", **RANGE)
    assert unique == {
        "data": {"series": [DAY_1, DAY_2], "values": {name: {DAY_1: 2, DAY_2: 1}}},
        "legend_size": 1,
    }
    send(server, mode, [person.login(7200)])
    unique = ok(server, mode, path, event=name, type="unique", **RANGE)
    assert unique["data"]["values"] == {name: {DAY_1: 1, DAY_2: 1}}
    general = ok(server, mode, path, event=name, **RANGE)
    assert general["data"]["values"] == {name: {DAY_1: 2, DAY_2: 1}}
    average = ok(server, mode, path, event=name, type="average", **RANGE)
    assert average["data"]["values"] == {name: {DAY_1: 2, DAY_2: 1}}
    weekly = ok(server, mode, path, event=json.dumps([name]), type="unique", unit="week", **RANGE)
    assert weekly["data"] == {"series": [DAY_1], "values": {name: {DAY_1: 1}}}
    by_plan = ok(server, mode, path, event=name, type="unique", on='properties["plan"]', **RANGE)
    assert by_plan == {
        "data": {
            "series": [DAY_1, DAY_2],
            "values": {"pro": {DAY_1: 1, DAY_2: 1}, "free": {DAY_1: 1, DAY_2: 0}},
        },
        "legend_size": 2,
    }
    only_pro = ok(server, mode, path, event=name, type="unique",
                  where='properties["plan"] == "pro"', **RANGE)  # fmt: skip
    assert only_pro["data"]["values"] == {name: {DAY_1: 1, DAY_2: 1}}


def test_segmentation_hour_and_minute_labels(server: LiveServer) -> None:
    name, person = uid("Ticked"), Person("simplified")
    send(server, "simplified", [person.anonymous(name, 3600 + 61)])
    day = {"from_date": DAY_1, "to_date": DAY_1}
    hourly = ok(server, "simplified", "/api/query/segmentation", event=name, unit="hour", **day)
    assert len(hourly["data"]["series"]) == 24
    assert hourly["data"]["values"][name]["2024-06-03 01:00:00"] == 1
    assert sum(hourly["data"]["values"][name].values()) == 1
    minutes = ok(server, "simplified", "/api/query/segmentation", event=name, unit="minute", **day)
    assert len(minutes["data"]["series"]) == 24 * 60
    assert minutes["data"]["values"][name]["2024-06-03 01:01:00"] == 1


def test_segmentation_numeric_counts_resolved_users(server: LiveServer) -> None:
    name, person = uid("Paid"), Person("simplified")
    send(server, "simplified", [
        person.anonymous(name, 10, price=5),
        person.identified(name, 20, price=5),
        person.identified(name, 30, price="not a number"),
    ])  # fmt: skip
    path = FAMILIES[1] + "/segmentation/numeric"
    params = {"event": name, "on": 'properties["price"]', "from_date": DAY_1, "to_date": DAY_1}
    before = ok(server, "simplified", path, type="unique", **params)
    assert before == {
        "data": {"series": [DAY_1], "values": {"5 - 6": {DAY_1: 2}}},
        "legend_size": 1,
    }
    send(server, "simplified", [person.login(15)])
    after = ok(server, "simplified", path, type="unique", **params)
    assert after["data"]["values"] == {"5 - 6": {DAY_1: 1}}
    general = ok(server, "simplified", path, **params)
    assert general["data"]["values"] == {"5 - 6": {DAY_1: 2}}


def test_sum_and_average_count_events_not_people(server: LiveServer) -> None:
    """A login neither adds nor removes occurrences: the sums stay as they were."""
    name, person = uid("Spent"), Person("simplified")
    send(server, "simplified", [
        person.anonymous(name, 10, amount=2.5),
        person.identified(name, 20, amount=4),
        person.identified(name, 30, amount="n/a"),  # counts as 0
        person.identified(name, DAY_S + 1, amount=1),
    ])  # fmt: skip
    params = {"event": name, "on": 'properties["amount"]', **RANGE}

    def sum_and_average() -> tuple[Any, Any]:
        total = ok(server, "simplified", "/api/2.0/segmentation/sum", **params)
        assert set(total) == {"status", "computed_at", "results"}
        assert total["status"] == "ok"
        assert dt.datetime.fromisoformat(total["computed_at"]).utcoffset() == dt.timedelta(0)
        mean = ok(server, "simplified", "/api/2.0/segmentation/average", **params)
        assert set(mean) == {"status", "results"} and mean["status"] == "ok"
        return total["results"], mean["results"]

    before = sum_and_average()
    send(server, "simplified", [person.login(15)])
    assert sum_and_average() == before == ({DAY_1: 6.5, DAY_2: 1}, {DAY_1: 2.167, DAY_2: 1})
    hourly = ok(server, "simplified", "/api/2.0/segmentation/sum", unit="hour", **params)
    assert hourly["results"]["2024-06-03 00:00:00"] == 6.5
    assert len(hourly["results"]) == 48
    only = ok(server, "simplified", "/api/2.0/segmentation/sum",
              where='properties["amount"] > 3', **params)  # fmt: skip
    assert only["results"] == {DAY_1: 4, DAY_2: 0}


# -- retention -----------------------------------------------------------------------


def test_retention_follows_the_login(server: LiveServer) -> None:
    """Born anonymously on the device on day 1; back as the user 26 h later (bucket 1):
    a return only once the login has made them one person."""
    born, back, person = uid("Signup"), uid("Played"), Person("simplified")
    send(server, "simplified", [
        person.anonymous(born, 10),
        person.identified(back, 26 * 3600),
    ])  # fmt: skip
    params = {"born_event": born, "event": back, "interval_count": 2, **RANGE}
    empty = {"counts": [0, 0, 0], "first": 0}
    before = ok(server, "simplified", "/api/query/retention", **params)
    assert before == {DAY_1: {"counts": [0, 0, 0], "first": 1}, DAY_2: empty}
    send(server, "simplified", [person.login(20)])
    after = ok(server, "simplified", "/api/query/retention", **params)
    assert after == {DAY_1: {"counts": [0, 1, 0], "first": 1}, DAY_2: empty}
    unbounded = ok(server, "simplified", "/api/query/retention", unbounded_retention="true",
                   **params)  # fmt: skip
    assert unbounded[DAY_1] == {"counts": [1, 1, 0], "first": 1}
    # compounded: in day 2's cohort, anchored at their only occurrence, which is no return
    recurring = ok(server, "simplified", "/api/query/retention", retention_type="compounded",
                   event=back, **RANGE)  # fmt: skip
    assert recurring == {
        DAY_1: {"counts": [0, 0], "first": 0},
        DAY_2: {"counts": [0, 0], "first": 1},
    }


# -- funnels -------------------------------------------------------------------------


def funnel_request(*steps: str, **extra: Any) -> dict[str, Any]:
    return {"steps": [{"event": s} for s in steps], **RANGE, **extra}


def test_adhoc_funnel_converts_after_login(server: LiveServer) -> None:
    """Step 1 on the device, step 2 as the user: a conversion once they are one."""
    opened, bought, person = uid("Opened"), uid("Bought"), Person("simplified")
    send(server, "simplified", [person.anonymous(opened, 10), person.identified(bought, 200)])
    body = funnel_request(opened, bought)
    before = call(server, "simplified", "/api/query/funnels", "POST", json=body)
    assert before.status_code == 200, before.text
    day_1 = before.json()["data"][DAY_1]
    assert [s["count"] for s in day_1["steps"]] == [1, 0]
    assert day_1["analysis"] == {"completion": 0, "starting_amount": 1, "steps": 2, "worst": 1}

    send(server, "simplified", [person.login(100)])
    answer = documented(call(server, "simplified", "/api/query/funnels", "POST", json=body))
    assert answer["meta"] == {"dates": [DAY_1, DAY_2]}
    first, second = answer["data"][DAY_1]["steps"]
    assert first == {
        "count": 1, "avg_time": None, "avg_time_from_start": None, "step_conv_ratio": 1.0,
        "overall_conv_ratio": 1.0, "goal": opened, "event": opened,
    }  # fmt: skip
    assert second == {
        "count": 1, "avg_time": 190.0, "avg_time_from_start": 190.0, "step_conv_ratio": 1.0,
        "overall_conv_ratio": 1.0, "goal": bought, "event": bought,
    }  # fmt: skip
    assert answer["data"][DAY_1]["analysis"]["completion"] == 1
    assert [s["count"] for s in answer["data"][DAY_2]["steps"]] == [0, 0]
    # the window counts from the entry: 190 s is too long for a 3-minute one
    short = call(server, "simplified", "/api/query/funnels", "POST",
                 json={**body, "length": 3, "length_unit": "minute"}).json()  # fmt: skip
    assert [s["count"] for s in short["data"][DAY_1]["steps"]] == [1, 0]
    # the steps as JSON text in a query string do as well
    by_get = ok(server, "simplified", "/api/2.0/funnels", steps=json.dumps(body["steps"]), **RANGE)
    assert by_get == answer


def test_funnel_segmented_by_on(server: LiveServer) -> None:
    opened, bought = uid("Opened"), uid("Bought")
    one, two = Person("simplified"), Person("simplified")
    send(server, "simplified", [
        one.anonymous(opened, 10, source="ad"),
        one.identified(bought, 50),
        one.login(20),
        two.identified(opened, 10, source="mail"),
    ])  # fmt: skip
    body = funnel_request(opened, bought, on='properties["source"]')
    answer = documented(call(server, "simplified", "/api/2.0/funnels/", "POST", json=body))
    day_1 = answer["data"][DAY_1]
    assert set(day_1) == {"$overall", "ad", "mail"}
    assert [s["count"] for s in day_1["$overall"]] == [2, 1]
    assert [s["count"] for s in day_1["ad"]] == [1, 1]
    assert [s["count"] for s in day_1["mail"]] == [1, 0]
    assert day_1["$overall"][1]["overall_conv_ratio"] == 0.5


def test_saved_funnel_lifecycle(server: LiveServer) -> None:
    opened, bought, person = uid("Opened"), uid("Bought"), Person("cdp")
    send(server, "cdp", [
        person.anonymous(opened, 10), person.login(100), person.identified(bought, 200),
    ])  # fmt: skip
    name = uid("Checkout")
    saved = call(server, "cdp", "/api/funnels", "POST",
                 json={"name": name, "steps": [{"event": opened}, bought], "length": 1,
                       "length_unit": "hour"})  # fmt: skip
    assert saved.status_code == 201, saved.text
    funnel = documented(saved)
    funnel_id = funnel["funnel_id"]
    assert isinstance(funnel_id, int) and isinstance(funnel["created_at"], int)
    assert funnel == {
        "funnel_id": funnel_id,
        "name": name,
        "steps": [{"event": opened, "where": None}, {"event": bought, "where": None}],
        "length": 1,
        "length_unit": "hour",
        "created_at": funnel["created_at"],
    }
    assert ok(server, "cdp", f"/api/funnels/{funnel_id}") == funnel
    assert funnel in ok(server, "cdp", "/api/funnels")
    for family in FAMILIES:
        assert {"funnel_id": funnel_id, "name": name} in ok(server, "cdp", family + "/funnels/list")
    # another project does not see it
    assert funnel_id not in [f["funnel_id"] for f in ok(server, "simplified", "/api/funnels")]
    assert_api_error(call(server, "simplified", f"/api/funnels/{funnel_id}"), 404, str(funnel_id))
    elsewhere = call(
        server, "simplified", "/api/2.0/funnels", params={"funnel_id": funnel_id, **RANGE}
    )
    assert_api_error(elsewhere, 404, "funnel_id")

    answer = ok(server, "cdp", "/api/2.0/funnels", funnel_id=funnel_id, **RANGE)
    assert [s["count"] for s in answer["data"][DAY_1]["steps"]] == [1, 1]
    body = funnel_request(opened, bought, length=1, length_unit="hour")
    adhoc = documented(call(server, "cdp", "/api/query/funnels", "POST", json=body))
    assert adhoc == answer
    # length overrides the saved window: 190 s is over 3 minutes
    shorter = ok(server, "cdp", "/api/query/funnels", funnel_id=funnel_id, length=3,
                 length_unit="minute", **RANGE)  # fmt: skip
    assert [s["count"] for s in shorter["data"][DAY_1]["steps"]] == [1, 0]

    deleted = call(server, "cdp", f"/api/funnels/{funnel_id}", "DELETE")
    assert deleted.status_code == 200
    assert documented(deleted) == {"status": "ok", "deleted": funnel_id}
    assert_api_error(call(server, "cdp", f"/api/funnels/{funnel_id}"), 404, str(funnel_id))
    assert_api_error(call(server, "cdp", f"/api/funnels/{funnel_id}", "DELETE"), 404)
    gone = call(server, "cdp", "/api/2.0/funnels", params={"funnel_id": funnel_id, **RANGE})
    assert_api_error(gone, 404, "funnel_id")
    assert funnel_id not in [f["funnel_id"] for f in ok(server, "cdp", "/api/query/funnels/list")]


def test_saving_a_funnel_by_form(server: LiveServer) -> None:
    steps = json.dumps([uid("A"), {"event": uid("B"), "where": 'properties["x"] == 1'}])
    saved = call(server, "legacy", "/api/funnels", "POST", data={"name": "by form", "steps": steps})
    assert saved.status_code == 201, saved.text
    assert saved.json()["steps"][1]["where"] == 'properties["x"] == 1'
    assert saved.json()["length"] == 7 and saved.json()["length_unit"] == "day"


def test_saved_funnel_errors(server: LiveServer) -> None:
    steps = [uid("A"), uid("B")]
    assert_api_error(call(server, "cdp", "/api/funnels", "POST", json={"steps": steps}), 400,
                     "name")  # fmt: skip
    one_step = call(server, "cdp", "/api/funnels", "POST", json={"name": "x", "steps": steps[:1]})
    assert_api_error(one_step, 400, "steps")
    bad_where = call(server, "cdp", "/api/funnels", "POST", json={
        "name": "x", "steps": [{"event": "a", "where": 'properties["x"] =='}, "b"]})  # fmt: skip
    assert_api_error(bad_where, 400, "where", "position")
    too_long = call(server, "cdp", "/api/funnels", "POST",
                    json={"name": "x", "steps": steps, "length": 91})  # fmt: skip
    assert_api_error(too_long, 400, "length")
    bad_unit = call(server, "cdp", "/api/funnels", "POST",
                    json={"name": "x", "steps": steps, "length_unit": "week"})  # fmt: skip
    assert_api_error(bad_unit, 400, "length_unit")
    assert_api_error(call(server, "cdp", "/api/funnels/abc"), 400, "funnel_id")
    assert_api_error(call(server, "cdp", "/api/funnels/2147483000"), 404, "2147483000")
    assert_api_error(call(server, "cdp", "/api/funnels/2147483000", "DELETE"), 404)
    for method, path in (("GET", "/api/funnels"), ("POST", "/api/funnels"),
                         ("GET", "/api/funnels/1"), ("DELETE", "/api/funnels/1")):  # fmt: skip
        unauthorized = httpx.request(method, server.url + path, json={"name": "x", "steps": steps})
        assert_api_error(unauthorized, 401)
    # nothing of the refused funnels was kept
    assert "x" not in [f["name"] for f in ok(server, "cdp", "/api/funnels")]


# -- paths, auth, bad input ----------------------------------------------------------


def valid_params(report: str, name: str) -> dict[str, Any]:
    """Parameters ``report`` answers 200 to, on the event ``name``."""
    if report == "funnels/list":
        return {}
    if report == "retention":
        return {"born_event": name, **RANGE}
    if report == "funnels":
        return {"steps": json.dumps([name, name]), **RANGE}
    if report == "segmentation":
        return {"event": name, **RANGE}
    return {"event": name, "on": 'properties["n"]', **RANGE}


def without_clock(answer: Any) -> Any:
    if isinstance(answer, dict):
        return {k: v for k, v in answer.items() if k != "computed_at"}
    return answer


@pytest.mark.parametrize("report", REPORTS)
def test_both_families_with_and_without_slash_and_post(server: LiveServer, report: str) -> None:
    name = uid("Seen")
    person = Person("simplified")
    send(server, "simplified", [person.anonymous(name, 10, n=1), person.identified(name, 20, n=2)])
    send(server, "simplified", [person.login(15)])
    params = valid_params(report, name)
    answers = []
    for family in FAMILIES:
        for slash in ("", "/"):
            path = f"{family}/{report}{slash}"
            answers.append(without_clock(ok(server, "simplified", path, **params)))
            if report != "funnels/list":
                for body in ({"data": params}, {"json": params}):
                    answer = call(server, "simplified", path, "POST", **body)
                    assert answer.status_code == 200, f"POST {path}: {answer.text}"
                    answers.append(without_clock(documented(answer)))
    assert all(answer == answers[0] for answer in answers), report
    if report == "segmentation":
        assert answers[0]["data"]["values"] == {name: {DAY_1: 2, DAY_2: 0}}
    if report == "funnels":  # the same event twice: the user's second occurrence
        assert [s["count"] for s in answers[0]["data"][DAY_1]["steps"]] == [1, 1]


@pytest.mark.parametrize(
    "auth", [None, ("wrong-secret", ""), ("someone", "wrong-secret")], ids=["none", "bad", "svc"]
)
@pytest.mark.parametrize("report", REPORTS)
def test_reports_need_the_secret(server: LiveServer, report: str, auth: Any) -> None:
    params = {**valid_params(report, "x"), "project_id": "simplified"}
    for family in FAMILIES:
        answer = httpx.get(f"{server.url}{family}/{report}", params=params, auth=auth, timeout=30)
        assert_api_error(answer, 401)


def test_a_service_account_with_project_id(server: LiveServer) -> None:
    answer = httpx.get(server.url + "/api/query/funnels/list", params={"project_id": "cdp"},
                       auth=("svc", server.secret("cdp")), timeout=30)  # fmt: skip
    assert answer.status_code == 200 and isinstance(answer.json(), list)


BAD = [
    ("segmentation", {"unit": "year"}, ["unit", "year"]),
    ("segmentation", {"where": 'properties["plan"] =='}, ["where", "position"]),
    ("segmentation", {"on": 'properties["plan"'}, ["on", "position"]),
    ("segmentation", {"type": "median"}, ["type"]),
    ("segmentation", {"limit": "0"}, ["limit"]),
    ("segmentation", {"interval": "2", "unit": "day"}, ["unit", "interval"]),
    ("segmentation", {"event": ""}, ["event"]),
    ("segmentation", {"event": '["a", "b"]'}, ["event"]),
    ("segmentation", {"from_date": "2024-6-3"}, ["from_date"]),
    ("segmentation", {"to_date": "2024-06-01"}, ["to_date"]),
    ("segmentation", {"from_date": "2000-01-01", "unit": "minute"}, ["minute"]),
    ("segmentation/numeric", {"on": ""}, ["on"]),
    ("segmentation/numeric", {"unit": "week"}, ["unit"]),
    ("segmentation/sum", {"unit": "month"}, ["unit"]),
    ("segmentation/average", {"where": "properties["}, ["where", "position"]),
    ("retention", {"born_event": ""}, ["born_event"]),
    ("retention", {"unit": "hour"}, ["unit"]),
    ("retention", {"retention_type": "first"}, ["retention_type"]),
    ("retention", {"interval_count": "0"}, ["interval_count"]),
    ("retention", {"interval": "14", "unit": "week"}, ["interval"]),
    ("retention", {"unbounded_retention": "maybe"}, ["unbounded_retention"]),
    ("retention", {"born_where": "1 +"}, ["born_where", "position"]),
    ("retention", {"on": 'properties["x"]'}, ["on"]),
    ("funnels", {"steps": ""}, ["steps"]),
    ("funnels", {"steps": "[1, 2]"}, ["step 1"]),
    ("funnels", {"steps": "not json"}, ["steps"]),
    ("funnels", {"funnel_id": "abc"}, ["funnel_id"]),
    ("funnels", {"funnel_id": "1"}, ["funnel_id", "steps"]),
    ("funnels", {"length_unit": "week"}, ["length_unit"]),
    ("funnels", {"length": "91"}, ["length"]),
    ("funnels", {"unit": "hour"}, ["unit"]),
    ("funnels", {"on": "properties[1]"}, ["on"]),
]


@pytest.mark.parametrize(
    "report, bad, words", BAD, ids=[f"{n}-{r}-{'-'.join(b)}" for n, (r, b, _) in enumerate(BAD)]
)
def test_a_bad_parameter_is_a_400_naming_it(
    server: LiveServer, report: str, bad: dict[str, str], words: list[str]
) -> None:
    params = {**valid_params(report, uid("Bad")), **bad}
    assert_api_error(call(server, "simplified", f"/api/2.0/{report}", params=params), 400, *words)


def test_a_bad_json_body_is_a_400(server: LiveServer) -> None:
    path = "/api/query/funnels"
    for body, words in (
        (b"{not json", ["JSON"]),
        (b"[1, 2]", ["object"]),
        (json.dumps({"steps": "x", **RANGE}).encode(), ["steps"]),
        (json.dumps({"steps": [{"event": "a", "color": 1}, "b"], **RANGE}).encode(), ["color"]),
        (json.dumps({"steps": ["a", "b"], "length": 1.5, **RANGE}).encode(), ["length"]),
        (json.dumps({"steps": ["a", "b"], "on": ["x"], **RANGE}).encode(), ["on"]),
        (json.dumps({"steps": ["a", "b"], "from_date": 20240603, "to_date": DAY_2}).encode(),
         ["from_date"]),
    ):  # fmt: skip
        answer = call(server, "simplified", path, "POST", content=body,
                      headers={"Content-Type": "application/json"})  # fmt: skip
        assert_api_error(answer, 400, *words)


GARBAGE = ("", "x", "-1", "0", "1e3", "99999999999999999999", "[", '"', "properties[", "null",
           '["a"]', "{}", "2024-02-30", "\u00e9\u0000")  # fmt: skip


@pytest.mark.parametrize("report", REPORTS)
def test_no_value_of_a_documented_parameter_is_a_500(server: LiveServer, report: str) -> None:
    """Every parameter the OpenAPI document lists, given each of a set of bad values:
    a 200 or a 400 in the API's error shape, never a 500."""
    name = uid("Fuzzed")
    send(server, "original", [event(name, 10, distinct_id=uid("u"), n=3)])
    operation = document()["paths"][f"/api/2.0/{report}"]["get"]
    documented = [p["name"] for p in operation["parameters"] if p["name"] != "project_id"]
    assert documented or report == "funnels/list"
    for parameter in documented:
        for value in GARBAGE:
            params = {**valid_params(report, name), parameter: value}
            answer = call(server, "original", f"/api/2.0/{report}", params=params)
            where = f"{report} {parameter}={value!r}: {answer.text[:300]}"
            assert answer.status_code in (200, 400), where
            if answer.status_code == 400:
                assert_api_error(answer, 400, parameter)


@pytest.mark.parametrize(
    "schema, wrong",
    [
        (
            "SegmentationAnswer",
            {"data": {"series": [], "values": {"e": {"d": "1"}}}, "legend_size": 1},
        ),
        ("RetentionAnswer", {DAY_1: {"counts": [1.5], "first": 1}}),
        ("FunnelAnswer", {"meta": {"dates": []}, "data": {DAY_1: {"steps": []}}}),
        ("FunnelAnswer", {"meta": {"dates": []}, "data": {DAY_1: {"$overall": [{"count": 1}]}}}),
        ("SumAnswer", {"status": "ok", "results": {}}),
        ("SavedFunnel", {"funnel_id": 1, "name": "x"}),
    ],
)
def test_the_answer_schemas_hold_something(schema: str, wrong: Any) -> None:
    """What :func:`documented` checks against is not vacuous."""
    components = document()["components"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(wrong, {**components["schemas"][schema], "components": components})
