"""``idmerge replay``: a summary (or JSON) of what was written where, the recipe's
figures, and clear refusals (no source, a target with data, a held directory)."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from clirun import Run, holding, invoker, ok, one_line_error, one_project_dir
from idmerge.identity import Mode
from journeys import alias, device_id, identify, journeys, track

D1 = device_id(1)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return one_project_dir(tmp_path / "data", Mode.ORIGINAL)


@pytest.fixture
def run(data_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Run:
    invoke = invoker(data_dir, monkeypatch)
    events = journeys(
        Mode.ORIGINAL,
        {
            "ann": [
                track("2024-05-01 10:00", "Viewed", distinct_id=D1),
                identify("2024-05-01 10:05", D1, "ann"),
                alias("2024-05-01 10:07", "+65", "ann"),
                track("2024-05-01 10:08", "Called", distinct_id="+65"),
            ]
        },
    )
    path = tmp_path / "history.jsonl"
    lines = [{"event": e.name, "properties": dict(e.properties)} for e in events]
    for line in lines:  # as a server sends them: no $device_id
        line["properties"].pop("$device_id", None)
    path.write_bytes(b"".join(msgspec.json.encode(line) + b"\n" for line in lines))
    ok(invoke("import", str(path), "--project", "shop", "--quiet"))
    return invoke


def test_replay_prints_what_it_wrote_and_what_to_run_next(run: Run) -> None:
    result = ok(run("replay", "--project", "shop", "--mode", "simplified", "--quiet"))
    lines = result.stdout.splitlines()
    assert lines[0].startswith("replayed shop (original) under simplified into shop-simplified in ")
    rows = {" ".join(line.split()[:-1]): line.split()[-1] for line in lines[2:7]}
    assert rows == {
        "events": "4",
        "profile updates": "0",
        "identity events ignored": "2",
        "splits done again": "0",
        "saved funnels copied": "0",
    }
    assert lines[-1] == "what changed: idmerge compare shop shop-simplified"
    projects = ok(run("project", "list")).stdout
    assert "shop-simplified  simplified" in projects


def test_replay_json_with_the_recipe(run: Run) -> None:
    answer = json.loads(
        ok(
            run(
                "replay", "--project", "shop", "--mode", "simplified",
                "--into", "shop-v2", "--derive-simplified-ids", "--json",
            )
        ).stdout
    )  # fmt: skip
    assert answer["source"] == {"name": "shop", "mode": "original"}
    assert answer["target"] == {"name": "shop-v2", "mode": "simplified"}
    assert (answer["events"], answer["derived"]) == (4, 1)
    assert answer["identity_events"] == {"ignored": 2, "linked": 1}
    assert answer["derived_simplified_ids"] is True and answer["skipped_splits"] == []
    explained = json.loads(
        ok(run("explain", f"$device:{D1}", "--project", "shop-v2", "--json")).stdout
    )
    assert explained["resolved_distinct_id"] == "ann"


def test_replay_refusals(run: Run, data_dir: Path) -> None:
    one_line_error(
        run("replay", "--project", "nope", "--mode", "simplified"), "no project named 'nope'"
    )
    one_line_error(
        run("replay", "--project", "shop", "--mode", "legacy", "--into", "shop"),
        "--into must name another",
    )
    ok(run("replay", "--project", "shop", "--mode", "cdp", "--into", "full", "--quiet"))
    one_line_error(
        run("replay", "--project", "shop", "--mode", "cdp", "--into", "full"),
        "project 'full' already holds data",
    )
    one_line_error(
        run("replay", "--project", "shop", "--mode", "legacy", "--derive-simplified-ids"),
        "which only simplified and cdp read",
    )
    result = run("replay", "--project", "shop", "--mode", "magic")
    assert result.exit_code == 2 and "'magic' is not one of" in result.output
    with holding(data_dir):
        one_line_error(
            run("replay", "--project", "shop", "--mode", "simplified"),
            "normally the running server (`idmerge serve`): stop it first",
        )
