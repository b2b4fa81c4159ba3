"""The web console in Debian's headless Chromium, against the session's real server:
a person made through the real ``mixpanel`` SDK is found by any of their ids, with the
graph's nodes and edges (a refused login drawn apart), profile and timeline; the
warnings page filters by reason and links to the person. Every page is saved as a
screenshot under ``build/console-screenshots/`` (the README names it)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from tests.sdk.support import guid, mixpanel_client, unique

from .console_page import SCREENSHOTS, go, run_report, sign_in
from .harness import Chromium, SdkPage
from live import LiveServer

MODE = "simplified"


def graph(page: SdkPage) -> dict[str, Any]:
    return page.evaluate(
        "({nodes: [...document.querySelectorAll('#graph .node')].map(n =>"
        " [n.dataset.id, n.getAttribute('class')]),"
        " edges: [...document.querySelectorAll('#graph .edge')].map(e =>"
        " [JSON.parse(e.dataset.ids), e.dataset.outcome, e.querySelector('title').textContent])})",
        timeout=5,
    )


@pytest.fixture
def person(server: LiveServer) -> dict[str, str]:
    """A visitor on one device who logs in and buys, then a second user logging in on
    the same device (refused: a device belongs to one user), sent by the real Python
    SDK; event names of the test's own, so that reports count only them."""
    device, first, second = guid(), unique("ann"), unique("bob")
    opened, login, bought = unique("App Open"), unique("Log In"), unique("Purchase")
    client = mixpanel_client(server, MODE)
    start = int(time.time()) - 3600  # /track takes recent events only
    anonymous = f"$device:{device}"
    client.track(anonymous, opened, {"$device_id": device, "time": start, "plan": "free"})
    client.track(first, login, {"$device_id": device, "$user_id": first, "time": start + 60})
    client.track(first, bought, {"$user_id": first, "time": start + 120, "price": 9})
    client.track(second, login, {"$device_id": device, "$user_id": second, "time": start + 180})
    client.people_set(first, {"$name": "Ann", "plan": "pro"})
    return {"device": device, "anonymous": anonymous, "first": first, "second": second,
            "opened": opened, "login": login, "bought": bought}  # fmt: skip


def test_person_page_and_warnings(
    chromium: Chromium, server: LiveServer, person: dict[str, str]
) -> None:
    with chromium.page(server.url + "/") as page:
        assert page.evaluate("!!document.getElementById('secret-form')", timeout=5)
        page.screenshot(SCREENSHOTS / "secret.png")
        sign_in(page, server.secret(MODE))

        go(page, "#/person?id=" + person["anonymous"])
        shown = graph(page)
        assert (
            page.evaluate("document.getElementById('resolved-id').textContent", timeout=5)
            == (person["first"])
        )
        nodes = dict(shown["nodes"])
        assert nodes[person["first"]] == "node resolved"
        assert nodes[person["anonymous"]] == "node"
        assert nodes[person["second"]] == "node apart refused"  # drawn apart
        outcomes = {(frozenset(ids), outcome) for ids, outcome, _ in shown["edges"]}
        assert (frozenset([person["anonymous"], person["first"]]), "linked") in outcomes
        refused = [e for e in shown["edges"] if e[1] == "refused"]
        assert [set(ids) for ids, _, _ in refused] == [{person["anonymous"], person["second"]}]
        assert person["login"] in refused[0][2] and "refused: " in refused[0][2]
        timeline = page.evaluate(
            "[...document.querySelectorAll('#timeline tbody tr')].map(r =>"
            " [...r.cells].map(c => c.textContent))",
            timeout=5,
        )
        assert [row[1:] for row in timeline] == [
            [person["opened"], person["anonymous"], person["first"]],
            [person["login"], person["first"], person["first"]],
            [person["bought"], person["first"], person["first"]],
        ]
        profile = page.evaluate("document.querySelector('.columns').textContent", timeout=5)
        assert '"Ann"' in profile and '"pro"' in profile
        page.screenshot(SCREENSHOTS / "person.png")

        go(page, "#/person?id=" + person["second"])  # the refused one is a person of their own
        assert dict(graph(page)["nodes"])[person["second"]] == "node resolved"

        reason = refused[0][2].split("refused: ")[1].split(" · ")[0]
        go(page, "#/warnings?reason=" + reason)
        rows = page.evaluate(
            "[...document.querySelectorAll('main tbody tr')].map(r =>"
            " [r.cells[2].textContent, r.cells[4].textContent])",
            timeout=5,
        )
        assert rows and all(found == reason for found, _ in rows)
        assert any(person["device"] in ids or person["second"] in ids for _, ids in rows)
        page.screenshot(SCREENSHOTS / "warnings.png")


