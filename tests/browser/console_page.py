"""Driving the web console in a :class:`~.harness.SdkPage`: sign in with the secret,
go to a page and wait until it has rendered. Screenshots go to :data:`SCREENSHOTS`
(the README names the folder)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from .harness import SdkPage

SCREENSHOTS = Path(__file__).parents[2] / "build" / "console-screenshots"


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


def run_report(
    page: SdkPage, panel: str, fields: dict[str, str], steps: list[str] | None = None
) -> None:
    """Fill ``panel``'s form (by control name; ``steps`` in order), press Run and wait
    until the panel has drawn the answer (it sets ``data-ready`` then). Controls are
    found by selector: ``form.elements.length`` is the count, not the control."""
    page.evaluate(
        f"(() => {{ const form = document.getElementById('{panel}-form');"
        f" for (const [name, value] of Object.entries({json.dumps(fields)}))"
        " form.querySelector(`[name=${name}]`).value = value;"
        f" {json.dumps(steps or [])}.forEach((value, i) =>"
        " form.querySelectorAll('#funnel-steps input')[i].value = value);"
        " form.querySelector('button[type=submit]').click(); })()",
        timeout=5,
    )
    deadline = time.monotonic() + 15
    while page.evaluate(f"document.getElementById('{panel}').dataset.ready", timeout=5) is None:
        assert time.monotonic() < deadline, f"{panel} never drew{page.console_tail()}"
        time.sleep(0.05)
