"""The console's reports page in Debian's headless Chromium, against the session's real
server: a funnel, retention and segmentation of a small data set sent through the real
``mixpanel`` SDK, run through the page's forms. The drawn numbers (funnel bars,
retention cells, segmentation points) are the API's answers and the counts the data
set makes, on resolved users: one visitor starts anonymously and converts only
because of a later login. The page is saved as ``build/console-screenshots/reports.png``
(and with an error and no data: ``reports-empty.png``).
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

import httpx
import pytest
from tests.sdk.support import DAY, guid, mixpanel_client, unique

from .console_page import SCREENSHOTS, run_report, sign_in
from .harness import Chromium, SdkPage
from live import LiveServer

MODE = "simplified"
HOUR = 3600


def utc_day(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).date().isoformat()


@pytest.fixture
def data_set(server: LiveServer) -> dict[str, Any]:
    """Four users on two days, three days ago (``day0``) and two days ago, all within
    what ``/track`` takes. Open -> Sign Up -> Buy is the funnel, Use the return event:

    - ann opens anonymously on a device, signs up there (the login that links the
      device) and buys; uses the app 24.5 h and 49 h after opening;
    - bob opens and signs up as himself, uses the app 4 h and 46 h after opening;
    - cat opens twice, and nothing else;
    - a visitor on another device opens on day 1 and uses the app an hour later.
    """
    names = {key: unique(key.title()) for key in ("open", "signup", "buy", "use")}
    today = int(time.time()) // DAY * DAY
    day0 = today - 3 * DAY
    ann, bob, cat = unique("ann"), unique("bob"), unique("cat")
    device, other = guid(), guid()
    records = [
        (f"$device:{device}", "open", 10 * HOUR, {"$device_id": device}),
        (ann, "signup", 10 * HOUR + 300, {"$device_id": device, "$user_id": ann}),
        (ann, "buy", 10 * HOUR + 600, {"$user_id": ann}),
        (ann, "use", DAY + 10 * HOUR + 1800, {"$user_id": ann}),
        (ann, "use", 2 * DAY + 11 * HOUR, {"$user_id": ann}),
        (bob, "open", 11 * HOUR, {"$user_id": bob}),
        (bob, "signup", 11 * HOUR + 1800, {"$user_id": bob}),
        (bob, "use", 15 * HOUR, {"$user_id": bob}),
        (bob, "use", 2 * DAY + 9 * HOUR, {"$user_id": bob}),
        (cat, "open", 12 * HOUR, {"$user_id": cat}),
        (cat, "open", 12 * HOUR + 1800, {"$user_id": cat}),
        (f"$device:{other}", "open", DAY + 9 * HOUR, {"$device_id": other}),
        (f"$device:{other}", "use", DAY + 10 * HOUR, {"$device_id": other}),
    ]
    client = mixpanel_client(server, MODE)
    for distinct_id, key, offset, properties in records:
        client.track(distinct_id, names[key], {**properties, "time": day0 + offset})
    return {**names, "day0": utc_day(day0), "day1": utc_day(day0 + DAY)}


def api_funnel(server: LiveServer, body: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(
        server.url + "/api/query/funnels", json=body, auth=(server.secret(MODE), ""), timeout=30
    )
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


def js(page: SdkPage, expression: str) -> Any:
    return page.evaluate(expression, timeout=5)


def wait_for_data(server: LiveServer, event: str, day0: str) -> None:
    """Until the server answers for every event sent (the last one sent is ``event``'s,
    the five of them up to yesterday)."""
    deadline = time.monotonic() + 15
    while True:
        answer = server.api(
            MODE, "/api/2.0/segmentation", event=event, from_date=day0, to_date=utc_day(time.time())
        )
        if sum(answer["data"]["values"].get(event, {}).values()) == 5:
            return
        assert time.monotonic() < deadline, answer
        time.sleep(0.1)


def test_reports_page(chromium: Chromium, server: LiveServer, data_set: dict[str, Any]) -> None:
    names, day0, day1 = data_set, data_set["day0"], data_set["day1"]
    wait_for_data(server, names["use"], day0)
    with chromium.page(server.url + "/#/reports") as page:
        sign_in(page, server.secret(MODE), "#/reports")
        today = time.time()
        dates = js(page, "[...document.querySelectorAll('#report-range input')].map(i => i.value)")
        assert dates == [utc_day(today - 29 * DAY), utc_day(today)]
        window = {"from_date": dates[0], "to_date": dates[1]}
        suggested = js(
            page, "[...document.querySelectorAll('#event-names option')].map(o => o.value)"
        )
        assert suggested == server.api(MODE, "/api/2.0/events/names", type="general", limit=255)

        # the funnel: 2 to 20 steps, added and removed with the buttons
        removable = "[...document.querySelectorAll('#funnel-steps .remove')].map(b => !b.disabled)"
        assert js(page, removable) == [False, False]
        js(page, "document.getElementById('funnel-add').click();" * 2)
        assert js(page, removable) == [True] * 4
        js(page, "document.querySelector('#funnel-steps li:last-child .remove').click()")
        steps = [names["open"], names["signup"], names["buy"]]
        run_report(page, "funnel", {"length": "91", "length_unit": "day"}, steps)
        error = js(page, "document.querySelector('#funnel-result [role=alert]').textContent")
        assert error == "length must be more than 0 and at most 90 days"
        run_report(page, "funnel", {"length": "7"}, steps)
        bars = js(
            page,
            "[...document.querySelectorAll('#funnel-chart .bar')].map(b =>"
            " [b.dataset.step, b.dataset.event, Number(b.dataset.count)])",
        )
        answer = api_funnel(
            server,
            {"steps": [{"event": s} for s in steps], **window, "length": 7, "unit": "day"},
        )
        summed = [
            sum(answer["data"][date]["steps"][k]["count"] for date in answer["meta"]["dates"])
            for k in range(3)
        ]
        # ann's anonymous Open counts as hers: without the login, Sign Up would be 1, Buy 0
        assert [count for _, _, count in bars] == summed == [4, 2, 1]
        assert [(step, event) for step, event, _ in bars] == [
            ("1", steps[0]),
            ("2", steps[1]),
            ("3", steps[2]),
        ]
        rates = js(
            page, "[...document.querySelectorAll('#funnel-chart .rate')].map(t => t.textContent)"
        )
        assert rates[1:] == ["50% of first · 50% of previous", "25% of first · 50% of previous"]

        # retention: born Open, back with Use; cells after today stay blank
        run_report(page, "retention", {"born_event": names["open"], "event": names["use"]})
        cohorts = js(
            page,
            "[...document.querySelectorAll('#retention-table tbody tr')].map(r =>"
            " [r.dataset.cohort, Number(r.dataset.first),"
            " [...r.querySelectorAll('td[data-bucket]')].map(c => [Number(c.dataset.count),"
            " c.classList.contains('future') ? null : c.firstChild.textContent])])",
        )
        answer = server.api(
            MODE,
            "/api/2.0/retention",
            **window,
            born_event=names["open"],
            event=names["use"],
            unit="day",
            interval_count=7,
            retention_type="birth",
        )
        drawn = {label: (first, [n for n, _ in cells]) for label, first, cells in cohorts}
        assert drawn == {
            label: (cohort["first"], cohort["counts"])
            for label, cohort in answer.items()
            if cohort["first"]
        }
        assert drawn == {day0: (3, [1, 2, 1, 0, 0, 0, 0, 0]), day1: (1, [1, 0, 0, 0, 0, 0, 0, 0])}
        shares = {label: [share for _, share in cells] for label, _, cells in cohorts}
        assert shares[day0] == ["33.3%", "66.7%", "33.3%", "0%", None, None, None, None]
        assert shares[day1] == ["100%", "0%", "0%", None, None, None, None, None]

        # segmentation: Open per day, as events then as users
        points = (
            "[...document.querySelectorAll('#segmentation-chart circle.point')].map(c =>"
            " [c.dataset.key, c.dataset.label, Number(c.dataset.value)])"
        )
        for kind, expected in (("general", {day0: 4, day1: 1}), ("unique", {day0: 3, day1: 1})):
            run_report(page, "segmentation", {"event": names["open"], "type": kind, "unit": "day"})
            answer = server.api(
                MODE, "/api/2.0/segmentation", event=names["open"], type=kind, unit="day", **window
            )["data"]
            drawn = js(page, points)
            assert drawn == [
                [names["open"], label, answer["values"][names["open"]].get(label, 0)]
                for label in answer["series"]
            ]
            assert {label: n for _, label, n in drawn if n} == expected
            polyline = js(
                page,
                "(p => [p.dataset.key, p.getAttribute('points').split(' ').length])"
                "(document.querySelector('#segmentation-chart polyline'))",
            )
            assert polyline == [names["open"], len(answer["series"])]
        page.screenshot(SCREENSHOTS / "reports.png")

        # what a panel shows for an error and for no data
        run_report(page, "funnel", {"length": "91"})
        run_report(page, "retention", {"born_event": unique("Nothing")})
        run_report(page, "segmentation", {"event": unique("Nothing")})
        shown = js(
            page,
            "['#funnel-result [role=alert]', '#retention-result .empty',"
            " '#segmentation-result .empty'].map(s => document.querySelector(s).textContent)",
        )
        assert shown == [
            "length must be more than 0 and at most 90 days",
            "No one did the born event for the first time in this range.",
            "No such event in this range.",
        ]
        page.screenshot(SCREENSHOTS / "reports-empty.png")
