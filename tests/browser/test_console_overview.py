"""The console's overview page in Debian's headless Chromium, against the session's
real server: two weeks of visitors who log in (and some refused logins), imported
through the real ``mixpanel`` SDK with a service account, are drawn as the API
counts them: events and people per day, merges per day, the totals, and the
refusals by reason, each linking to its warnings. The page is saved as
``build/console-screenshots/overview.png``."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from mixpanel import ServiceAccountCredentials
from tests.sdk.support import guid, mixpanel_client, mixpanel_consumer, unique

from .console_page import SCREENSHOTS, go, sign_in
from .harness import Chromium, SdkPage
from live import LiveServer

MODE = "simplified"
#: days no other test sends events on (the session's server is shared)
FIRST = dt.date(2010, 7, 5)
VISITORS = (3, 5, 4, 6, 8, 7, 2, 3, 6, 9, 7, 5, 4, 6)
LAST = FIRST + dt.timedelta(days=len(VISITORS) - 1)
RANGE = f"from_date={FIRST}&to_date={LAST}"


@pytest.fixture
def two_weeks(server: LiveServer) -> None:
    """Each day's visitors open the app on a device of their own and look at a page;
    two in three then log in (a link). Every fourth day someone logs in on a device
    that already belongs to another user, and every fifth day on the device
    "undefined": refused."""
    project_id = str(server.projects[MODE]["id"])
    credentials = ServiceAccountCredentials("svc-overview", server.secret(MODE), project_id)
    client = mixpanel_client(server, MODE, mixpanel_consumer(server, credentials))

    def send(distinct_id: str, name: str, at: int, **properties: Any) -> None:
        client.import_data(None, distinct_id, name, at, properties)

    for day, visitors in enumerate(VISITORS):
        start = int(dt.datetime.combine(FIRST, dt.time(8), dt.UTC).timestamp()) + day * 86_400
        owned = None
        for n in range(visitors):
            device, at = guid(), start + n * 600
            anonymous = f"$device:{device}"
            send(anonymous, "App Open", at, **{"$device_id": device})
            send(anonymous, "View Page", at + 30, **{"$device_id": device})
            if n % 3 != 2:
                user = unique("user")
                send(user, "Log In", at + 60, **{"$device_id": device, "$user_id": user})
                owned = device
        if day % 4 == 1 and owned is not None:
            other = unique("other")
            send(other, "Log In", start + 5000, **{"$device_id": owned, "$user_id": other})
        if day % 5 == 2:
            user = unique("junk")
            send(user, "Log In", start + 6000, **{"$device_id": "undefined", "$user_id": user})


def drawn(page: SdkPage) -> dict[str, Any]:
    """What the page shows, read from its elements' data attributes."""
    shown: dict[str, Any] = page.evaluate(
        "(() => { const points = (s) => [...document.querySelectorAll(s)]"
        ".map(p => [p.dataset.day, Number(p.dataset.value)]);"
        " return {"
        " events: points('#overview-events [data-series=events] circle'),"
        " people: points('#overview-events [data-series=people] circle'),"
        " merges: points('#overview-merges rect.bar'),"
        " lines: [...document.querySelectorAll('#overview-events polyline')].map(l =>"
        " l.getAttribute('points').split(' ').length),"
        " totals: Object.fromEntries([...document.querySelectorAll('#overview-totals .stat')]"
        ".map(s => [s.dataset.count, Number(s.dataset.value)])),"
        " shown: Object.fromEntries([...document.querySelectorAll('#overview-totals .stat')]"
        ".map(s => [s.dataset.count, s.querySelector('strong').textContent])),"
        " reasons: [...document.querySelectorAll('#refused-reasons tr[data-reason]')].map(r =>"
        " [r.dataset.reason, Number(r.dataset.count), r.querySelector('a').getAttribute('href')]),"
        " range: [...document.querySelectorAll('#overview-range input')].map(i => i.value),"
        "}; })()",
        timeout=5,
    )
    return shown


def test_overview_draws_what_the_api_counts(
    chromium: Chromium, server: LiveServer, two_weeks: None
) -> None:
    answer = server.api(MODE, "/api/overview", from_date=str(FIRST), to_date=str(LAST))
    series = {k: [[d["day"], d[k]] for d in answer["days"]] for k in ("events", "people", "merges")}
    assert len(answer["days"]) == len(VISITORS)
    assert [d["events"] for d in answer["days"]][:2] == [
        8,
        15,
    ]  # 2 or 3 per visitor, a refused login
    assert answer["refused_by_reason"] == {"errAnonDistinctIdAssignedAlready": 4, "errJunkId": 3}

    with chromium.page(server.url + "/") as page:
        sign_in(page, server.secret(MODE))
        go(page, "#/overview?" + RANGE)
        shown = drawn(page)

        assert shown["range"] == [str(FIRST), str(LAST)]
        for key in ("events", "people", "merges"):
            assert shown[key] == series[key], key
        assert shown["lines"] == [len(VISITORS), len(VISITORS)]
        assert shown["totals"] == answer["totals"]
        assert shown["shown"]["events"] == f"{answer['totals']['events']:,}"
        assert shown["reasons"] == [
            [reason, n, f"#/warnings?reason={reason}"]
            for reason, n in answer["refused_by_reason"].items()
        ]
        page.screenshot(SCREENSHOTS / "overview.png")

        # a reason leads to its warnings
        page.evaluate(
            "document.querySelector('#refused-reasons a[href$=errJunkId]').click()", timeout=5
        )
        go(page, "#/warnings?reason=errJunkId")
        reasons = page.evaluate(
            "[...document.querySelectorAll('main tbody tr')].map(r => r.cells[2].textContent)",
            timeout=5,
        )
        assert reasons and set(reasons) == {"errJunkId"}

        # without dates: the API's default range, in the form
        go(page, "#/overview")
        default = server.api(MODE, "/api/overview")
        assert drawn(page)["range"] == [default["from_date"], default["to_date"]]


def test_a_range_without_refusals_says_so(chromium: Chromium, server: LiveServer) -> None:
    with chromium.page(server.url + "/") as page:
        sign_in(page, server.secret(MODE))
        go(page, "#/overview?from_date=1999-01-01&to_date=1999-01-03")
        shown = drawn(page)
        assert shown["events"] == [["1999-01-01", 0], ["1999-01-02", 0], ["1999-01-03", 0]]
        assert shown["reasons"] == []
        assert page.evaluate("!!document.getElementById('no-refusals')", timeout=5)


def test_a_bad_range_is_shown_as_the_api_words_it(chromium: Chromium, server: LiveServer) -> None:
    with chromium.page(server.url + "/") as page:
        sign_in(page, server.secret(MODE))
        go(page, "#/overview?from_date=2010-07-09&to_date=2010-07-01")
        alert = page.evaluate("document.querySelector('[role=alert]').textContent", timeout=5)
        assert alert == "to_date (2010-07-01) is before from_date (2010-07-09)"