def test_a_wrong_secret_asks_again(chromium: Chromium, server: LiveServer) -> None:
    with chromium.page(server.url + "/#/warnings") as page:
        sign_in(page, "not-the-secret", "#/warnings")
        assert page.evaluate("!!document.getElementById('secret-form')", timeout=5)
        alert = page.evaluate("document.querySelector('[role=alert]').textContent", timeout=5)
        assert alert.startswith("The secret was refused: the secret matches no project")
        assert page.evaluate("sessionStorage.getItem('idmerge.secret')", timeout=5) is None


def test_split_previews_then_undoes_a_link_and_reattributes(
    chromium: Chromium, server: LiveServer, person: dict[str, str]
) -> None:
    with chromium.page(server.url + "/") as page:
        sign_in(page, server.secret(MODE))
        assert funnel_counts(page, person) == [1, 1]  # the anonymous open, then ann's buy
        go(page, "#/person?id=" + person["first"])
        link = page.evaluate("document.querySelector('button.split').dataset.seq", timeout=5)
        page.evaluate("document.querySelector('button.split').click()", timeout=5)
        deadline = time.monotonic() + 10
        while page.evaluate("document.getElementById('split-panel').dataset.ready", timeout=5) != (
            link
        ):
            assert time.monotonic() < deadline, page.console_tail()
            time.sleep(0.05)
        preview = page.evaluate("document.getElementById('split-preview').textContent", timeout=5)
        moving = sorted([person["anonymous"], person["first"]])
        assert preview.startswith("1 id and 1 event would change person")
        assert any(x in preview for x in moving)
        page.screenshot(SCREENSHOTS / "person-split-preview.png")
        assert dict(graph(page)["nodes"])[person["anonymous"]] == "node"  # nothing moved yet

        page.evaluate("document.getElementById('split-confirm').click()", timeout=5)
        deadline = time.monotonic() + 10
        while not page.evaluate("!!document.getElementById('split-done')", timeout=5):
            assert time.monotonic() < deadline, page.console_tail()
            time.sleep(0.05)
        shown = graph(page)
        nodes = dict(shown["nodes"])
        assert "apart" in nodes[person["anonymous"]]  # no longer ann's
        classes = page.evaluate(
            "[...document.querySelectorAll('#graph .edge')].map(e => e.getAttribute('class'))",
            timeout=5,
        )
        assert "edge" not in classes  # no link holds any more
        assert "edge split" in classes
        timeline = page.evaluate(
            "[...document.querySelectorAll('#timeline tbody tr')].map(r => r.cells[1].textContent)",
            timeout=5,
        )
        assert timeline == [person["login"], person["bought"]]  # the anonymous open moved away
        # Rebuilt without ann's login, the log lets bob's login on the device through
        # (it was refused only because the device was ann's): the device is bob's now.
        go(page, "#/person?id=" + person["anonymous"])
        resolved = page.evaluate("document.getElementById('resolved-id').textContent", timeout=5)
        assert resolved == person["second"]
        page.screenshot(SCREENSHOTS / "person-after-split.png")
        assert funnel_counts(page, person) == [1, 0]  # the open is bob's now: no purchase


def funnel_counts(page: SdkPage, person: dict[str, str]) -> list[int]:
    """The reports page's funnel from the person's open to their purchase, as drawn."""
    go(page, "#/reports")
    run_report(page, "funnel", {}, steps=[person["opened"], person["bought"]])
    counts: list[int] = page.evaluate(
        "[...document.querySelectorAll('#funnel-chart .bar')].map(b => +b.dataset.count)",
        timeout=5,
    )
    return counts
