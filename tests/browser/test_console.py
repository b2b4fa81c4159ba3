"""The web console in Debian's headless Chromium, against the session's real server:
a person made through the real ``mixpanel`` SDK is found by any of their ids, with the
graph's nodes and edges (a refused login drawn apart), profile and timeline; the
warnings page filters by reason and links to the person. Every page is saved as a
screenshot under ``build/console-screenshots/`` (the README names it)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from tests.sdk.support import guid, mixpanel_client, unique

from .harness import Chromium, SdkPage
from live import LiveServer

SCREENSHOTS = Path(__file__).parents[2] / "build" / "console-screenshots"
MODE = "simplified"


def wait_for(page: SdkPage, hash_: str, timeout: float = 15.0) -> None:
    """Until the console has rendered ``hash_`` (it marks ``body[data-ready]``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if page.evaluate("document.body.dataset.ready", timeout=5) == hash_:
            return
        time.sleep(0.05)
    raise AssertionError(f"the console never rendered {hash_}{page.console_tail()}")


def go(page: SdkPage, hash_: str) -> None:
    page.evaluate(f"location.hash = {json.dumps(hash_)}", timeout=5)
    wait_for(page, hash_)


def sign_in(page: SdkPage, secret: str, hash_: str = "") -> None:
    page.evaluate(
        "(() => { const form = document.getElementById('secret-form');"
        f" form.secret.value = {json.dumps(secret)}; form.requestSubmit(); }})()",
        timeout=5,
    )
    wait_for(page, hash_)


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
    """A visitor on one device who logs in, then a second user logging in on the same
    device (refused: a device belongs to one user), sent by the real Python SDK."""
    device, first, second = guid(), unique("ann"), unique("bob")
    client = mixpanel_client(server, MODE)
    start = int(time.time()) - 3600  # /track takes recent events only
    anonymous = f"$device:{device}"
    client.track(anonymous, "App Open", {"$device_id": device, "time": start, "plan": "free"})
    client.track(first, "Log In", {"$device_id": device, "$user_id": first, "time": start + 60})
    client.track(first, "Purchase", {"$user_id": first, "time": start + 120, "price": 9})
    client.track(second, "Log In", {"$device_id": device, "$user_id": second, "time": start + 180})
    client.people_set(first, {"$name": "Ann", "plan": "pro"})
    return {"device": device, "anonymous": anonymous, "first": first, "second": second}


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
        assert nodes[person["second"]] == "node refused"  # drawn apart
        outcomes = {(frozenset(ids), outcome) for ids, outcome, _ in shown["edges"]}
        assert (frozenset([person["anonymous"], person["first"]]), "linked") in outcomes
        refused = [e for e in shown["edges"] if e[1] == "refused"]
        assert [set(ids) for ids, _, _ in refused] == [{person["anonymous"], person["second"]}]
        assert "Log In" in refused[0][2] and "refused: " in refused[0][2]
        timeline = page.evaluate(
            "[...document.querySelectorAll('#timeline tbody tr')].map(r =>"
            " [...r.cells].map(c => c.textContent))",
            timeout=5,
        )
        assert [row[1:] for row in timeline] == [
            ["App Open", person["anonymous"], person["first"]],
            ["Log In", person["first"], person["first"]],
            ["Purchase", person["first"], person["first"]],
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
